import {
  broadcastSubject,
  decodeBusMessage,
  decodeJsonBody,
  encodeBusMessage,
  encodeJsonBody,
  heartbeatSubject,
  packFrames,
  requestSubject,
  unpackFrames,
  type Bus,
  type BusHeader,
  type BusSubscription,
} from "@calcbridge/protocol";
import type { Frame } from "../engine/transport.js";
import type { AdapterHooks, BroadcastOptions } from "../socketio/adapter.js";
import {
  ClusterTimeoutError,
  type ClusterLink,
  type RemoteSocketData,
  type Target,
} from "../socketio/cluster-link.js";
import type { Namespace } from "../socketio/namespace.js";
import type { Server } from "../socketio/server.js";
import type { Socket } from "../socketio/socket.js";

/** Cluster settings. */
export interface ClusterOptions {
  /** This node's id: unique in the cluster. */
  nodeId: string;
  /** Subject prefix (shared by every node). @default "rt" */
  prefix?: string;
  /** How often a node announces itself, in ms. @default 2000 */
  heartbeatIntervalMs?: number;
}

export const DEFAULT_HEARTBEAT_INTERVAL_MS = 2000;

/** Counters of the cluster path (read by metrics). */
export interface ClusterStats {
  broadcastsSent: number;
  broadcastsReceived: number;
  /** Broadcasts or operations that could not reach the bus. */
  forwardFailures: number;
  malformed: number;
}

type Pending = { replies: unknown[]; from: Set<string>; expected: Set<string>; done: () => void };

/**
 * Socket.IO adapter semantics across nodes over the bus: broadcasts (one
 * subject per namespace, frames encoded once by the sender), and fetchSockets,
 * socketsJoin/Leave, disconnectSockets, serverSideEmit and broadcasts with
 * acks as request/reply, with membership from heartbeats so that a request
 * knows which answers to wait for and who stayed silent.
 */
export class Cluster implements ClusterLink {
  readonly stats: ClusterStats = {
    broadcastsSent: 0,
    broadcastsReceived: 0,
    forwardFailures: 0,
    malformed: 0,
  };
  /** Other nodes and when they were last heard from. */
  readonly nodes = new Map<string, number>();
  private server: Server | undefined;
  private readonly subs: BusSubscription[] = [];
  private readonly nspSubs = new Map<string, BusSubscription>();
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly interval: number;
  /** What this node answers to `nodeStats` (the console's per-node numbers). @default undefined */
  nodeStatsSource: (() => Promise<unknown>) | undefined;

  constructor(
    private readonly bus: Bus,
    private readonly options: ClusterOptions,
  ) {
    this.interval = options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
  }

  get nodeId(): string {
    return this.options.nodeId;
  }

  /** Adapter hooks that forward broadcasts to the other nodes. */
  hooks(): Pick<AdapterHooks, "forward"> {
    return { forward: (nsp, frames, options) => this.forward(nsp, frames, options) };
  }

  /** Join the cluster: listen for broadcasts, requests and heartbeats; announce this node. */
  start(server: Server): void {
    this.server = server;
    const prefix = this.options.prefix;
    this.subs.push(this.bus.subscribe(heartbeatSubject(prefix), (d) => this.onHeartbeat(d)));
    this.subs.push(
      this.bus.subscribe(requestSubject(prefix), (d, _s, reply) => this.onRequest(d, reply)),
    );
    for (const nsp of server.namespaces.keys()) this.watchNamespace(nsp);
    server.on("new_namespace", (nsp: Namespace) => this.watchNamespace(nsp.name));
    this.announce(true);
    this.heartbeat = setInterval(() => {
      this.announce(false);
      this.expire();
    }, this.interval);
    this.heartbeat.unref();
  }

  stop(): void {
    clearInterval(this.heartbeat);
    for (const s of this.subs) s.unsubscribe();
    for (const s of this.nspSubs.values()) s.unsubscribe();
    this.subs.length = 0;
    this.nspSubs.clear();
  }

  // --- broadcasts -------------------------------------------------------------

  private watchNamespace(nsp: string): void {
    if (this.nspSubs.has(nsp)) return;
    this.nspSubs.set(
      nsp,
      this.bus.subscribe(broadcastSubject(nsp, this.options.prefix), (d) => this.onBroadcast(d)),
    );
  }

  private forward(nsp: string, frames: readonly Frame[], options: BroadcastOptions): void {
    const { layout, body } = packFrames(frames);
    const header: BusHeader = {
      v: 1,
      kind: "broadcast",
      node: this.nodeId,
      nsp,
      rooms: [...options.rooms],
      except: [...options.except],
      flags: { volatile: options.flags.volatile === true },
    };
    if (layout !== undefined) header["frames"] = layout;
    try {
      this.bus.publish(broadcastSubject(nsp, this.options.prefix), encodeBusMessage(header, body));
      this.stats.broadcastsSent++;
    } catch {
      // Local delivery already happened; the other nodes are out of reach.
      this.stats.forwardFailures++;
    }
  }

  private onBroadcast(data: Uint8Array): void {
    const message = this.decode(data);
    if (
      message === undefined ||
      message.header.kind !== "broadcast" ||
      message.header.node === this.nodeId
    )
      return;
    const { header, body } = message;
    const nsp = this.server?.namespace(header.nsp ?? "");
    if (nsp === undefined) return;
    let frames: Frame[];
    try {
      frames = unpackFrames(header["frames"], body);
    } catch {
      this.stats.malformed++;
      return;
    }
    this.stats.broadcastsReceived++;
    nsp.adapter.broadcastFrames(frames, {
      rooms: new Set(header.rooms ?? []),
      except: new Set(header.except ?? []),
      flags: { volatile: header.flags?.volatile === true },
    });
  }

  // --- membership -----------------------------------------------------------

  private announce(hello: boolean): void {
    try {
      this.bus.publish(
        heartbeatSubject(this.options.prefix),
        encodeBusMessage({ v: 1, kind: "heartbeat", node: this.nodeId, hello }, new Uint8Array()),
      );
    } catch {
      // The bus is down: membership catches up on the next beat.
    }
  }

  private onHeartbeat(data: Uint8Array): void {
    const message = this.decode(data);
    const node = message?.header.node;
    if (message === undefined || node === undefined || node === this.nodeId) return;
    const known = this.nodes.has(node);
    this.nodes.set(node, Date.now());
    // A newcomer says hello: answer at once so it need not wait a full interval.
    if (message.header["hello"] === true && !known) this.announce(false);
  }

  private expire(): void {
    const deadline = Date.now() - this.interval * 3;
    for (const [node, seen] of this.nodes) if (seen < deadline) this.nodes.delete(node);
  }

  // --- requests -------------------------------------------------------------

  /**
   * Send a request to every other node and gather one reply from each known
   * node, until all answered or `timeoutMs` passed (then ClusterTimeoutError
   * with the partial replies and the silent nodes).
   */
  private request(
    op: string,
    nsp: string,
    fields: Record<string, unknown>,
    body: Uint8Array,
    timeoutMs: number,
  ): Promise<unknown[]> {
    const expected = new Set(this.nodes.keys());
    if (expected.size === 0) return Promise.resolve([]);
    const inbox = this.bus.newInbox();
    return new Promise((resolve, reject) => {
      const pending: Pending = { replies: [], from: new Set(), expected, done: () => undefined };
      const sub = this.bus.subscribe(inbox, (data) => {
        const message = this.decode(data);
        const node = message?.header.node;
        if (message === undefined || node === undefined || pending.from.has(node)) return;
        pending.from.add(node);
        try {
          pending.replies.push(decodeJsonBody(message.body));
        } catch {
          this.stats.malformed++;
        }
        if ([...expected].every((n) => pending.from.has(n))) finish();
      });
      const timer = setTimeout(() => finish(), timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        sub.unsubscribe();
        const missing = [...expected].filter((n) => !pending.from.has(n));
        if (missing.length === 0) resolve(pending.replies);
        else reject(new ClusterTimeoutError(pending.replies, missing));
      };
      try {
        this.bus.publish(
          requestSubject(this.options.prefix),
          encodeBusMessage({ v: 1, kind: "request", node: this.nodeId, op, nsp, ...fields }, body),
          { reply: inbox },
        );
      } catch (err) {
        clearTimeout(timer);
        sub.unsubscribe();
        this.stats.forwardFailures++;
        reject(err);
      }
    });
  }

  /** Fire-and-forget operation on every other node. */
  private command(op: string, nsp: string, fields: Record<string, unknown>): void {
    try {
      this.bus.publish(
        requestSubject(this.options.prefix),
        encodeBusMessage(
          { v: 1, kind: "request", node: this.nodeId, op, nsp, ...fields },
          new Uint8Array(),
        ),
      );
    } catch {
      this.stats.forwardFailures++;
    }
  }

  async fetchSockets(nsp: string, target: Target, timeoutMs: number): Promise<RemoteSocketData[]> {
    try {
      const replies = await this.request(
        "fetchSockets",
        nsp,
        { ...target },
        new Uint8Array(),
        timeoutMs,
      );
      return (replies as RemoteSocketData[][]).flat();
    } catch (err) {
      if (err instanceof ClusterTimeoutError) {
        throw new ClusterTimeoutError((err.partial as RemoteSocketData[][]).flat(), err.missing);
      }
      throw err;
    }
  }

  socketsJoin(nsp: string, target: Target, rooms: string[]): void {
    this.command("socketsJoin", nsp, { ...target, args: rooms });
  }

  socketsLeave(nsp: string, target: Target, rooms: string[]): void {
    this.command("socketsLeave", nsp, { ...target, args: rooms });
  }

  disconnectSockets(nsp: string, target: Target, close: boolean): void {
    this.command("disconnectSockets", nsp, { ...target, args: close });
  }

  async broadcastWithAck(
    nsp: string,
    frames: readonly Frame[],
    target: Target & { flags: { volatile?: boolean } },
    ackId: number,
    timeoutMs: number,
  ): Promise<unknown[]> {
    const { layout, body } = packFrames(frames);
    // Remote nodes stop waiting for their clients a little before we stop
    // waiting for them, so their partial answers still arrive.
    const remoteTimeout = Math.max(1, Math.floor(timeoutMs * 0.8));
    try {
      const replies = await this.request(
        "broadcastWithAck",
        nsp,
        {
          rooms: target.rooms,
          except: target.except,
          frames: layout,
          ackId,
          timeout: remoteTimeout,
        },
        body,
        timeoutMs,
      );
      return (replies as unknown[][]).flat();
    } catch (err) {
      if (err instanceof ClusterTimeoutError) {
        throw new ClusterTimeoutError((err.partial as unknown[][]).flat(), err.missing);
      }
      throw err;
    }
  }

  async serverSideEmit(
    nsp: string,
    event: string,
    args: unknown[],
    timeoutMs?: number,
  ): Promise<unknown[]> {
    if (timeoutMs === undefined) {
      this.command("serverSideEmit", nsp, { event, args });
      return [];
    }
    const remoteTimeout = Math.max(1, Math.floor(timeoutMs * 0.8));
    // Replies are `{ value }` or NO_ANSWER_MARK; callers see only the values,
    // also in the partial results of a timeout.
    const values = (replies: unknown[]) =>
      replies.filter((r) => r !== NO_ANSWER_MARK).map((r) => (r as { value: unknown }).value);
    try {
      const replies = await this.request(
        "serverSideEmit",
        nsp,
        { event, args, ack: true, timeout: remoteTimeout },
        new Uint8Array(),
        timeoutMs,
      );
      return values(replies);
    } catch (err) {
      if (err instanceof ClusterTimeoutError) {
        throw new ClusterTimeoutError(values(err.partial), err.missing);
      }
      throw err;
    }
  }

  /**
   * Every other node's `nodeStatsSource()` (for the console's overview), and
   * the known nodes that did not answer within `timeoutMs`.
   */
  async nodeStats(timeoutMs: number): Promise<{ stats: unknown[]; missing: string[] }> {
    try {
      const stats = await this.request("nodeStats", "/", {}, new Uint8Array(), timeoutMs);
      return { stats: stats.filter((s) => s !== null), missing: [] };
    } catch (err) {
      if (err instanceof ClusterTimeoutError) {
        return { stats: err.partial.filter((s) => s !== null), missing: err.missing };
      }
      throw err;
    }
  }

  private onRequest(data: Uint8Array, reply: string | undefined): void {
    const message = this.decode(data);
    if (message === undefined) return;
    const { header, body } = message;
    if (header.kind !== "request" || header.node === this.nodeId) return;
    const nsp = this.server?.namespace(header.nsp ?? "/");
    const answer = (value: unknown) => {
      if (reply === undefined) return;
      try {
        this.bus.publish(
          reply,
          encodeBusMessage({ v: 1, kind: "reply", node: this.nodeId }, encodeJsonBody(value)),
        );
      } catch {
        this.stats.forwardFailures++;
      }
    };
    if (nsp === undefined) {
      answer(header.op === "serverSideEmit" ? NO_ANSWER_MARK : []);
      return;
    }
    const target = { rooms: new Set(header.rooms ?? []), except: new Set(header.except ?? []) };
    const members = () => nsp.adapter.members(target, nsp.sockets.values()) as Set<Socket>;
    const args = header["args"];
    switch (header.op) {
      case "fetchSockets":
        answer([...members()].map((s) => this.describe(s)));
        return;
      case "socketsJoin":
        if (!Array.isArray(args)) return;
        for (const s of members()) {
          try {
            s.join(args as string[]);
          } catch {
            // Over this socket's room limit (LimitError): it joins none of them. A
            // throw here would escape the bus handler and end the process.
          }
        }
        return;
      case "socketsLeave":
        if (Array.isArray(args))
          for (const s of members()) for (const r of args as string[]) s.leave(r);
        return;
      case "disconnectSockets":
        for (const s of members()) s.disconnect(args === true);
        return;
      case "serverSideEmit":
        this.onServerSideEmit(nsp, header, answer);
        return;
      case "broadcastWithAck":
        this.onBroadcastWithAck(nsp, header, body, members(), answer);
        return;
      case "nodeStats":
        (this.nodeStatsSource?.() ?? Promise.resolve(null)).then(answer, () => answer(null));
        return;
      default:
        this.stats.malformed++;
    }
  }

  /** A socket as other nodes see it; `data` that JSON cannot carry travels as null. */
  private describe(s: Socket): RemoteSocketData {
    let data: unknown = null;
    try {
      data = JSON.parse(JSON.stringify(s.data ?? null)) as unknown;
    } catch {
      // Not serialisable (cycles, BigInt): leave it out rather than fail the reply.
    }
    return {
      id: s.id,
      node: this.nodeId,
      handshake: s.handshakeSnapshot(),
      rooms: s.roomList(),
      data,
    };
  }

  private onServerSideEmit(nsp: Namespace, header: BusHeader, answer: (v: unknown) => void): void {
    const event = header["event"];
    const args = Array.isArray(header["args"]) ? (header["args"] as unknown[]) : [];
    if (typeof event !== "string") return;
    if (header["ack"] !== true) {
      nsp.emitReserved(event, ...args);
      return;
    }
    let answered = false;
    const timer = setTimeout(
      () => {
        if (answered) return;
        answered = true;
        answer(NO_ANSWER_MARK);
      },
      typeof header["timeout"] === "number" ? header["timeout"] : 1000,
    );
    if (nsp.listenerCount(event) === 0) {
      clearTimeout(timer);
      answer(NO_ANSWER_MARK);
      return;
    }
    nsp.emitReserved(event, ...args, (value: unknown) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      answer({ value });
    });
  }

  private onBroadcastWithAck(
    nsp: Namespace,
    header: BusHeader,
    body: Uint8Array,
    recipients: Set<Socket>,
    answer: (v: unknown) => void,
  ): void {
    const ackId = header["ackId"];
    if (typeof ackId !== "number") return;
    let frames: Frame[];
    try {
      frames = unpackFrames(header["frames"], body);
    } catch {
      this.stats.malformed++;
      return;
    }
    const responses: unknown[] = [];
    let remaining = recipients.size;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      for (const s of recipients) s.dropAck(ackId);
      answer(responses);
    };
    const timer = setTimeout(
      finish,
      typeof header["timeout"] === "number" ? header["timeout"] : 1000,
    );
    for (const s of recipients) {
      try {
        s.expectAck(ackId, (...reply: unknown[]) => {
          responses.push(reply[0]);
          if (--remaining === 0) finish();
        });
      } catch {
        // Over its pending-ack limit: this client cannot answer.
        remaining--;
      }
    }
    nsp.adapter.broadcastFrames(frames, {
      rooms: new Set(header.rooms ?? []),
      except: new Set(header.except ?? []),
      flags: {},
    });
    if (remaining === 0) finish();
  }

  private decode(data: Uint8Array): { header: BusHeader; body: Uint8Array } | undefined {
    try {
      return decodeBusMessage(data);
    } catch {
      this.stats.malformed++;
      return undefined;
    }
  }
}

/** A node whose namespace has no listener (or whose listener did not answer in time). */
const NO_ANSWER_MARK = "\u0000no-answer";
