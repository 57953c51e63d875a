import { EventEmitter } from "node:events";
import { loadUws, type Uws } from "../uws.js";
import { EngineServer } from "../engine/server.js";
import type { EngineCloseReason, EngineSession } from "../engine/session.js";
import { Adapter, type AdapterHooks, type Member } from "./adapter.js";
import { BroadcastOperator } from "./broadcast-operator.js";
import { Client } from "./client.js";
import type { ClusterLink } from "./cluster-link.js";
import type { ConnectionStateRecovery } from "./recovery.js";
import { Namespace, type Middleware } from "./namespace.js";
import { parseServerOptions, type ServerOptions } from "./options.js";
import type { RemoteSocket } from "./remote-socket.js";
import type { Socket } from "./socket.js";

export interface ServerInit extends Partial<ServerOptions> {
  /** An existing uWS app to attach to (the edge node shares one app). */
  app?: Uws.TemplatedApp;
  /** Room and broadcast hooks of every namespace's adapter (bus interest, cluster). */
  hooks?: AdapterHooks;
  /** The other nodes, for fetchSockets, socketsJoin, serverSideEmit, acks across the cluster. */
  cluster?: ClusterLink;
  /** Connection state recovery; off when absent. */
  recovery?: ConnectionStateRecovery;
}

/**
 * A Socket.IO v4 server on uWebSockets.js: `io.of`, `io.use`,
 * `io.on("connection")`, `io.to(room).emit`, `io.listen`, `io.close`.
 */
export class Server extends EventEmitter {
  readonly options: Readonly<ServerOptions>;
  readonly app: Uws.TemplatedApp;
  readonly engine: EngineServer;
  /** True when uWebSockets.js runs on its native binary. */
  readonly nativeUws: boolean;
  private readonly nsps = new Map<string, Namespace>();
  private readonly hooks: AdapterHooks;
  /** Cross-node operations; undefined on a single node. */
  cluster: ClusterLink | undefined;
  /** Connection state recovery; undefined when off. */
  recovery: ConnectionStateRecovery | undefined;
  /**
   * A client's first CONNECT was accepted (by any namespace), and that
   * client's connection closed. Sessions refused or never connected are
   * reported by neither.
   */
  onclientaccepted: ((session: EngineSession) => void) | undefined;
  onclientclosed: ((session: EngineSession, reason: EngineCloseReason) => void) | undefined;
  private listenSocket: Uws.us_listen_socket | undefined;
  private readonly uws: typeof Uws;

  constructor(init: ServerInit = {}) {
    super();
    const { app, hooks, cluster, recovery, ...options } = init;
    this.cluster = cluster;
    this.recovery = recovery;
    this.options = parseServerOptions(options);
    const { mod, native } = loadUws({ allowFallback: this.options.allowUwsFallback });
    this.uws = mod;
    this.nativeUws = native;
    this.app = app ?? mod.App();
    this.hooks = hooks ?? {};
    this.engine = new EngineServer(this.options);
    this.engine.onconnection = (session) => new Client(this, session);
    this.engine.attach(this.app);
    this.of("/");
  }

  /** Clients that have not joined a namespace yet, and when they must have (ms since epoch). */
  private readonly awaitingConnect = new Map<Client, number>();
  private connectSweep: NodeJS.Timeout | undefined;

  /**
   * @internal A new client must send CONNECT within connectTimeout. One
   * sweep per server, not a timer per connection: a client is closed at
   * most a quarter of connectTimeout late.
   */
  awaitConnect(client: Client): void {
    const timeout = this.options.connectTimeout;
    this.awaitingConnect.set(client, Date.now() + timeout);
    if (this.connectSweep !== undefined) return;
    this.connectSweep = setInterval(
      () => {
        const now = Date.now();
        // Deadlines grow in insertion order: stop at the first one to come.
        for (const [c, deadline] of this.awaitingConnect) {
          if (deadline > now) break;
          this.awaitingConnect.delete(c);
          c.connectTimedOut();
        }
        if (this.awaitingConnect.size === 0) {
          clearInterval(this.connectSweep);
          this.connectSweep = undefined;
        }
      },
      Math.max(5, Math.ceil(timeout / 4)),
    );
    this.connectSweep.unref();
  }

  /** @internal The client joined a namespace, or is gone. */
  connectSettled(client: Client): void {
    this.awaitingConnect.delete(client);
  }

  /** Engine.IO sessions of clients a namespace accepted (see {@link onclientaccepted}). */
  *acceptedSessions(): IterableIterator<EngineSession> {
    for (const session of this.engine.sessions.values())
      if (session.handler instanceof Client && session.handler.accepted) yield session;
  }

  /** The main namespace (socket.io's `io.sockets`). */
  get sockets(): Namespace {
    return this.nsps.get("/")!;
  }

  createAdapter(nsp: string, lookup?: (id: string) => Member | undefined): Adapter {
    return new Adapter(nsp, this.app, this.hooks, lookup);
  }

  /** Get or create a namespace. */
  of(name: string): Namespace {
    const normalized = name.startsWith("/") ? name : `/${name}`;
    let nsp = this.nsps.get(normalized);
    if (nsp === undefined) {
      nsp = new Namespace(this, normalized);
      this.nsps.set(normalized, nsp);
      this.emit("new_namespace", nsp);
    }
    return nsp;
  }

  /** An existing namespace, or undefined (clients cannot create namespaces). */
  namespace(name: string): Namespace | undefined {
    return this.nsps.get(name);
  }

  get namespaces(): ReadonlyMap<string, Namespace> {
    return this.nsps;
  }

  /** Middleware of the main namespace. */
  use(fn: Middleware): this {
    this.sockets.use(fn);
    return this;
  }

  /**
   * `new_namespace` is the server's own event; every other one ("connection",
   * server-side events of `serverSideEmit`) belongs to the main namespace.
   */
  override on(event: string | symbol, listener: (...args: never[]) => void): this {
    if (event === "new_namespace") return super.on(event, listener as (...args: unknown[]) => void);
    this.sockets.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  to(room: string | readonly string[]): BroadcastOperator {
    return this.sockets.to(room);
  }
  in(room: string | readonly string[]): BroadcastOperator {
    return this.sockets.in(room);
  }
  except(room: string | readonly string[]): BroadcastOperator {
    return this.sockets.except(room);
  }
  get volatile(): BroadcastOperator {
    return this.sockets.volatile;
  }
  get local(): BroadcastOperator {
    return this.sockets.local;
  }
  timeout(ms: number): BroadcastOperator {
    return this.sockets.timeout(ms);
  }
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === "new_namespace") return super.emit(event, ...args);
    return this.sockets.emit(event, ...args);
  }
  emitWithAck(event: string, ...args: unknown[]): Promise<unknown[]> {
    return this.sockets.emitWithAck(event, ...args);
  }
  send(...args: unknown[]): this {
    this.sockets.send(...args);
    return this;
  }
  fetchSockets(): Promise<(Socket | RemoteSocket)[]> {
    return this.sockets.fetchSockets();
  }
  socketsJoin(room: string | readonly string[]): void {
    this.sockets.socketsJoin(room);
  }
  socketsLeave(room: string | readonly string[]): void {
    this.sockets.socketsLeave(room);
  }
  disconnectSockets(close = false): void {
    this.sockets.disconnectSockets(close);
  }
  serverSideEmit(event: string, ...args: unknown[]): boolean {
    return this.sockets.serverSideEmit(event, ...args);
  }
  serverSideEmitWithAck(event: string, ...args: unknown[]): Promise<unknown[]> {
    return this.sockets.serverSideEmitWithAck(event, ...args);
  }

  /** Listen on `port` (0 picks a free one); resolves to the bound port. */
  listen(port: number, host = "0.0.0.0"): Promise<number> {
    return new Promise((resolve, reject) => {
      this.app.listen(host, port, (socket) => {
        if (socket === false) {
          reject(new Error(`could not listen on ${host}:${port}`));
          return;
        }
        this.listenSocket = socket;
        resolve(this.uws.us_socket_local_port(socket));
      });
    });
  }

  /** Stop listening, disconnect every socket ("server shutting down"), close sessions with 1001. */
  async close(): Promise<void> {
    if (this.listenSocket !== undefined) {
      this.uws.us_listen_socket_close(this.listenSocket);
      this.listenSocket = undefined;
    }
    for (const nsp of this.nsps.values()) {
      for (const socket of [...nsp.sockets.values()]) socket.onclose("server shutting down");
    }
    this.engine.closeAll("server shutting down");
    clearInterval(this.connectSweep);
    this.connectSweep = undefined;
    this.awaitingConnect.clear();
    // Also ends idle keep-alive HTTP connections, which would hold the process.
    (this.app as Uws.TemplatedApp & { close?: () => void }).close?.();
  }
}
