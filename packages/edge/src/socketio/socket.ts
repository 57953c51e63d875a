import { randomId } from "../ids.js";
import { EventEmitter } from "node:events";
import {
  SocketPacketType,
  encodeFrames,
  type SocketPacket,
  type StoredSession,
} from "@calcbridge/protocol";
import { AckTimeoutError, LimitError } from "../errors.js";
import type { Frame } from "../engine/transport.js";
import { WebSocketTransport } from "../engine/websocket-transport.js";
import type { HandshakeInfo } from "../engine/session.js";
import type { Member } from "./adapter.js";
import { BroadcastOperator, frameList } from "./broadcast-operator.js";
import type { Client } from "./client.js";
import type { Namespace } from "./namespace.js";
import { RECOVERABLE_REASONS } from "./recovery.js";
import { RESERVED_EVENTS } from "./reserved.js";

/** `socket.handshake`, shaped like socket.io's. */
export interface Handshake {
  headers: Readonly<Record<string, string>>;
  time: string;
  address: string;
  xdomain: boolean;
  secure: boolean;
  issued: number;
  url: string;
  query: Readonly<Record<string, string>>;
  auth: Record<string, unknown>;
}

/** Disconnect reasons, as socket.io names them. */
export type DisconnectReason =
  | "transport error"
  | "transport close"
  | "forced close"
  | "ping timeout"
  | "parse error"
  | "server shutting down"
  | "forced server close"
  | "client namespace disconnect"
  | "server namespace disconnect";

const NO_FLAGS: Readonly<{ volatile?: boolean; timeout?: number }> = Object.freeze({});

type AnyListener = (event: string, ...args: unknown[]) => void;
type AckFn = (...args: unknown[]) => void;

/**
 * A client's connection to one namespace. `emit` sends to the client;
 * `on` receives the client's events (node's EventEmitter carries them).
 */
export class Socket extends EventEmitter implements Member {
  readonly id: string;
  readonly handshake: Handshake;
  readonly rooms = new Set<string>();
  /** Free for the application (socket.io's `socket.data`). */
  data: Record<string, unknown> = {};
  connected = false;
  /** Set by connection state recovery. */
  recovered = false;
  /** Private session id for connection state recovery (sent in CONNECT). */
  pid: string | undefined;
  /** The latest offset when this socket connected (recovery of a client that saw no event). */
  startOffset: string | undefined;
  /** Awaited acknowledgements; created on the first one (most sockets never have any). */
  private acks: Map<number, AckFn> | undefined;
  private anyListeners: AnyListener[] = [];
  private flags: { volatile?: boolean; timeout?: number } = NO_FLAGS;

  constructor(
    readonly nsp: Namespace,
    readonly client: Client,
    auth: Record<string, unknown>,
    info: HandshakeInfo,
    /** A recovered session's id. */
    id?: string,
  ) {
    super();
    this.id = id ?? randomId();
    this.handshake = {
      headers: info.headers,
      time: new Date(info.issued).toString(),
      address: info.address,
      xdomain: info.headers["origin"] !== undefined,
      secure: info.secure,
      issued: info.issued,
      url: info.url,
      query: info.query,
      auth,
    };
  }

  /** The engine session (socket.io's `socket.conn`). */
  get conn() {
    return this.client.session;
  }

  get wsTransport(): WebSocketTransport | undefined {
    const t = this.client.session.transport;
    return t instanceof WebSocketTransport ? t : undefined;
  }

  get disconnected(): boolean {
    return !this.connected;
  }

  sendFrames(frames: readonly Frame[], volatile: boolean): void {
    this.client.session.send(frames, volatile);
  }

  /** Send one packet of this namespace to this client. */
  packet(packet: Omit<SocketPacket, "nsp">, volatile = false): void {
    this.sendFrames(frameList(encodeFrames({ ...packet, nsp: this.nsp.name })), volatile);
  }

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (typeof event !== "string" || RESERVED_EVENTS.has(event)) {
      throw new Error(`"${String(event)}" is a reserved event name`);
    }
    const flags = this.flags;
    this.flags = NO_FLAGS;
    const last = args[args.length - 1];
    if (typeof last !== "function") {
      this.packet(
        { type: SocketPacketType.EVENT, data: [event, ...args] },
        flags.volatile === true,
      );
      return true;
    }
    const id = this.nsp.nextAckId();
    let callback = last as AckFn;
    if (flags.timeout !== undefined) {
      const user = callback;
      const timer = setTimeout(() => {
        this.acks?.delete(id);
        user(new AckTimeoutError());
      }, flags.timeout);
      callback = (...reply: unknown[]) => {
        clearTimeout(timer);
        user(null, ...reply);
      };
    }
    this.expectAck(id, callback);
    this.packet(
      { type: SocketPacketType.EVENT, data: [event, ...args.slice(0, -1)], id },
      flags.volatile === true,
    );
    return true;
  }

  emitWithAck(event: string, ...args: unknown[]): Promise<unknown> {
    const timeout = this.flags.timeout;
    return new Promise((resolve, reject) => {
      const cb =
        timeout !== undefined
          ? (err: Error | null, reply: unknown) => (err ? reject(err) : resolve(reply))
          : (reply: unknown) => resolve(reply);
      this.emit(event, ...args, cb);
    });
  }

  send(...args: unknown[]): this {
    this.emit("message", ...args);
    return this;
  }

  write(...args: unknown[]): this {
    return this.send(...args);
  }

  /** Register an ack callback for packet `id` (also used by broadcasts with acks). */
  expectAck(id: number, fn: AckFn): void {
    const acks = (this.acks ??= new Map());
    if (acks.size >= this.nsp.server.options.maxPendingAcks) {
      throw new LimitError(
        "ERR_TOO_MANY_ACKS",
        `socket ${this.id} already awaits ${acks.size} acknowledgements`,
      );
    }
    acks.set(id, fn);
  }

  dropAck(id: number): void {
    this.acks?.delete(id);
  }

  timeout(ms: number): this {
    this.flags = { ...this.flags, timeout: ms };
    return this;
  }

  get volatile(): this {
    this.flags = { ...this.flags, volatile: true };
    return this;
  }

  compress(_compress: boolean): this {
    return this;
  }

  get local(): this {
    return this;
  }

  join(rooms: string | readonly string[]): void {
    const list = typeof rooms === "string" ? [rooms] : rooms;
    let added = 0;
    for (const r of list) if (!this.rooms.has(r)) added++;
    if (this.rooms.size + added > this.nsp.server.options.maxRoomsPerSocket) {
      throw new LimitError(
        "ERR_TOO_MANY_ROOMS",
        `socket ${this.id} may be in at most ${this.nsp.server.options.maxRoomsPerSocket} rooms`,
      );
    }
    this.nsp.adapter.addAll(this, list);
  }

  leave(room: string): void {
    this.nsp.adapter.del(this, room);
  }

  /** Everyone in `room` but this socket (`socket.to(room).emit`). */
  to(room: string | readonly string[]): BroadcastOperator {
    return new BroadcastOperator(this.nsp, undefined, new Set([this.id])).to(room);
  }

  in(room: string | readonly string[]): BroadcastOperator {
    return this.to(room);
  }

  except(room: string | readonly string[]): BroadcastOperator {
    return new BroadcastOperator(this.nsp, undefined, new Set([this.id])).except(room);
  }

  /** Everyone in the namespace but this socket. */
  get broadcast(): BroadcastOperator {
    return new BroadcastOperator(this.nsp, undefined, new Set([this.id]));
  }

  disconnect(close = false): this {
    if (!this.connected) return this;
    if (close) {
      this.client.disconnectAll();
      return this;
    }
    this.packet({ type: SocketPacketType.DISCONNECT });
    this.onclose("server namespace disconnect");
    return this;
  }

  onAny(listener: AnyListener): this {
    this.anyListeners.push(listener);
    return this;
  }

  prependAny(listener: AnyListener): this {
    this.anyListeners.unshift(listener);
    return this;
  }

  offAny(listener?: AnyListener): this {
    this.anyListeners = listener ? this.anyListeners.filter((l) => l !== listener) : [];
    return this;
  }

  listenersAny(): AnyListener[] {
    return [...this.anyListeners];
  }

  /** Fire a server-side event (connect, disconnecting, disconnect, ...). */
  emitReserved(event: string, ...args: unknown[]): void {
    super.emit(event, ...args);
  }

  /** A packet from the client for this namespace. */
  onpacket(packet: SocketPacket): void {
    if (!this.connected) return;
    switch (packet.type) {
      case SocketPacketType.EVENT:
      case SocketPacketType.BINARY_EVENT:
        this.onevent(packet);
        return;
      case SocketPacketType.ACK:
      case SocketPacketType.BINARY_ACK: {
        const fn = packet.id === undefined ? undefined : this.acks?.get(packet.id);
        if (fn === undefined) return; // late or unknown ack: socket.io ignores it too
        this.acks!.delete(packet.id!);
        fn(...(packet.data as unknown[]));
        return;
      }
      case SocketPacketType.DISCONNECT:
        this.onclose("client namespace disconnect");
        return;
      default:
        // CONNECT twice or CONNECT_ERROR from a client: invalid in this state.
        this.client.close("forced close");
    }
  }

  private onevent(packet: SocketPacket): void {
    const args = [...(packet.data as unknown[])];
    const event = args[0];
    if (typeof event === "string" && RESERVED_EVENTS.has(event)) {
      // socket.io-parser refuses reserved names as an invalid payload, and
      // socket.io closes the connection on that.
      this.client.close("forced close");
      return;
    }
    if (typeof event !== "string") return;
    if (packet.id !== undefined) args.push(this.ackFor(packet.id));
    for (const l of this.anyListeners.slice()) l(...(args as [string, ...unknown[]]));
    this.nsp.handlers.get(event)?.(this, args.slice(1));
    if (event === "error" && this.listenerCount("error") === 0) return;
    super.emit(...(args as [string, ...unknown[]]));
  }

  private ackFor(id: number): AckFn {
    let sent = false;
    return (...reply: unknown[]) => {
      if (sent || !this.connected) return;
      sent = true;
      this.packet({ type: SocketPacketType.ACK, id, data: reply });
    };
  }

  /** Leave everything and tell the listeners. Idempotent. */
  onclose(reason: DisconnectReason, description?: unknown): void {
    if (!this.connected) return;
    this.emitReserved("disconnecting", reason, description);
    const recovery = this.nsp.server.recovery;
    if (recovery !== undefined && this.pid !== undefined && RECOVERABLE_REASONS.has(reason)) {
      const session: StoredSession = {
        sid: this.id,
        pid: this.pid,
        nsp: this.nsp.name,
        rooms: [...this.rooms].filter((r) => r !== this.id),
        data: this.data,
        at: Date.now(),
        ...(this.startOffset !== undefined ? { offset: this.startOffset } : {}),
      };
      recovery.store.save(session).catch(() => undefined);
    }
    this.nsp.adapter.delAll(this);
    this.nsp.remove(this);
    this.client.remove(this);
    this.connected = false;
    this.acks = undefined;
    this.nsp.socketClosed(this);
    this.emitReserved("disconnect", reason, description);
  }
}
