import { randomId } from "../ids.js";
import { EventEmitter } from "node:events";
import { SocketPacketType, connectReplyText, type StoredSession } from "@calcbridge/protocol";
import type { Frame } from "../engine/transport.js";
import { Adapter } from "./adapter.js";
import { BroadcastOperator } from "./broadcast-operator.js";
import type { Client } from "./client.js";
import { ClusterTimeoutError } from "./cluster-link.js";
import type { Server } from "./server.js";
import type { RemoteSocket } from "./remote-socket.js";
import { Socket } from "./socket.js";

/** Error a middleware passes to `next` to refuse a connection; `data` reaches the client. */
export type MiddlewareError = Error & { data?: unknown };
export type Middleware = (socket: Socket, next: (err?: MiddlewareError) => void) => void;
/** A namespace-wide handler of one client event: the socket and the event's arguments. */
export type EventHandler = (socket: Socket, args: unknown[]) => void;

/** A Socket.IO namespace: its sockets, its middleware, its rooms (the adapter). */
export class Namespace extends EventEmitter {
  readonly sockets = new Map<string, Socket>();
  readonly adapter: Adapter;
  private readonly middleware: Middleware[] = [];
  /** Namespace-wide handlers of client events (see `handle`). */
  readonly handlers = new Map<string, EventHandler>();
  private readonly closeHooks: ((socket: Socket) => void)[] = [];
  // A random start keeps packet ids of different nodes apart, so a cluster
  // broadcast with acks can use the sender's id on every node.
  private ackIds = Math.floor(Math.random() * 2 ** 40);

  constructor(
    readonly server: Server,
    readonly name: string,
  ) {
    super();
    this.adapter = server.createAdapter(name, (id) => this.sockets.get(id));
  }

  /**
   * Handle a client event for every socket of the namespace with one function
   * (no listener per socket). It runs before the socket's own listeners; the
   * last argument is the ack callback when the client asked for one.
   */
  handle(event: string, handler: EventHandler): this {
    this.handlers.set(event, handler);
    return this;
  }

  /** Called for every socket of the namespace when it disconnects. */
  onSocketClose(hook: (socket: Socket) => void): this {
    this.closeHooks.push(hook);
    return this;
  }

  /** @internal A socket of this namespace disconnected. */
  socketClosed(socket: Socket): void {
    for (const hook of this.closeHooks) hook(socket);
  }

  use(fn: Middleware): this {
    this.middleware.push(fn);
    return this;
  }

  /** Namespace-wide packet ids, so a broadcast with acks uses one id for all. */
  nextAckId(): number {
    const id = this.ackIds;
    this.ackIds = (this.ackIds + 1) % Number.MAX_SAFE_INTEGER;
    return id;
  }

  to(room: string | readonly string[]): BroadcastOperator {
    return new BroadcastOperator(this).to(room);
  }
  in(room: string | readonly string[]): BroadcastOperator {
    return this.to(room);
  }
  except(room: string | readonly string[]): BroadcastOperator {
    return new BroadcastOperator(this).except(room);
  }
  get volatile(): BroadcastOperator {
    return new BroadcastOperator(this).volatile;
  }
  get local(): BroadcastOperator {
    return new BroadcastOperator(this).local;
  }
  timeout(ms: number): BroadcastOperator {
    return new BroadcastOperator(this).timeout(ms);
  }

  /** Emit to every socket of the namespace. */
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (typeof event !== "string") throw new Error("event names are strings");
    return new BroadcastOperator(this).emit(event, ...args);
  }

  emitWithAck(event: string, ...args: unknown[]): Promise<unknown[]> {
    return new BroadcastOperator(this).emitWithAck(event, ...args);
  }

  send(...args: unknown[]): this {
    this.emit("message", ...args);
    return this;
  }

  write(...args: unknown[]): this {
    return this.send(...args);
  }

  fetchSockets(): Promise<(Socket | RemoteSocket)[]> {
    return new BroadcastOperator(this).fetchSockets();
  }
  socketsJoin(room: string | readonly string[]): void {
    new BroadcastOperator(this).socketsJoin(room);
  }
  socketsLeave(room: string | readonly string[]): void {
    new BroadcastOperator(this).socketsLeave(room);
  }
  disconnectSockets(close = false): void {
    new BroadcastOperator(this).disconnectSockets(close);
  }

  /**
   * Emit to this namespace's listeners on every other node (socket.io's
   * `serverSideEmit`). With a trailing callback `(err, responses)`, each
   * node's listener may answer through its own last argument.
   */
  serverSideEmit(event: string, ...args: unknown[]): boolean {
    const last = args[args.length - 1];
    const cluster = this.server.cluster;
    if (typeof last !== "function") {
      void cluster?.serverSideEmit(this.name, event, args).catch(() => undefined);
      return true;
    }
    const ack = last as (err: Error | null, responses: unknown[]) => void;
    if (cluster === undefined) {
      ack(null, []);
      return true;
    }
    cluster
      .serverSideEmit(
        this.name,
        event,
        args.slice(0, -1),
        this.server.options.clusterRequestTimeout,
      )
      .then(
        (responses) => ack(null, responses),
        (err: Error) =>
          ack(err, err instanceof ClusterTimeoutError ? (err.partial as unknown[]) : []),
      );
    return true;
  }

  serverSideEmitWithAck(event: string, ...args: unknown[]): Promise<unknown[]> {
    return new Promise((resolve, reject) =>
      this.serverSideEmit(event, ...args, (err: Error | null, responses: unknown[]) =>
        err ? reject(err) : resolve(responses),
      ),
    );
  }

  /** Fire a server-side event of the namespace ("connection", ...). */
  emitReserved(event: string, ...args: unknown[]): void {
    super.emit(event, ...args);
  }

  /** A client asked to join: run the middleware, then connect or refuse. */
  add(client: Client, auth: Record<string, unknown>): void {
    const recovery = this.server.recovery;
    const { pid, offset, ...rest } = auth;
    if (recovery !== undefined && typeof pid === "string") {
      recovery.store.take(pid).then(
        (session) =>
          this.connect(client, rest, session, typeof offset === "string" ? offset : undefined),
        () => this.connect(client, rest, undefined, undefined),
      );
      return;
    }
    this.connect(client, recovery !== undefined ? rest : auth, undefined, undefined);
  }

  private connect(
    client: Client,
    auth: Record<string, unknown>,
    session: StoredSession | undefined,
    offset: string | undefined,
  ): void {
    if (client.session.readyState !== "open") return;
    const recovery = this.server.recovery;
    const since =
      session === undefined ||
      recovery === undefined ||
      session.nsp !== this.name ||
      Date.now() - session.at > recovery.maxDisconnectionMs
        ? undefined
        : (offset ?? session.offset);
    if (session === undefined || recovery === undefined || since === undefined) {
      this.admitFresh(client, auth);
      return;
    }
    const socket = new Socket(this, client, auth, client.session.handshake, session.sid);
    this.admit(socket, () => {
      recovery.replay(socket, session, since, (frames) => {
        if (client.session.readyState !== "open") return;
        if (frames === null) {
          // Not everything can be replayed (or not to this user): a new
          // session, `recovered` false. It goes through the middleware as
          // any new socket does: what the middleware set up belongs to the
          // socket it ran on, which is discarded.
          this.admitFresh(client, auth);
          return;
        }
        socket.pid = session.pid;
        socket.recovered = true;
        socket.data = { ...(session.data as Record<string, unknown>), ...socket.data };
        this.accept(socket, session.rooms, frames);
      });
    });
  }

  /** A new socket (new id, nothing restored) through the middleware, then accepted. */
  private admitFresh(client: Client, auth: Record<string, unknown>): void {
    const socket = new Socket(this, client, auth, client.session.handshake);
    this.admit(socket, () => this.accept(socket, undefined, []));
  }

  /** Run the middleware on `socket`: CONNECT_ERROR on a refusal, else `then`. */
  private admit(socket: Socket, then: () => void): void {
    const client = socket.client;
    this.runMiddleware(socket, (err) => {
      if (client.session.readyState !== "open") return;
      if (err) {
        const data: { message: string; data?: unknown } = { message: err.message };
        if (err.data !== undefined) data.data = err.data;
        client.sendPacket({ type: SocketPacketType.CONNECT_ERROR, nsp: this.name, data });
        return;
      }
      then();
    });
  }

  /**
   * CONNECT, then the replayed frames, then the rooms, all in one tick: the
   * socket joins the live topics right after the last missed event.
   */
  private accept(socket: Socket, rooms: string[] | undefined, frames: Frame[]): void {
    const client = socket.client;
    const recovery = this.server.recovery;
    this.sockets.set(socket.id, socket);
    client.attach(socket);
    socket.connected = true;
    this.adapter.addMember(socket);
    socket.join(socket.id);
    if (recovery !== undefined) {
      socket.pid ??= randomId();
      socket.startOffset = recovery.currentOffset();
    }
    client.session.send([connectReplyText(this.name, socket.id, socket.pid)]);
    if (frames.length > 0) socket.sendFrames(frames, false);
    if (rooms !== undefined && rooms.length > 0) socket.join(rooms);
    this.emitReserved("connection", socket);
    this.emitReserved("connect", socket);
  }

  remove(socket: Socket): void {
    this.sockets.delete(socket.id);
  }

  private runMiddleware(socket: Socket, done: (err?: MiddlewareError) => void): void {
    const fns = this.middleware.slice();
    const step = (i: number): void => {
      const fn = fns[i];
      if (fn === undefined) {
        done();
        return;
      }
      let called = false;
      try {
        fn(socket, (err) => {
          if (called) return;
          called = true;
          if (err) done(err);
          else step(i + 1);
        });
      } catch (err) {
        if (!called) {
          called = true;
          done(err instanceof Error ? err : new Error(String(err)));
        }
      }
    };
    step(0);
  }
}
