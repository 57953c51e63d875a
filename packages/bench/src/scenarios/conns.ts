import { setTimeout as delay } from "node:timers/promises";
import { ClientPool, type OpenResult } from "../client/pool.js";
import { busyCores, machineCpu } from "../infra/cpu.js";
import { collectGarbage } from "../infra/inspector.js";
import { sampleProc } from "../infra/proc.js";
import type { BenchContext, ConnsReport } from "./context.js";
import {
  TENANT,
  clientPlan,
  startServers,
  type RunningServers,
  type ServerKind,
} from "./targets.js";

/** Quiet time before the baseline RSS is read, ms. */
const WARM_MS = 2000;

/**
 * Idle authenticated Socket.IO connections: how fast they are set up (each
 * CONNECT carries its own HS256 JWT, one user per connection, verified by the
 * server) and what each costs in server RSS. Every server runs with an
 * inspector on loopback; RSS is read after a full GC through it, before the
 * connections and after them (and the settle period), so the figure counts
 * what the connections keep, not garbage nobody collected yet. The RSS
 * before that GC is reported too.
 */
export async function connsScenario(ctx: BenchContext): Promise<ConnsReport[]> {
  const kinds: ServerKind[] = [
    "edge",
    ...(ctx.options.baselines ? (["sio-uws", "sio-ws"] as const) : []),
  ];
  const out: ConnsReport[] = [];
  for (const kind of kinds) out.push(await connsOf(ctx, kind));
  return out;
}

/**
 * Generator workers for conns: the server under test runs on one thread, so
 * the generator takes the other cores, never more workers than that (a third
 * busy process on two cores only adds context switches to the setup time).
 */
export function connsWorkers(workers: number, cores: number): number {
  return Math.max(1, Math.min(workers, cores - 1));
}

async function connsOf(ctx: BenchContext, kind: ServerKind): Promise<ConnsReport> {
  const { options, progress } = ctx;
  const clients = options.connsClients;
  progress.line(`-- conns · ${kind}: ${clients} idle authenticated Socket.IO connections`);
  const report: ConnsReport = {
    id: `conns/${kind}/socketio/1`,
    server: kind,
    clients,
    workers: connsWorkers(options.workers, ctx.machine.cores),
    setup: undefined,
    rssBeforeBytes: 0,
    rssAfterBytes: 0,
    rssAfterNoGcBytes: 0,
    perConnectionBytes: 0,
    perConnectionNoGcBytes: 0,
    settleMs: options.settleMs,
    serverCpuUsPerConnection: 0,
    generatorCpuUsPerConnection: 0,
    machineCpuDuringSetup: 0,
  };
  let servers: RunningServers | undefined;
  let pool: ClientPool | undefined;
  try {
    servers = await startServers(kind, 1, {
      procs: ctx.procs,
      natsUrl: ctx.nats.url,
      ...(ctx.redis === undefined ? {} : { redisUrl: ctx.redis.url }),
      secret: ctx.secret,
      rooms: "job",
      inspect: true,
    });
    if (servers.launcher !== undefined) report.launcher = servers.launcher;
    const pid = servers.pids[0]!;
    pool = ClientPool.start(report.workers);
    await delay(WARM_MS);
    const inspector = servers.children[0]?.inspector;
    if (inspector === undefined) throw new Error("the server did not open its inspector");
    await collectGarbage(inspector);
    report.rssBeforeBytes = sampleProc(pid)?.rssBytes ?? 0;
    const plan = clientPlan(kind, "socketio", true);
    // Read once every worker has signed its tokens, as the clients start.
    let srv0 = 0;
    let m0 = machineCpu();
    const started = () => {
      srv0 = sampleProc(pid)?.cpuSec ?? 0;
      m0 = machineCpu();
    };
    const setup: OpenResult = await pool.open(
      {
        targets: [{ host: "127.0.0.1", port: servers.ports[0]! }],
        mode: plan.mode,
        count: clients,
        path: plan.path,
        rooms: [],
        auth: { secret: ctx.secret, tenant: TENANT, user: plan.user, ttlSec: 6 * 3600 },
        concurrency: options.concurrency,
        timeoutMs: 120_000,
      },
      started,
    );
    report.setup = setup;
    const m1 = machineCpu();
    const srv1 = sampleProc(pid)?.cpuSec ?? 0;
    if (setup.ready > 0) {
      report.serverCpuUsPerConnection = ((srv1 - srv0) * 1e6) / setup.ready;
      report.generatorCpuUsPerConnection = setup.cpuUs / setup.ready;
    }
    report.machineCpuDuringSetup = busyCores(m0, m1, ctx.machine.cores);
    progress.line(
      `   ${setup.ready}/${clients} ready in ${(setup.ms / 1000).toFixed(2)} s: ${Math.round(setup.perSecond)} connections/s` +
        (setup.failed > 0 ? `; ${setup.failed} failed: ${setup.failures[0] ?? ""}` : "") +
        `; CPU per connection: server ${report.serverCpuUsPerConnection.toFixed(0)} µs, generator ${report.generatorCpuUsPerConnection.toFixed(0)} µs; machine ${Math.round(report.machineCpuDuringSetup * 100)}%`,
    );
    await delay(options.settleMs);
    report.rssAfterNoGcBytes = sampleProc(pid)?.rssBytes ?? 0;
    await collectGarbage(inspector);
    report.rssAfterBytes = sampleProc(pid)?.rssBytes ?? 0;
    const stats = await pool.stats();
    const per = (after: number) =>
      stats.open > 0 ? (after - report.rssBeforeBytes) / stats.open : 0;
    report.perConnectionBytes = per(report.rssAfterBytes);
    report.perConnectionNoGcBytes = per(report.rssAfterNoGcBytes);
    progress.line(
      `   RSS after GC ${(report.rssBeforeBytes / 2 ** 20).toFixed(1)} -> ${(report.rssAfterBytes / 2 ** 20).toFixed(1)} MiB: ` +
        `${Math.round(report.perConnectionBytes)} bytes per connection (${stats.open} open; ` +
        `${Math.round(report.perConnectionNoGcBytes)} before that GC)`,
    );
    if (setup.ready < clients)
      report.error = `only ${setup.ready} of ${clients} connected: ${setup.failures.join("; ")}`;
  } catch (err) {
    report.error = err instanceof Error ? err.message : String(err);
    progress.line(`   ERROR: ${report.error}`);
  } finally {
    await pool?.stop();
    await servers?.stop();
  }
  return report;
}
