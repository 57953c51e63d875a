/**
 * Helpers of the missed-message recovery tests: edge nodes with an embedded
 * history (a `MemoryHistory`, optionally on a test clock) or with JetStream
 * history and sessions on a real nats-server; Socket.IO clients that record
 * every event with its offset and drop / come back on demand; raw clients
 * that subscribe `since` an offset; and checks of offset sequences.
 * Everything started here is closed in `t.teardown`.
 */
import {
  Emitter,
  JetStreamHistory,
  JetStreamSessionStore,
  NatsBus,
  DEFAULT_HISTORY_STREAM,
  DEFAULT_SESSION_STREAM,
} from "@calcbridge/bridge-nats";
import {
  escapeToken,
  isEventType,
  parseRoom,
  subjectFor,
  type SessionStore,
} from "@calcbridge/protocol";
import { TEST_SECRET, waitFor } from "@calcbridge/testing";
import { io as ioClient, type Socket as ClientSocket } from "socket.io-client";
import { DEFAULT_HISTORY_LIMITS, MemoryHistory } from "../src/history/memory-history.js";
import type { HistoryLimits } from "../src/history/memory-history.js";
import { createLogger } from "../src/logger.js";
import { EdgeNode, type EdgeNodeOptions } from "../src/node.js";
import type { Socket as ServerSocket } from "../src/socketio/socket.js";
import { rawTopic } from "../src/topics.js";
import {
  QUIET_MS,
  WAIT_MS,
  rawOpen,
  tokenFor,
  within,
  type Message,
  type RawClient,
} from "./api-helpers.js";
import { FAST_BUS, publisherBus, seqPayload } from "./cluster-helpers.js";
import type { Teardown } from "./helpers.js";

export type { RawClient };
export { QUIET_MS, tokenFor };

/** Tenant of every client of these tests. */
export const TENANT = "tenant_1";

/**
 * Heartbeats slow enough that a loaded 2-core runner never times a client
 * out by accident: these tests end connections on purpose only.
 */
export const RECOVERY_IO = Object.freeze({
  pingInterval: 5000,
  pingTimeout: 10_000,
  connectTimeout: 5000,
});

// ------------------------------------------------------------------- nodes

export interface RecoveryNode {
  node: EdgeNode;
  port: number;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Closes the node once (teardown does nothing more afterwards). */
  close(): Promise<void>;
  /** `node.drain(ms)`, once. */
  drain(ms: number): Promise<void>;
}

async function listen(
  t: Teardown,
  options: EdgeNodeOptions & { nodeId: string },
): Promise<RecoveryNode> {
  const node = await EdgeNode.create({
    logger: createLogger({ level: process.env["LOG_LEVEL"] ?? "silent", nodeId: options.nodeId }),
    ...options,
    io: { ...RECOVERY_IO, ...options.io },
  });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= node.close());
  t.teardown(close);
  const port = await node.listen(0, "127.0.0.1");
  return {
    node,
    port,
    url: `http://127.0.0.1:${port}`,
    close,
    drain: (ms) => (closing ??= node.drain(ms)),
  };
}

/** A clock a test moves by hand. */
export class TestClock {
  constructor(public ms = Date.now()) {}
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

export interface MemoryNodeOptions {
  limits?: Partial<HistoryLimits>;
  /** The history's clock (age eviction). @default Date.now */
  clock?: TestClock;
  maxDisconnectionMs?: number;
  nodeId?: string;
}

/**
 * An embedded node (in-process bus) whose MemoryHistory has `limits` and,
 * optionally, a test clock; Socket.IO recovery and raw `since` use it.
 */
export async function memoryNode(
  t: Teardown,
  options: MemoryNodeOptions = {},
): Promise<RecoveryNode & { history: MemoryHistory }> {
  const limits = { ...DEFAULT_HISTORY_LIMITS, ...options.limits };
  const history = new MemoryHistory(limits, options.clock?.now);
  const started = await listen(t, {
    nodeId: options.nodeId ?? "mem",
    auth: { secret: TEST_SECRET },
    history,
    historyLimits: limits,
    ...(options.maxDisconnectionMs !== undefined
      ? { maxDisconnectionMs: options.maxDisconnectionMs }
      : {}),
  });
  return { ...started, history };
}

export interface JetStreamNodeOptions {
  nodeId: string;
  /** NATS servers of this node, in order. */
  servers: readonly string[];
  maxPerRoom?: number;
  maxAgeMs?: number;
  /** Bytes the history stream keeps. @default the JetStreamHistory default */
  maxBytes?: number;
  maxDisconnectionMs?: number;
  /** Stream replicas (3 on a 3-server cluster). @default 1 */
  replicas?: number;
  /** Wraps the node's JetStream session store (to slow or stall it). @default none */
  sessions?: (store: SessionStore) => SessionStore;
}

/**
 * A clustered node: its own NatsBus, JetStream history (memory storage) and
 * JetStream session store, as the CLI wires them with HISTORY=jetstream.
 * Start the nodes of one test one after the other: each creates or updates
 * the streams at start-up.
 */
export async function jetStreamNode(
  t: Teardown,
  options: JetStreamNodeOptions,
): Promise<RecoveryNode & { bus: NatsBus; flush(): Promise<void> }> {
  const bus = await NatsBus.start({
    ...FAST_BUS,
    servers: [...options.servers],
    name: options.nodeId,
    noRandomize: true,
  });
  t.teardown(() => bus.close());
  await waitFor(() => bus.status === "connected", { message: `${options.nodeId} bus connected` });
  const maxPerRoom = options.maxPerRoom ?? DEFAULT_HISTORY_LIMITS.maxPerRoom;
  const maxAgeMs = options.maxAgeMs ?? DEFAULT_HISTORY_LIMITS.maxAgeMs;
  const maxDisconnectionMs = options.maxDisconnectionMs ?? 120_000;
  const history = await JetStreamHistory.start(bus, {
    storage: "memory",
    maxPerRoom,
    maxAgeMs,
    ...(options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {}),
    replicas: options.replicas ?? 1,
  });
  const sessions = await JetStreamSessionStore.start(bus, {
    ttlMs: maxDisconnectionMs,
    replicas: options.replicas ?? 1,
  });
  const started = await listen(t, {
    nodeId: options.nodeId,
    auth: { secret: TEST_SECRET },
    bus,
    history,
    sessions: options.sessions?.(sessions) ?? sessions,
    historyLimits: { maxPerRoom, maxAgeMs },
    maxDisconnectionMs,
  });
  // A subscribe is acknowledged to the client before the node's NATS
  // subscription reaches the server: a round trip on the node's connection
  // proves the server has it (one server; a NATS cluster needs probes).
  const flush = async (): Promise<void> => {
    await bus.connection?.flush();
  };
  return { ...started, bus, flush };
}

/** An Emitter (tenant TENANT) on its own NATS connection: a backend service. */
export async function emitterOn(t: Teardown, servers: readonly string[]): Promise<Emitter> {
  const bus = await publisherBus(t, servers);
  return new Emitter(bus, { tenant: TENANT });
}

/** The NATS subject of a room of TENANT. */
export function subjectOf(room: string): string {
  return subjectFor(TENANT, parseRoom(room));
}

/**
 * A request to the JetStream API over `bus`'s connection, its JSON answer
 * (the edge package talks to JetStream only through bridge-nats).
 */
async function jsApi(bus: NatsBus, subject: string, body: unknown = {}): Promise<JsAnswer> {
  const nc = bus.connection;
  if (nc === undefined) throw new Error("the bus has no connection");
  const reply = await nc.request(`$JS.API.${subject}`, JSON.stringify(body), { timeout: 2000 });
  return JSON.parse(new TextDecoder().decode(reply.data)) as JsAnswer;
}

interface JsAnswer {
  error?: { code: number; description: string };
  state?: { last_seq: number; first_seq: number; messages: number };
  message?: unknown;
}

/**
 * The last sequence of the history stream (0 when empty), read over `bus`:
 * after a publisher's events are published, waiting for it to reach a value
 * proves they are stored (and will be replayed, not only delivered live).
 */
export async function streamLastSeq(bus: NatsBus): Promise<number> {
  return (await streamState(bus)).last_seq;
}

/** The history stream's state: first and last sequence, messages kept. */
export async function streamState(
  bus: NatsBus,
): Promise<{ first_seq: number; last_seq: number; messages: number }> {
  const info = await jsApi(bus, `STREAM.INFO.${DEFAULT_HISTORY_STREAM}`);
  if (info.state === undefined) throw new Error(`stream info: ${JSON.stringify(info.error)}`);
  return info.state;
}

/** Waits until the history stream's last sequence is at least `seq`. */
export async function streamReached(bus: NatsBus, seq: number): Promise<number> {
  return waitFor(
    async () => {
      const last = await streamLastSeq(bus);
      return last >= seq ? last : false;
    },
    { timeout: WAIT_MS, interval: 10, message: `history stream at sequence ${seq}` },
  );
}

/** Sessions waiting in the JetStream session store. */
export async function sessionCount(bus: NatsBus): Promise<number> {
  const info = await jsApi(bus, `STREAM.INFO.${DEFAULT_SESSION_STREAM}`);
  if (info.state === undefined) throw new Error(`stream info: ${JSON.stringify(info.error)}`);
  return info.state.messages;
}

/** Waits until the JetStream session store holds the session of `pid`. */
export async function sessionStored(bus: NatsBus, pid: string): Promise<void> {
  await waitFor(
    async () => {
      const answer = await jsApi(bus, `STREAM.MSG.GET.${DEFAULT_SESSION_STREAM}`, {
        last_by_subj: `rt-sessions.${escapeToken(pid)}`,
      });
      return answer.message !== undefined;
    },
    { timeout: WAIT_MS, interval: 10, message: `session ${pid} stored` },
  );
}

// --------------------------------------------------------------- publishing

/**
 * Publishes `job.progress` events numbered `from..from+n-1` (source `src`)
 * to `room` through the node, in-process; resolves with their offsets.
 */
export function publishSeq(
  node: EdgeNode,
  room: string,
  src: string,
  n: number,
  from = 0,
): string[] {
  const jobId = room.startsWith("job:") ? room.slice(4) : "job_x";
  const offsets: string[] = [];
  for (let i = 0; i < n; i++) {
    const [published] = node.publish({
      tenant_id: TENANT,
      room,
      type: room.startsWith("job:") ? "job.progress" : "notification",
      payload: room.startsWith("job:")
        ? seqPayload(jobId, src, from + i)
        : { title: `n${from + i}`, src, seq: from + i },
    });
    if (published?.offset === undefined) throw new Error("the node assigned no offset");
    offsets.push(published.offset);
  }
  return offsets;
}

/** The same through an Emitter (no offsets: JetStream assigns them on the way). */
export function emitSeq(emitter: Emitter, room: string, src: string, n: number, from = 0): void {
  const jobId = room.startsWith("job:") ? room.slice(4) : "job_x";
  for (let i = 0; i < n; i++) {
    if (room.startsWith("job:")) {
      emitter.to(room).emit("job.progress", seqPayload(jobId, src, from + i));
    } else {
      emitter.to(room).emit("notification", { title: `n${from + i}`, src, seq: from + i });
    }
  }
}

// ----------------------------------------------------------- event records

/** One event a client received: its envelope, offset (as sent) and payload numbering. */
export interface Got {
  type: string;
  room: string;
  offset: string;
  src: string;
  seq: number;
  /** The offset inside the envelope (raw and Socket.IO alike). */
  envelopeOffset: unknown;
}

function gotOf(type: string, envelope: unknown, trailing: unknown): Got {
  const env = envelope as { room?: unknown; offset?: unknown; payload?: Record<string, unknown> };
  return {
    type,
    room: String(env.room),
    offset: typeof trailing === "string" ? trailing : String(env.offset),
    src: String(env.payload?.["src"]),
    seq: Number(env.payload?.["seq"]),
    envelopeOffset: env.offset,
  };
}

/** The events of a raw client, parsed. */
export function rawGot(client: Pick<RawClient, "events">): Got[] {
  return client.events.map((text) => {
    const env = JSON.parse(text) as { type: string; offset?: unknown };
    return gotOf(env.type, env, env.offset);
  });
}

/** Offsets as numbers. */
export function nums(list: readonly Pick<Got, "offset">[]): number[] {
  return list.map((g) => Number(g.offset));
}

/**
 * What is wrong with a received offset sequence compared with the one
 * expected (exact equality): duplicates, order, missing and extra offsets.
 * Undefined when they are equal.
 */
export function offsetProblems(
  received: readonly number[],
  expected: readonly number[],
): string | undefined {
  if (received.length === expected.length && received.every((o, i) => o === expected[i])) {
    return undefined;
  }
  const have = new Set(received);
  const want = new Set(expected);
  const dup = received.filter((o, i) => received.indexOf(o) !== i);
  const unordered = received.findIndex((o, i) => i > 0 && o <= received[i - 1]!);
  const missing = expected.filter((o) => !have.has(o));
  const extra = received.filter((o) => !want.has(o));
  const cut = (l: number[]) => JSON.stringify(l.slice(0, 15)) + (l.length > 15 ? "..." : "");
  return (
    `got ${received.length}, want ${expected.length}: missing ${cut(missing)}, extra ${cut(extra)}, ` +
    `duplicated ${cut(dup)}, first out of order at index ${unordered}`
  );
}

/** True when `list` is strictly increasing. */
export function increasing(list: readonly number[]): boolean {
  return list.every((v, i) => i === 0 || v > list[i - 1]!);
}

// --------------------------------------------------------- socket.io clients

/** WebSocket only, long-polling only, or socket.io-client's default (polling, then upgrade). */
export type Transport = "websocket" | "polling" | "default";

/**
 * An official socket.io-client socket (no automatic reconnection, so the
 * test decides when it comes back) that records every CalcBridge event with
 * the offset the server appended. `drop()` ends its transport as a network
 * failure would; `reconnect()` connects the same socket again (optionally
 * to another node), presenting its pid and last offset as socket.io-client
 * does.
 */
export class SioRecorder {
  readonly socket: ClientSocket;
  readonly got: Got[] = [];
  /** Number of events received when each "connect" fired. */
  readonly connects: { at: number; got: number; recovered: boolean; id: string }[] = [];

  constructor(
    t: Teardown,
    url: string,
    token: string,
    readonly transport: Transport = "websocket",
  ) {
    this.socket = ioClient(url, {
      transports: transport === "default" ? ["polling", "websocket"] : [transport],
      reconnection: false,
      autoConnect: false,
      forceNew: true,
      timeout: WAIT_MS,
      auth: { token },
    });
    this.socket.onAny((event: string, first: unknown, ...rest: unknown[]) => {
      if (isEventType(event)) this.got.push(gotOf(event, first, rest.at(-1)));
    });
    this.socket.on("connect", () => {
      this.connects.push({
        at: Date.now(),
        got: this.got.length,
        recovered: this.socket.recovered,
        id: this.socket.id ?? "",
      });
    });
    t.teardown(() => {
      this.socket.disconnect();
      this.socket.io.engine?.close();
    });
  }

  /** Resolves on the next "connect"; rejects on "connect_error" or after `timeout`. */
  connected(timeout = WAIT_MS): Promise<void> {
    const socket = this.socket;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no connect within ${timeout} ms`));
      }, timeout);
      const onConnect = () => {
        done();
        resolve();
      };
      const onError = (err: Error) => {
        done();
        reject(err);
      };
      const done = () => {
        clearTimeout(timer);
        socket.off("connect", onConnect);
        socket.off("connect_error", onError);
      };
      socket.on("connect", onConnect);
      socket.on("connect_error", onError);
    });
  }

  /** Connects for the first time. */
  async start(): Promise<this> {
    const up = this.connected();
    this.socket.connect();
    await up;
    return this;
  }

  /** `subscribe` each room; throws unless every ack is ok. */
  async subscribe(...rooms: string[]): Promise<void> {
    for (const room of rooms) {
      const ack = (await this.socket.timeout(WAIT_MS).emitWithAck("subscribe", room)) as {
        ok?: boolean;
        reason?: string;
      };
      if (ack.ok !== true) throw new Error(`subscribe ${room}: ${JSON.stringify(ack)}`);
    }
  }

  /** The private session id the server gave (socket.io-client keeps it as `_pid`). */
  get pid(): string | undefined {
    return (this.socket as unknown as { _pid?: string })._pid;
  }

  /** The last offset socket.io-client recorded (what it presents when it comes back). */
  get lastOffset(): string | undefined {
    return (this.socket as unknown as { _lastOffset?: string })._lastOffset;
  }

  /**
   * Ends the transport under the socket (the server sees "transport close",
   * a recoverable reason) and waits for the client's "disconnect".
   */
  async drop(): Promise<void> {
    const gone = new Promise<void>((resolve) => this.socket.once("disconnect", () => resolve()));
    this.socket.io.engine.close();
    const ok = await within(
      gone.then(() => true),
      WAIT_MS,
    );
    if (ok !== true) throw new Error("the client did not see its disconnect");
  }

  /** Connects again (to `url` if given) and resolves once connected. */
  async reconnect(url?: string): Promise<{ recovered: boolean; id: string }> {
    if (url !== undefined) (this.socket.io as unknown as { uri: string }).uri = url;
    const up = this.connected();
    this.socket.connect();
    await up;
    return { recovered: this.socket.recovered, id: this.socket.id ?? "" };
  }

  /** Waits until `n` events have arrived in all. */
  async count(n: number, timeout = WAIT_MS): Promise<Got[]> {
    await waitFor(() => this.got.length >= n, {
      timeout,
      interval: 5,
      message: `${n} socket.io events (got ${this.got.length})`,
    });
    return this.got;
  }

  /** Waits until an event of `src` numbered `seq` has arrived. */
  async seen(src: string, seq: number, timeout = WAIT_MS): Promise<void> {
    await waitFor(() => this.got.some((g) => g.src === src && g.seq === seq), {
      timeout,
      interval: 5,
      message: `event ${src}#${seq} (got ${this.got.length})`,
    });
  }
}

/** A connected SioRecorder subscribed to `rooms`. */
export async function sioRecorder(
  t: Teardown,
  url: string,
  token: string,
  rooms: readonly string[],
  transport: Transport = "websocket",
): Promise<SioRecorder> {
  const client = new SioRecorder(t, url, token, transport);
  await client.start();
  await client.subscribe(...rooms);
  return client;
}

/** The server-side socket of `id` on `node`'s main namespace, waiting for it. */
export function serverSocket(node: EdgeNode, id: string): Promise<ServerSocket> {
  return waitFor(() => node.io.sockets.sockets.get(id), { message: `server socket ${id}` });
}

/** Waits until `node` has no socket `id` any more (its session was stored). */
export async function serverSocketGone(node: EdgeNode, id: string): Promise<void> {
  await waitFor(() => !node.io.sockets.sockets.has(id), { message: `server socket ${id} gone` });
}

// --------------------------------------------------------------- raw clients

/**
 * A `/ws` client that subscribes `room` `since` an offset (or not) and
 * resolves with its answer: the `subscribed` or `recovery_gap` message (and
 * for a gap, the `subscribed` that follows).
 */
export async function rawSubscribe(
  t: Teardown,
  port: number,
  token: string,
  room: string,
  since?: string,
): Promise<{ client: RawClient; answer: Message; gap?: Message }> {
  const client = await rawOpen(t, port, "/ws", { token });
  const first = await client.request({
    type: "subscribe",
    room,
    ...(since !== undefined ? { since } : {}),
  });
  if (first.type === "recovery_gap") {
    return { client, answer: await client.control(), gap: first };
  }
  return { client, answer: first };
}

/**
 * Waits until `room`'s topic on `node` has `n` raw subscribers: the
 * WebSocket of an auto-subscribing endpoint (`/ws/jobs/{id}`, ...) may open
 * on the client before the server's `open` handler has subscribed it, and
 * these endpoints send no `subscribed` to wait for.
 */
export async function rawSubscribers(node: EdgeNode, room: string, n: number): Promise<void> {
  const topic = rawTopic(subjectOf(room));
  await waitFor(() => node.io.app.numSubscribers(topic) >= n, {
    message: `${n} raw subscribers of ${room}`,
  });
}

/** Waits until a raw client has received an event of `src` numbered `seq`. */
export async function rawSeen(client: RawClient, src: string, seq: number, timeout = WAIT_MS) {
  await waitFor(() => rawGot(client).some((g) => g.src === src && g.seq === seq), {
    timeout,
    interval: 5,
    message: `raw event ${src}#${seq} (got ${client.events.length})`,
  });
}
