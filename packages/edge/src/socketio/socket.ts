import { randomId } from "../ids.js";
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
import { LiteEmitter } from "./lite-emitter.js";
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

/** The rarely used part of a socket. */
interface SocketExtras {
  recovered: boolean;
  pid: string | undefined;
  startOffset: string | undefined;
  handshake: Handshake | undefined;
  anyListeners: AnyListener[] | undefined;
  /** Awaited acknowledgements. */
  acks: Map<number, AckFn> | undefined;
  /** Flags for the next emit (`socket.volatile`, `socket.timeout(ms)`). */
  flags: Readonly<{ volatile?: boolean; timeout?: number }>;
  /** Its recovery session was stored ahead of the close (drain). */
  sessionSaved: boolean;
}

/**
 * A client's connection to one namespace. `emit` sends to the client;
 * `on` receives the client's events.
 *
 * An idle socket is most of a connection's memory, so what most sockets
 * never use is created on first use: the listener table, `handshake` (built
 * from the engine's compact copy of the request), the `rooms` Set (a socket
 * in no room but its own has none), the ack table.
 */
export class Socket extends LiteEmitter implements Member {
  readonly id: string;
  /** Free for the application (socket.io's `socket.data`). */
  data: Record<string, unknown> = {};
  connected = false;
  /**
   * @internal Per-socket state of the layer that admitted the socket (the
   * CalcBridge API keeps its token lease here: a field costs less than a
   * WeakMap entry).
   */
  attachment: unknown;
  private roomSet: Set<string> | undefined;
  /** In its own id room while `roomSet` does not exist yet. */
  private inOwnRoom = false;
  /** What few sockets use, in one object made on first use. */
  private extras: SocketExtras | undefined;

  constructor(
    readonly nsp: Namespace,
    readonly client: Client,
    /** The CONNECT packet's payload (`handshake.auth`); undefined: `{}`. */
    private auth: Record<string, unknown> | undefined,
    private readonly info: HandshakeInfo,
    /** A recovered session's id. */
    id?: string,
  ) {
    super();
    this.id = id ?? randomId();
  }

  private get more(): SocketExtras {
    return (this.extras ??= {
      recovered: false,
      pid: undefined,
      startOffset: undefined,
      handshake: undefined,
      anyListeners: undefined,
      acks: undefined,
      flags: NO_FLAGS,
      sessionSaved: false,
    });
  }

  private get acks(): Map<number, AckFn> | undefined {
    return this.extras?.acks;
  }
  private set acks(value: Map<number, AckFn> | undefined) {
    if (value !== undefined || this.extras !== undefined) this.more.acks = value;
  }

  private get flags(): Readonly<{ volatile?: boolean; timeout?: number }> {
    return this.extras?.flags ?? NO_FLAGS;
  }
  private set flags(value: Readonly<{ volatile?: boolean; timeout?: number }>) {
    if (value !== NO_FLAGS || this.extras !== undefined) this.more.flags = value;
  }

  /** Set by connection state recovery. */
  get recovered(): boolean {
    return this.extras?.recovered ?? false;
  }
  set recovered(value: boolean) {
    if (value || this.extras !== undefined) this.more.recovered = value;
  }

  /** Private session id for connection state recovery (sent in CONNECT). */
  get pid(): string | undefined {
    return this.extras?.pid;
  }
  set pid(value: string | undefined) {
    if (value !== undefined || this.extras !== undefined) this.more.pid = value;
  }

  /** The latest offset when this socket connected (recovery of a client that saw no event). */
  get startOffset(): string | undefined {
    return this.extras?.startOffset;
  }
  set startOffset(value: string | undefined) {
    if (value !== undefined || this.extras !== undefined) this.more.startOffset = value;
  }

  private get anyListeners(): AnyListener[] | undefined {
    return this.extras?.anyListeners;
  }
  private set anyListeners(value: AnyListener[] | undefined) {
    if (value !== undefined || this.extras !== undefined) this.more.anyListeners = value;
  }

  /** socket.io's `socket.handshake`, built on first use. */
  get handshake(): Handshake {
    const more = this.more;
    return (more.handshake ??= this.buildHandshake());
  }

  /**
   * `handshake` for a one-off reader (a fetchSockets reply to another node):
   * built again rather than kept on every socket a cluster query touched.
   */
  handshakeSnapshot(): Handshake {
    return this.extras?.handshake ?? this.buildHandshake();
  }

  private buildHandshake(): Handshake {
    const info = this.info;
    return {
      headers: info.headers,
      time: new Date(info.issued).toString(),
      address: info.address,
      xdomain: info.header("origin") !== undefined,
      secure: info.secure,
      issued: info.issued,
      url: info.url,
      query: info.query,
      auth: (this.auth ??= {}),
    };
  }

  /** One field of the CONNECT payload, without building `handshake`. */
  authField(name: string): unknown {
    return this.auth?.[name];
  }

  /** The request's query and headers, for a token looked up without `auth`. */
  get request(): HandshakeInfo {
    return this.info;
  }

  /**
   * Drop a field of the CONNECT payload (a credential the application has
   * checked and should not keep, nor send to other nodes in fetchSockets).
   */
  forgetAuthField(name: string): void {
    if (this.auth === undefined || !(name in this.auth)) return;
    const { [name]: _dropped, ...rest } = this.auth;
    // Nothing left: the object is made again if `handshake` is ever built.
    this.auth = Object.keys(rest).length > 0 ? rest : undefined;
    const handshake = this.extras?.handshake;
    if (handshake !== undefined) handshake.auth = rest;
  }

  /** The rooms this socket is in, its own id room included. */
  get rooms(): Set<string> {
    if (this.roomSet !== undefined) return this.roomSet;
    this.roomSet = new Set(this.inOwnRoom ? [this.id] : []);
    this.inOwnRoom = false;
    return this.roomSet;
  }

  /** Whether the socket is in `room`, without creating the rooms Set. */
  hasRoom(room: string): boolean {
    if (this.roomSet !== undefined) return this.roomSet.has(room);
    return this.inOwnRoom && room === this.id;
  }

  /** @internal (the adapter's) Record `room`; the own id room alone needs no Set. */
  addRoom(room: string): boolean {
    if (this.hasRoom(room)) return false;
    if (this.roomSet === undefined && room === this.id) this.inOwnRoom = true;
    else this.rooms.add(room);
    return true;
  }

  /** @internal (the adapter's) Forget `room`. */
  deleteRoom(room: string): boolean {
    if (this.roomSet !== undefined) return this.roomSet.delete(room);
    if (!this.inOwnRoom || room !== this.id) return false;
    this.inOwnRoom = false;
    return true;
  }

  /** The rooms, or none, without creating the Set. */
  roomList(): string[] {
    if (this.roomSet !== undefined) return [...this.roomSet];
    return this.inOwnRoom ? [this.id] : [];
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

  emit(event: string | symbol, ...args: unknown[]): boolean {
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
    for (const r of list) if (!this.hasRoom(r)) added++;
    if (added === 0) return;
    const size = this.roomSet?.size ?? (this.inOwnRoom ? 1 : 0);
    if (size + added > this.nsp.server.options.maxRoomsPerSocket) {
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
    (this.anyListeners ??= []).push(listener);
    return this;
  }

  prependAny(listener: AnyListener): this {
    (this.anyListeners ??= []).unshift(listener);
    return this;
  }

  offAny(listener?: AnyListener): this {
    const rest = listener ? (this.anyListeners ?? []).filter((l) => l !== listener) : [];
    this.anyListeners = rest.length > 0 ? rest : undefined;
    return this;
  }

  listenersAny(): AnyListener[] {
    return [...(this.anyListeners ?? [])];
  }

  /** Fire a server-side event (connect, disconnecting, disconnect, ...). */
  emitReserved(event: string, ...args: unknown[]): void {
    this.emitLocal(event, args);
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
    if (this.anyListeners !== undefined)
      for (const l of this.anyListeners.slice()) l(...(args as [string, ...unknown[]]));
    this.nsp.handlers.get(event)?.(this, args.slice(1));
    this.emitLocal(event, args.slice(1));
  }

  private ackFor(id: number): AckFn {
    let sent = false;
    return (...reply: unknown[]) => {
      if (sent || !this.connected) return;
      sent = true;
      this.packet({ type: SocketPacketType.ACK, id, data: reply });
    };
  }

  /**
   * Store what connection state recovery needs to resume this socket
   * elsewhere (rooms, data, offset), now. A drain calls it before closing
   * the connection, so a client that reconnects at once finds its session;
   * the close then does not store it again. Resolves at once without
   * recovery.
   */
  async saveRecoverySession(): Promise<void> {
    const recovery = this.nsp.server.recovery;
    const pid = this.pid;
    if (recovery === undefined || pid === undefined || !this.connected) return;
    const session: StoredSession = {
      sid: this.id,
      pid,
      nsp: this.nsp.name,
      rooms: this.roomList().filter((r) => r !== this.id),
      data: this.data,
      at: Date.now(),
      ...(this.startOffset !== undefined ? { offset: this.startOffset } : {}),
    };
    await recovery.store.save(session);
    // Only a stored session spares the close its own save (a failed one is retried there).
    this.more.sessionSaved = true;
  }

  /** Leave everything and tell the listeners. Idempotent. */
  onclose(reason: DisconnectReason, description?: unknown): void {
    if (!this.connected) return;
    this.emitReserved("disconnecting", reason, description);
    if (RECOVERABLE_REASONS.has(reason) && this.extras?.sessionSaved !== true) {
      this.saveRecoverySession().catch(() => undefined);
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
