import { fileURLToPath } from "node:url";
import { freePort, startNats, type NatsServerHandle } from "@calcbridge/testing";
import { ClientPool, type OpenResult } from "../client/pool.js";
import type { ScenarioName } from "../options.js";
import { PublisherHandle } from "../publisher/handle.js";
import type { PublisherSetup } from "../publisher/messages.js";
import { seriesId, type BenchContext, type Format, type SeriesReport } from "./context.js";
import { DEFAULT_CRITERIA, runSteps } from "./stepper.js";
import {
  TENANT,
  clientPlan,
  startServers,
  type RunningServers,
  type ServerKind,
} from "./targets.js";

const SELF_CHECK = fileURLToPath(new URL("../servers/self-check.js", import.meta.url));

/** Token lifetime: longer than any run. */
const TOKEN_TTL_SEC = 6 * 3600;

export interface SeriesSpec {
  scenario: ScenarioName;
  server: ServerKind | "self-check";
  format: Format;
  nodes: number;
  clients: number;
  /** One user (and token subject) per client: the rooms scenario. */
  perUser: boolean;
  rates: readonly number[];
  /** Deliveries one event should make. */
  perEvent: number;
  /** How events reach the servers (ignored for the self-check, whose server publishes). */
  publisher: Omit<PublisherSetup, "frameBytes">;
  /** Extra server settings (except subject, Socket.IO room policy). */
  serverExtras?: {
    rooms?: "job" | "user";
    exceptSubject?: string;
    relaySubject?: string;
    edgeHistory?: "off" | "jetstream";
  };
  /** Tells apart series of the same server (e.g. `history`): part of the id. */
  variant?: string;
  /**
   * Run on a NATS server of its own with JetStream, stopped after the series:
   * the streams the edge's history creates must not tax the series after it.
   */
  ownJetStream?: boolean;
  label: string;
}

/**
 * One series: start the servers, open the clients, start the publisher,
 * step the rate up, and end every process it started, whatever happened.
 */
export async function runSeries(ctx: BenchContext, spec: SeriesSpec): Promise<SeriesReport> {
  const { options, progress } = ctx;
  const id = seriesId(spec.scenario, spec.server, spec.format, spec.nodes, spec.variant);
  progress.line(
    `-- ${spec.label}: ${spec.clients} clients, ${spec.nodes} node${spec.nodes > 1 ? "s" : ""}`,
  );
  let servers: RunningServers | undefined;
  let pool: ClientPool | undefined;
  let driver: PublisherHandle | undefined;
  let setup: OpenResult | undefined;
  let ownNats: NatsServerHandle | undefined;
  const base: SeriesReport = {
    id,
    scenario: spec.scenario,
    server: spec.server,
    format: spec.format,
    nodes: spec.nodes,
    label: spec.label,
    clients: spec.clients,
    steps: [],
    maxSustained: 0,
    sustainedStep: undefined,
    peak: 0,
    limitedBy: "did not run",
    setup: undefined,
  };
  try {
    if (spec.ownJetStream) {
      ownNats = await startNats({ name: "calcbridge-bench-jetstream", jetstream: true });
      spec = { ...spec, publisher: { ...spec.publisher, natsUrl: ownNats.url } };
    }
    const natsUrl = ownNats?.url ?? ctx.nats.url;
    let ports: number[];
    let serverPids: number[];
    if (spec.server === "self-check") {
      const port = await freePort();
      driver = await PublisherHandle.start(
        { ...spec.publisher, frameBytes: options.frameBytes },
        SELF_CHECK,
        {
          PORT: String(port),
        },
      );
      ports = [port];
      serverPids = [driver.pid];
    } else {
      servers = await startServers(spec.server, spec.nodes, {
        procs: ctx.procs,
        natsUrl,
        ...(ctx.redis === undefined ? {} : { redisUrl: ctx.redis.url }),
        secret: ctx.secret,
        ...spec.serverExtras,
      });
      ports = servers.ports;
      serverPids = servers.pids;
    }
    pool = ClientPool.start(Math.min(options.workers, spec.clients), {
      BENCH_SAMPLE_EVERY: String(options.sampleEvery),
    });
    const plan = clientPlan(spec.server, spec.format === "raw" ? "raw" : "socketio", spec.perUser);
    setup = await pool.open({
      targets: ports.map((port) => ({ host: "127.0.0.1", port })),
      mode: plan.mode,
      count: spec.clients,
      path: plan.path,
      rooms: plan.rooms,
      auth: { secret: ctx.secret, tenant: TENANT, user: plan.user, ttlSec: TOKEN_TTL_SEC },
      concurrency: options.concurrency,
      timeoutMs: 60_000,
    });
    progress.line(
      `   ${setup.ready}/${spec.clients} connected in ${(setup.ms / 1000).toFixed(2)} s (${Math.round(setup.perSecond)}/s)` +
        (setup.failed > 0 ? `; ${setup.failed} failed: ${setup.failures[0] ?? ""}` : ""),
    );
    if (setup.ready < spec.clients) {
      throw new Error(
        `only ${setup.ready} of ${spec.clients} clients connected: ${setup.failures.join("; ")}`,
      );
    }
    driver ??= await PublisherHandle.start({ ...spec.publisher, frameBytes: options.frameBytes });
    const result = await runSteps(
      {
        label: spec.label,
        serverPids,
        busPids: busPids(ctx, spec, ownNats?.pid ?? ctx.nats.pid),
        clients: spec.clients,
        perEvent: spec.perEvent,
        driver,
        pool,
        workers: Math.min(options.workers, spec.clients),
      },
      spec.rates,
      { warmupMs: options.warmupMs, windowMs: options.windowMs, drainMs: options.drainMs },
      DEFAULT_CRITERIA,
      progress,
      ctx.machine.cores,
    );
    return {
      ...base,
      ...result,
      setup,
      ...(servers?.launcher === undefined ? {} : { launcher: servers.launcher }),
    };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    progress.line(`   ERROR: ${message}`);
    return { ...base, setup, error: message };
  } finally {
    await pool?.stop();
    await driver?.stop();
    await servers?.stop();
    await ownNats?.stop();
  }
}

/** The bus processes a series loads: NATS for our publishers, Redis for the Socket.IO adapter. */
function busPids(ctx: BenchContext, spec: SeriesSpec, natsPid: number): number[] {
  if (spec.server === "self-check") return [];
  const pids: number[] = [];
  if (spec.publisher.mode !== "redis-emitter") pids.push(natsPid);
  if ((spec.server === "sio-ws" || spec.server === "sio-uws") && ctx.redis !== undefined)
    pids.push(ctx.redis.child.pid);
  return pids;
}
