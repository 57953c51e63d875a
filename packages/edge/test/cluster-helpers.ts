/**
 * Helpers of the multi-process cluster tests: edge nodes as child processes
 * running the real CLI (`dist/src/cli.js`) against real nats-servers, their
 * logs, health and metrics; which NATS server a node is connected to (from
 * the server's monitoring); numbered event streams and their checks; and
 * clients that move to the next node when theirs goes away.
 *
 * Every process is started through the shared `processes` tracker of
 * `@calcbridge/testing` and ended by PID on teardown (SIGCONT first if the
 * test stopped it).
 */
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { NatsBus, type NatsBusOptions } from "@calcbridge/bridge-nats";
import { isEventType, parseRoom, subjectFor } from "@calcbridge/protocol";
import {
  TEST_SECRET,
  delay,
  monitorJson,
  processes,
  waitFor,
  type NatsServerHandle,
} from "@calcbridge/testing";
import { io as ioClient, type Socket as ClientSocket } from "socket.io-client";
import WebSocket from "ws";
import type { Teardown } from "./helpers.js";
import type { RawClient, SioClient } from "./api-helpers.js";

export type { Teardown };

/** The edge CLI, compiled: this file is `dist/test/cluster-helpers.js`. */
export const CLI_PATH = fileURLToPath(new URL("../src/cli.js", import.meta.url));

/** Bound of the wait for a child edge node to log that it listens. */
export const EDGE_START_TIMEOUT_MS = 15_000;

/** Tenant and user of every client of these tests. */
export const TENANT = "tenant_1";

/** The NATS subject of a public room of TENANT (what interest is held on). */
export function subjectOf(room: string, tenant = TENANT): string {
  return subjectFor(tenant, parseRoom(room));
}

// ------------------------------------------------------------ edge processes

/** One JSON log line of a child edge node (pino). */
export interface LogLine {
  level: number;
  /** pino's ISO time, as a number of ms. */
  at: number;
  msg: string;
  [field: string]: unknown;
}

export interface StartEdgeOptions {
  nodeId: string;
  /** NATS_URL, in this order. */
  natsUrls: readonly string[];
  /** More environment (PING_INTERVAL_MS, ...); wins over the defaults here. */
  env?: Record<string, string>;
}

export interface EdgeProcess {
  readonly nodeId: string;
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly pid: number;
  readonly child: ChildProcess;
  readonly running: boolean;
  /** Parsed JSON log lines so far. */
  logs(): LogLine[];
  /** Raw stdout + stderr so far (bounded). */
  output(): string;
  /** The first log line with `msg` logged at or after `since` (ms), waiting up to `timeout`. */
  waitForLog(msg: string, since?: number, timeout?: number): Promise<LogLine>;
  /** SIGSTOP by PID: the process is frozen, its sockets stay open. */
  pause(): void;
  /** SIGCONT by PID. */
  resume(): void;
  /** SIGTERM by PID (drain), SIGKILL after a grace period. */
  stop(): Promise<void>;
  /** SIGKILL by PID (a crash). */
  kill(): Promise<void>;
  /** `GET /readyz`. */
  readyz(): Promise<HttpAnswer>;
  /** `GET /healthz`. */
  healthz(): Promise<HttpAnswer>;
  /** `GET /metrics`, the text. */
  metrics(): Promise<string>;
  /** The value of one metric (summed over series matching `labels`); 0 when absent. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

export interface HttpAnswer {
  status: number;
  body: Record<string, unknown>;
}

const MAX_OUTPUT_CHARS = 256 * 1024;

/**
 * Starts `node dist/src/cli.js` with a clean environment (no NODE_OPTIONS
 * from the test runner), `PORT=0` on 127.0.0.1, the test secret, a 15 s
 * heartbeat cycle, no drain window and no history (core NATS), and resolves once it has logged
 * "edge node listening" (the bound port comes from that line). Stopped by
 * PID on `t`'s teardown.
 */
export async function startEdge(t: Teardown, options: StartEdgeOptions): Promise<EdgeProcess> {
  const env: Record<string, string> = {
    PATH: process.env["PATH"] ?? "/usr/bin:/bin",
    ...(process.env["TMPDIR"] !== undefined ? { TMPDIR: process.env["TMPDIR"] } : {}),
    PORT: "0",
    HOST: "127.0.0.1",
    NODE_ID: options.nodeId,
    NATS_URL: options.natsUrls.join(","),
    JWT_SECRET: TEST_SECRET,
    LOG_LEVEL: "info",
    DRAIN_SECONDS: "0",
    // Raw clients must speak within one ping cycle (interval + timeout) or are
    // closed with 4008; the test clients do not ping, so the cycle outlasts a test.
    PING_INTERVAL_MS: "10000",
    PING_TIMEOUT_MS: "5000",
    // Core NATS only: these tests are about the cluster, not JetStream history.
    HISTORY: "off",
    ...options.env,
  };
  const child = processes.spawn(process.execPath, [CLI_PATH], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let pending = "";
  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  const onStdout = (chunk: Buffer): void => {
    const text = chunk.toString("utf8");
    output = (output + text).slice(-MAX_OUTPUT_CHARS);
    pending += text;
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (!line.startsWith("{")) continue;
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        lines.push({
          ...parsed,
          level: Number(parsed["level"]),
          at: Date.parse(String(parsed["time"])),
          msg: String(parsed["msg"]),
        });
      } catch {
        // not a log line
      }
    }
    for (const wake of [...waiters]) wake();
  };
  child.stdout?.on("data", onStdout);
  child.stderr?.on("data", (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-MAX_OUTPUT_CHARS);
  });
  let paused = false;
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  const signal = (sig: NodeJS.Signals): void => {
    if (child.pid === undefined || !running()) return;
    try {
      process.kill(child.pid, sig);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
    }
  };

  const waitForLog = (msg: string, since = 0, timeout = 5000): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = lines.find((l) => l.msg === msg && l.at >= since);
        if (found === undefined) return false;
        done();
        resolve(found);
        return true;
      };
      const onExit = (): void => {
        done();
        reject(new Error(`${options.nodeId} exited before logging "${msg}":\n${output}`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${options.nodeId} did not log "${msg}" within ${timeout} ms`));
      }, timeout);
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(wake);
        child.off("exit", onExit);
      };
      const wake = (): void => void check();
      if (check()) return;
      if (!running()) {
        onExit();
        return;
      }
      waiters.add(wake);
      child.once("exit", onExit);
    });

  t.teardown(async () => {
    if (paused) signal("SIGCONT");
    await processes.terminate(child, 3000);
  });

  let listening: LogLine;
  try {
    listening = await waitForLog("edge node listening", 0, EDGE_START_TIMEOUT_MS);
  } catch (err) {
    await processes.kill(child);
    throw err;
  }
  const port = Number(listening["port"]);
  const url = `http://127.0.0.1:${port}`;
  const get = async (path: string): Promise<HttpAnswer> => {
    const res = await fetch(url + path, {
      headers: { connection: "close" },
      signal: AbortSignal.timeout(2000),
    });
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as Record<string, unknown> };
  };
  const metrics = async (): Promise<string> => {
    const res = await fetch(`${url}/metrics`, {
      headers: { connection: "close" },
      signal: AbortSignal.timeout(2000),
    });
    return res.text();
  };
  return {
    nodeId: options.nodeId,
    port,
    url,
    pid: child.pid!,
    child,
    get running() {
      return running();
    },
    logs: () => [...lines],
    output: () => output,
    waitForLog,
    pause: () => {
      paused = true;
      signal("SIGSTOP");
    },
    resume: () => {
      signal("SIGCONT");
      paused = false;
    },
    stop: async () => {
      if (paused) signal("SIGCONT");
      paused = false;
      await processes.terminate(child, 3000);
    },
    kill: async () => {
      await processes.kill(child);
      paused = false;
    },
    readyz: () => get("/readyz"),
    healthz: () => get("/healthz"),
    metrics,
    metric: async (name, labels = {}) => metricValue(await metrics(), name, labels),
  };
}

/**
 * Sums the samples of `name` in a Prometheus text exposition whose labels
 * include `labels`. Counters at zero are not exposed: absent reads as 0.
 */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}) {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = new Map<string, string>();
    for (const pair of (m[3] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      have.set(pair[1]!, pair[2]!);
    }
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(m[4]);
  }
  return sum;
}

/** Starts several edge nodes at once; see {@link startEdge}. */
export function startEdges(t: Teardown, list: readonly StartEdgeOptions[]): Promise<EdgeProcess[]> {
  return Promise.all(list.map((options) => startEdge(t, options)));
}

// ------------------------------------------------------------- NATS monitoring

interface Connz {
  connections?: { name?: string; subscriptions_list?: string[] }[];
}

/** The server of `servers` holding a client connection named `name`, if any. */
export async function serverOf(
  servers: readonly NatsServerHandle[],
  name: string,
): Promise<NatsServerHandle | undefined> {
  for (const server of servers) {
    if (!server.running) continue;
    const connz = await monitorJson<Connz>(server.monitorUrl, "/connz?subs=1&limit=100000");
    if ((connz.connections ?? []).some((c) => c.name === name)) return server;
  }
  return undefined;
}

/**
 * Subscriptions of the connection named `name` on this server whose pattern
 * equals `subject` (-1 when the server has no such connection).
 */
export async function connectionSubscriptions(
  monitorUrl: string,
  name: string,
  subject: string,
): Promise<number> {
  const connz = await monitorJson<Connz>(monitorUrl, "/connz?subs=1&limit=100000");
  const conn = (connz.connections ?? []).find((c) => c.name === name);
  if (conn === undefined) return -1;
  return (conn.subscriptions_list ?? []).filter((s) => s === subject).length;
}

// ------------------------------------------------------------- publishers

/** Quick retries: a publisher in a test should not sit out a 2 s reconnect wait. */
export const FAST_BUS = Object.freeze({
  reconnectTimeWaitMs: 100,
  reconnectJitterMs: 50,
  connectTimeoutMs: 2000,
});

/** A NatsBus for a publisher (the Emitter's transport), connected, closed on teardown. */
export async function publisherBus(
  t: Teardown,
  servers: readonly string[],
  options: Omit<NatsBusOptions, "servers"> = {},
): Promise<NatsBus> {
  const bus = await NatsBus.start({
    ...FAST_BUS,
    name: "publisher",
    noRandomize: true,
    ...options,
    servers,
  });
  t.teardown(() => bus.close());
  await waitFor(() => bus.status === "connected", { message: "publisher bus connected" });
  return bus;
}

// ------------------------------------------------------- numbered events

/** The payload of a numbered `job.progress` event: `src` names the publisher. */
export function seqPayload(jobId: string, src: string, seq: number): Record<string, unknown> {
  return { job_id: jobId, progress: 0, stage: "test", src, seq };
}

/** Anything that received CalcBridge events, as envelope objects. */
export type Envelope = {
  type: string;
  payload: Record<string, unknown>;
  timestamp: string;
  room?: string;
};

/** The envelopes a raw client received, parsed. */
export function rawEnvelopes(client: Pick<RawClient, "events">): Envelope[] {
  return client.events.map((text) => JSON.parse(text) as Envelope);
}

/** The envelopes of a Socket.IO client's CalcBridge events (event name = type). */
export function sioEnvelopes(client: Pick<SioClient, "events">): Envelope[] {
  return client.events
    .filter(([name, first]) => isEventType(name) && typeof first === "object" && first !== null)
    .map(([, first]) => first as Envelope);
}

/** `seq` of every event from publisher `src`, in arrival order. */
export function seqsOf(envelopes: readonly Envelope[], src: string): number[] {
  return envelopes.filter((e) => e.payload["src"] === src).map((e) => Number(e.payload["seq"]));
}

/** `[0, 1, ..., n - 1]` */
export function range(n: number, from = 0): number[] {
  return Array.from({ length: n }, (_, i) => from + i);
}

let probeCounter = 0;

/**
 * Publishes probe events with `publish(seq)` (the caller sends `seqPayload(..,
 * "probe", seq)`; probe numbers are unique in the process) until every reader
 * has seen the latest one: the room's interest has reached the publisher's
 * server from every node. Since one publisher's messages keep their order,
 * no earlier probe is still in flight afterwards. Bounded by `timeout`.
 * Resolves with the number of probes sent.
 */
export async function probeUntilDelivered(
  publish: (seq: number) => unknown,
  readers: readonly (() => readonly Envelope[])[],
  timeout = 8000,
): Promise<number> {
  const deadline = Date.now() + timeout;
  for (let sent = 1; ; sent++) {
    const probe = probeCounter++;
    await publish(probe);
    const arrived = await waitFor(
      () => readers.every((read) => seqsOf(read(), "probe").includes(probe)),
      { timeout: 150, interval: 5 },
    ).catch(() => false);
    if (arrived === true) return sent;
    if (Date.now() > deadline) {
      const seen = readers.map((read) => seqsOf(read(), "probe").length);
      throw new Error(
        `probes not delivered within ${timeout} ms (probes seen per reader: ${seen})`,
      );
    }
  }
}

/**
 * Checks a sequence for exactly-once, in-order delivery of `0..n-1` and, if
 * not, names what is wrong (missing, duplicated, out of order).
 */
export function sequenceProblems(seqs: readonly number[], n: number): string | undefined {
  const seen = new Map<number, number>();
  for (const s of seqs) seen.set(s, (seen.get(s) ?? 0) + 1);
  const missing = range(n).filter((i) => !seen.has(i));
  const dup = [...seen].filter(([, c]) => c > 1).map(([s]) => s);
  const outOfOrder = seqs.findIndex((s, i) => i > 0 && s <= seqs[i - 1]!);
  if (missing.length === 0 && dup.length === 0 && outOfOrder < 0 && seqs.length === n) {
    return undefined;
  }
  return `missing ${JSON.stringify(missing.slice(0, 20))}${missing.length > 20 ? "..." : ""}, duplicated ${JSON.stringify(dup.slice(0, 20))}, first out of order at index ${outOfOrder}`;
}

/**
 * Describes a stream with one loss window: the seqs missing from `0..n-1`
 * and whether `received` is in order without duplicates and everything
 * outside one contiguous window arrived.
 */
export function gapOf(
  received: readonly number[],
  n: number,
): { missing: number[]; contiguous: boolean; ordered: boolean } {
  const have = new Set(received);
  const missing = range(n).filter((i) => !have.has(i));
  const ordered = received.every((s, i) => i === 0 || s > received[i - 1]!);
  const first = missing[0];
  const last = missing.at(-1);
  const contiguous =
    first === undefined || last === undefined || missing.length === last - first + 1;
  return { missing, contiguous, ordered: ordered && received.length === have.size };
}

// ------------------------------------------------------- failover clients

/** A connection a failover client made: where, and when it was usable again. */
export interface Hop {
  url: string;
  /** Date.now() when the connection (and its room subscriptions) were in place. */
  readyAt: number;
}

/**
 * A Socket.IO client that, when its connection drops, connects to the next
 * node URL of its list and subscribes its rooms again by itself (the official
 * client would only retry the same URL). WebSocket only, no built-in
 * reconnection; bounded attempts.
 */
export class FailoverSioClient {
  socket: ClientSocket | undefined;
  /** Every CalcBridge envelope received, over all connections. */
  readonly envelopes: Envelope[] = [];
  readonly hops: Hop[] = [];
  /** Date.now() of each drop. */
  readonly drops: number[] = [];
  private index = 0;
  private attempts = 0;
  private closed = false;

  constructor(
    t: Teardown,
    private readonly urls: readonly string[],
    private readonly token: string,
    private readonly rooms: readonly string[],
    private readonly maxAttempts = 10,
  ) {
    t.teardown(() => this.close());
  }

  /** Connects to the first URL and subscribes; resolves when ready. */
  async start(): Promise<void> {
    this.connect();
    await waitFor(() => this.hops.length > 0, { message: "failover client ready" });
  }

  /** Resolves once the client has made `n` connections in all. */
  async hopped(n: number, timeout = 8000): Promise<Hop> {
    await waitFor(() => this.hops.length >= n, { timeout, message: `${n} connections` });
    return this.hops[n - 1]!;
  }

  private connect(): void {
    if (this.closed || this.attempts >= this.maxAttempts) return;
    this.attempts++;
    const url = this.urls[this.index % this.urls.length]!;
    const socket = ioClient(url, {
      transports: ["websocket"],
      reconnection: false,
      forceNew: true,
      timeout: 2000,
      auth: { token: this.token },
    });
    this.socket = socket;
    socket.onAny((event: string, first: unknown) => {
      if (isEventType(event) && typeof first === "object" && first !== null) {
        this.envelopes.push(first as Envelope);
      }
    });
    const next = (): void => {
      socket.removeAllListeners();
      socket.disconnect();
      if (this.closed) return;
      this.index++;
      setTimeout(() => this.connect(), 50);
    };
    socket.once("connect_error", next);
    socket.once("connect", () => {
      void Promise.all(
        this.rooms.map((room) => socket.timeout(2000).emitWithAck("subscribe", room)),
      ).then(
        (acks: unknown[]) => {
          if (acks.every((a) => (a as { ok?: unknown }).ok === true)) {
            this.hops.push({ url, readyAt: Date.now() });
          } else next();
        },
        () => next(),
      );
    });
    socket.once("disconnect", () => {
      this.drops.push(Date.now());
      next();
    });
  }

  close(): void {
    this.closed = true;
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
  }
}

/**
 * A raw-API client (`/ws`) that, when its WebSocket closes, opens one to the
 * next node URL and sends its subscribe requests again. Bounded attempts.
 */
export class FailoverRawClient {
  ws: WebSocket | undefined;
  readonly envelopes: Envelope[] = [];
  readonly hops: Hop[] = [];
  readonly drops: number[] = [];
  private index = 0;
  private attempts = 0;
  private closed = false;

  constructor(
    t: Teardown,
    private readonly urls: readonly string[],
    private readonly token: string,
    private readonly rooms: readonly string[],
    private readonly maxAttempts = 10,
  ) {
    t.teardown(() => this.close());
  }

  async start(): Promise<void> {
    this.connect();
    await waitFor(() => this.hops.length > 0, { message: "failover raw client ready" });
  }

  async hopped(n: number, timeout = 8000): Promise<Hop> {
    await waitFor(() => this.hops.length >= n, { timeout, message: `${n} connections` });
    return this.hops[n - 1]!;
  }

  private connect(): void {
    if (this.closed || this.attempts >= this.maxAttempts) return;
    this.attempts++;
    const url = this.urls[this.index % this.urls.length]!;
    const wsUrl = `${url.replace(/^http/, "ws")}/ws?token=${encodeURIComponent(this.token)}`;
    const ws = new WebSocket(wsUrl);
    this.ws = ws;
    const pending = new Set(this.rooms);
    let opened = false;
    ws.on("error", () => {});
    ws.on("open", () => {
      opened = true;
      for (const room of this.rooms) ws.send(JSON.stringify({ type: "subscribe", room }));
    });
    ws.on("message", (data) => {
      const msg = JSON.parse(String(data)) as Envelope & { room?: string };
      if (msg.type === "subscribed") {
        pending.delete(String(msg.room));
        if (pending.size === 0) this.hops.push({ url, readyAt: Date.now() });
      } else if (isEventType(msg.type)) {
        this.envelopes.push(msg);
      }
    });
    ws.once("close", () => {
      if (opened) this.drops.push(Date.now());
      ws.removeAllListeners();
      ws.on("error", () => {});
      if (this.closed) return;
      this.index++;
      setTimeout(() => this.connect(), 50);
    });
  }

  close(): void {
    this.closed = true;
    this.ws?.terminate();
  }
}

/** Resolves after `ms`; re-exported for the tests' "must not happen" windows. */
export { delay };
