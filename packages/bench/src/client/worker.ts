import { signToken } from "../infra/tokens.js";
import {
  Connection,
  type ConnectionEvents,
  type ConnectionSpec,
  type WorkerCounters,
} from "./connection.js";
import { encodeHistogram, newHistogram, nowMs } from "./latency.js";
import { openBounded, twoStepOpen } from "./launch.js";
import type { OpenReply, OpenRequest, WorkerReply, WorkerRequest } from "./messages.js";

/*
 * A load-generator worker: a forked process holding thousands of client
 * connections, driven by its parent over IPC. Nothing here runs per event
 * but the frame parser and the counters.
 */

/** Frames at least this long are events (every bench event is padded to ~200 bytes). */
const MIN_EVENT_BYTES = Number(process.env["BENCH_MIN_EVENT_BYTES"] ?? 120);
const SAMPLE_EVERY = Math.max(1, Number(process.env["BENCH_SAMPLE_EVERY"] ?? 64));
/** Raw-API clients ping this often so the server's 60 s heartbeat never closes them. */
const PING_EVERY_MS = 20_000;

const counters: WorkerCounters = {
  events: 0,
  sinceSample: 0,
  sampleEvery: SAMPLE_EVERY,
  unsampled: 0,
  histogram: newHistogram(),
};
const readBuffer = Buffer.allocUnsafe(256 * 1024);
const connections = new Set<Connection>();
let open = 0;
let closed = 0;
const closeCodes: Record<string, number> = {};

function send(reply: WorkerReply): void {
  process.send?.(reply);
}

const pinger = setInterval(() => {
  for (const c of connections) if (c.spec.mode === "raw") c.ping();
}, PING_EVERY_MS);
pinger.unref();

function openAll(req: OpenRequest, specs: ConnectionSpec[]): Promise<OpenReply> {
  return openBounded(req, specs.length, false, (settle) => {
    const events: ConnectionEvents = {
      ready: () => {
        open++;
        settle.ready();
      },
      failed: (conn, reason) => {
        connections.delete(conn);
        settle.failed(reason);
      },
      closed: (conn, code) => {
        open--;
        closed++;
        connections.delete(conn);
        const key = String(code ?? "none");
        closeCodes[key] = (closeCodes[key] ?? 0) + 1;
      },
    };
    return {
      start: (i) => {
        const conn = new Connection(specs[i]!, counters, events, MIN_EVENT_BYTES, readBuffer);
        connections.add(conn);
        conn.open();
      },
      timedOut: () => {
        for (const c of connections) {
          if (c.phase !== "ready" && c.phase !== "closed") {
            settle.failed(`not ready within ${req.timeoutMs} ms (${c.phase})`);
            c.destroy();
          }
        }
      },
    };
  });
}

const opens = twoStepOpen(buildSpecs, openAll);

async function buildSpecs(req: OpenRequest): Promise<ConnectionSpec[]> {
  const perClientUser = req.auth?.user.includes("{i}") ?? false;
  let shared: string | undefined;
  if (req.auth !== undefined && !perClientUser) {
    shared = await signToken(
      req.auth.secret,
      { sub: req.auth.user, tenant_id: req.auth.tenant },
      req.auth.ttlSec,
    );
  }
  const specs = [];
  for (let k = 0; k < req.count; k++) {
    const i = req.firstIndex + k;
    const target = req.targets[i % req.targets.length]!;
    const user = req.auth?.user.replaceAll("{i}", String(i)) ?? `user-${i}`;
    let token = shared;
    if (req.auth !== undefined && perClientUser) {
      token = await signToken(
        req.auth.secret,
        { sub: user, tenant_id: req.auth.tenant },
        req.auth.ttlSec,
      );
    }
    const fill = (s: string) => s.replaceAll("{user}", user).replaceAll("{token}", token ?? "");
    specs.push({
      host: target.host,
      port: target.port,
      mode: req.mode,
      path: fill(req.path),
      ...(token === undefined ? {} : { token }),
      rooms: req.rooms.map(fill),
    });
  }
  return specs;
}

process.on("message", (msg: WorkerRequest) => {
  switch (msg.t) {
    case "prepare":
      void opens.prepare(msg).then(send);
      return;
    case "start":
      void opens.start(msg.id).then(send);
      return;
    case "stats": {
      const cpu = process.cpuUsage();
      send({
        t: "stats",
        id: msg.id,
        at: nowMs(),
        events: counters.events,
        unsampled: counters.unsampled,
        open,
        closed,
        closeCodes: { ...closeCodes },
        cpuUs: cpu.user + cpu.system,
      });
      return;
    }
    case "hist":
      send({ t: "hist", id: msg.id, histogram: encodeHistogram(counters.histogram) });
      if (msg.reset) counters.histogram.reset();
      return;
    case "close":
      for (const c of connections) c.destroy();
      connections.clear();
      open = 0;
      send({ t: "closed", id: msg.id });
      return;
    case "exit":
      for (const c of connections) c.destroy();
      process.exit(0);
  }
});

// The parent going away ends the worker (no orphan keeps connections open).
process.on("disconnect", () => process.exit(0));
