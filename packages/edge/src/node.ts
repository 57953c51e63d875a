import { parseSubject, type Bus, type History, type SessionStore } from "@calcbridge/protocol";
import { Delivery } from "./api/delivery.js";
import { attachHttpPublish } from "./api/http-publish.js";
import type { ApiObserver } from "./api/observer.js";
import { Publisher, type PublishedEvent } from "./api/publisher.js";
import { DEFAULT_RAW_API_OPTIONS, RawApi, type RawApiOptions } from "./api/raw-api.js";
import { SocketIoApi } from "./api/socketio-api.js";
import { createTokenVerifier, type AuthOptions, type TokenVerifier } from "./auth/verifier.js";
import { MemoryBus } from "./bus/memory-bus.js";
import { MemorySessionStore } from "./history/memory-session-store.js";
import { apiRecovery } from "./api/recovery.js";
import type { ConnectionStateRecovery } from "./socketio/recovery.js";
import {
  DEFAULT_HISTORY_LIMITS,
  MemoryHistory,
  type HistoryLimits,
} from "./history/memory-history.js";
import { Cluster } from "./cluster/cluster.js";
import { attachConsole } from "./http/console.js";
import { readNodeStats } from "./http/console-api.js";
import { attachHealth, attachNotFound } from "./http/health.js";
import { attachMetrics } from "./http/metrics-endpoint.js";
import { createLogger, type Logger } from "./logger.js";
import { EdgeMetrics, bump, newCounters, type EdgeCounters } from "./metrics.js";
import { Server } from "./socketio/server.js";
import type { Socket } from "./socketio/socket.js";
import type { EngineSession } from "./engine/session.js";
import type { ServerOptions } from "./socketio/options.js";
import { loadUws, type Uws } from "./uws.js";

/** Shortest time between two batches of clients closed by a drain, in ms. */
const DRAIN_TICK_MS = 50;

/**
 * Bound on storing a Socket.IO client's recovery session before a drain
 * closes it, in ms: past it the client is closed anyway (a JetStream store
 * answers in about a millisecond; one that does not answer must not hold the
 * drain).
 */
export const DRAIN_SAVE_TIMEOUT_MS = 1000;

/** How long a disconnected Socket.IO session may be recovered by default, in ms. */
export const DEFAULT_MAX_DISCONNECTION_MS = 120_000;

/** Everything an edge node is built from. */
export interface EdgeNodeOptions {
  /** How tokens are verified (or a ready verifier). */
  auth: AuthOptions | { verifier: TokenVerifier };
  /** The bus. @default a new MemoryBus (embedded, single node) */
  bus?: Bus;
  /** Names the node in logs, metrics and the cluster. @default "edge" */
  nodeId?: string;
  /** Socket.IO / Engine.IO options. @default DEFAULT_SERVER_OPTIONS */
  io?: Partial<ServerOptions>;
  /** Raw API limits. @default DEFAULT_RAW_API_OPTIONS */
  raw?: Partial<RawApiOptions>;
  /** First token of every subject. @default "rt" */
  subjectPrefix?: string;
  /** The root logger. @default a pino logger at "info" on stdout */
  logger?: Logger;
  /** Serve `/metrics` on its own port instead of the main one. @default undefined */
  metricsPort?: number;
  /** Serve the built-in web console under `/console`. @default false */
  consoleEnabled?: boolean;
  /**
   * The console credential: the console's overview API wants `Authorization:
   * Bearer <consoleToken>`. Unset, the overview is open (dev mode only).
   * @default undefined
   */
  consoleToken?: string;
  /**
   * Recent events for returning clients: a History (JetStreamHistory in a
   * cluster), or false for none. @default a MemoryHistory on the embedded bus, none on NATS
   */
  history?: History | false;
  /** Retention of the default MemoryHistory. @default DEFAULT_HISTORY_LIMITS */
  historyLimits?: Partial<HistoryLimits>;
  /** Where Socket.IO sessions wait for recovery. @default a MemorySessionStore */
  sessions?: SessionStore;
  /** How long a disconnected Socket.IO session may be recovered, in ms. @default 120000 */
  maxDisconnectionMs?: number;
}

/**
 * One edge node: the Socket.IO server and the raw API on one uWS app, the
 * publisher, the bus delivery path (and the cluster over NATS), metrics,
 * logs, health and drain.
 */
export class EdgeNode {
  readonly io: Server;
  readonly bus: Bus;
  readonly publisher: Publisher;
  readonly delivery: Delivery;
  readonly rawApi: RawApi;
  readonly nodeId: string;
  /** Cross-node operations; undefined on the embedded bus. */
  readonly cluster: Cluster | undefined;
  readonly counters: EdgeCounters = newCounters();
  readonly metrics: EdgeMetrics;
  readonly log: Logger;
  /** Recent events for returning clients; undefined when off. */
  readonly history: History | undefined;
  draining = false;
  private listening = false;
  private readonly metricsPort: number | undefined;
  private metricsApp: { app: Uws.TemplatedApp; socket?: Uws.us_listen_socket } | undefined;

  private constructor(options: EdgeNodeOptions, verifier: TokenVerifier) {
    this.nodeId = options.nodeId ?? "edge";
    this.log = options.logger ?? createLogger({ nodeId: this.nodeId });
    this.bus = options.bus ?? new MemoryBus();
    this.metricsPort = options.metricsPort;
    const prefix = options.subjectPrefix;
    const observer = this.observer();
    const limits = { ...DEFAULT_HISTORY_LIMITS, ...options.historyLimits };
    const history =
      options.history === false
        ? undefined
        : (options.history ?? (this.bus.kind === "memory" ? new MemoryHistory(limits) : undefined));
    this.history = history;
    // API rooms of the main namespace are named by their subject: a node holds
    // the subject's bus subscription while it has local members.
    const isApiRoom = (nsp: string, room: string) =>
      nsp === "/" && parseSubject(room, prefix) !== null;
    // Several nodes share a bus only through NATS; the embedded bus is one node.
    const cluster =
      this.bus.kind === "nats"
        ? new Cluster(this.bus, { nodeId: this.nodeId, ...(prefix ? { prefix } : {}) })
        : undefined;
    this.cluster = cluster;
    // Recovery is offered where there is history to replay from.
    let recovery: ConnectionStateRecovery | undefined;
    if (history !== undefined) {
      const maxDisconnectionMs = options.maxDisconnectionMs ?? DEFAULT_MAX_DISCONNECTION_MS;
      recovery = apiRecovery({
        delivery: () => this.delivery,
        store: options.sessions ?? new MemorySessionStore(maxDisconnectionMs),
        maxDisconnectionMs,
        replayLimit: limits.maxPerRoom,
        ...(prefix !== undefined ? { subjectPrefix: prefix } : {}),
      });
    }
    this.io = new Server({
      ...options.io,
      ...(cluster ? { cluster } : {}),
      ...(recovery ? { recovery } : {}),
      hooks: {
        ...cluster?.hooks(),
        roomCreated: (nsp, room) => {
          if (isApiRoom(nsp, room)) this.delivery.acquire(room);
        },
        roomDeleted: (nsp, room) => {
          if (isApiRoom(nsp, room)) this.delivery.release(room);
        },
      },
    });
    cluster?.start(this.io);
    this.metrics = new EdgeMetrics(this);
    const delivery = new Delivery(
      this.io.app,
      this.bus,
      () => this.io.sockets.adapter,
      {
        delivered: (protocol, frames, bytes) => {
          this.counters.framesDelivered[protocol] += frames;
          this.counters.bytesDelivered[protocol] += bytes;
        },
        handoff: (seconds) => this.metrics.handoff.observe(seconds),
      },
      history,
      prefix,
    );
    this.delivery = delivery;
    this.publisher = new Publisher(
      this.bus,
      prefix,
      history instanceof MemoryHistory ? history : undefined,
    );
    const rawOptions = {
      ...DEFAULT_RAW_API_OPTIONS,
      replayLimit: limits.maxPerRoom,
      ...options.raw,
      subjectPrefix: prefix,
    };
    this.rawApi = new RawApi(verifier, delivery, rawOptions, observer);
    this.rawApi.attach(this.io.app);
    new SocketIoApi(
      verifier,
      {
        maxSubscriptions: rawOptions.maxSubscriptions,
        subjectPrefix: prefix,
        ready: (subject) => this.delivery.ready(subject),
      },
      observer,
    ).attach(this.io.sockets);
    // A Socket.IO connection counts once a namespace accepts its CONNECT, as a
    // raw one does once its token is verified: refused sessions are not connections.
    this.io.onclientaccepted = (s) => observer.connected("socketio", s.id, s.transport.name);
    this.io.onclientclosed = (s, reason) => observer.disconnected("socketio", reason, s.id);
    attachHttpPublish(this.io.app, verifier, this.publisher, observer);
    attachHealth(this.io.app, () => this.notReadyReasons());
    if (this.metricsPort === undefined) attachMetrics(this.io.app, this.metrics);
    attachNotFound(this.io.app);
    // The web console (off: /console is a 404); every node answers nodeStats, console or not.
    if (cluster) cluster.nodeStatsSource = () => readNodeStats(this);
    attachConsole(this.io.app, this, {
      enabled: options.consoleEnabled === true,
      ...(options.consoleToken === undefined ? {} : { token: options.consoleToken }),
      log: this.log,
    });
    this.bus.onStatus((status) => {
      if (status === "connected") this.log.info({ bus: this.bus.kind }, "bus connected");
      else
        this.log.warn({ bus: this.bus.kind, status }, "bus not connected: publishes are refused");
    });
  }

  static async create(options: EdgeNodeOptions): Promise<EdgeNode> {
    const verifier =
      "verifier" in options.auth ? options.auth.verifier : await createTokenVerifier(options.auth);
    return new EdgeNode(options, verifier);
  }

  /** Counts for metrics; logs at debug only, behind the level check. */
  private observer(): ApiObserver {
    const c = this.counters;
    return {
      connected: (protocol, id, endpoint) => {
        c.connects[protocol]++;
        if (this.log.isLevelEnabled("debug"))
          this.log.debug({ conn: id, protocol, endpoint }, "connected");
      },
      disconnected: (protocol, reason, id) => {
        bump(c.disconnects, `${protocol}|${reason}`);
        if (this.log.isLevelEnabled("debug"))
          this.log.debug({ conn: id, protocol, reason }, "disconnected");
      },
      authFailed: (code, reason) => {
        bump(c.authFailures, `${code}|${reason}`);
        if (this.log.isLevelEnabled("debug")) this.log.debug({ code, reason }, "token refused");
      },
      published: (source, events) => {
        c.eventsPublished[source] += events;
      },
    };
  }

  /** Publish CalcBridge events in-process (validated like the HTTP API). */
  publish(input: unknown): PublishedEvent[] {
    const events = this.publisher.publish(input);
    this.counters.eventsPublished.inprocess += events.length;
    return events;
  }

  async listen(port: number, host = "0.0.0.0"): Promise<number> {
    const bound = await this.io.listen(port, host);
    if (this.metricsPort !== undefined) await this.listenMetrics(this.metricsPort, host);
    this.listening = true;
    return bound;
  }

  /** Bound port of the separate metrics listener, if any. */
  metricsListenPort: number | undefined;

  private listenMetrics(port: number, host: string): Promise<void> {
    const { mod } = loadUws({ allowFallback: this.io.options.allowUwsFallback });
    const app = mod.App();
    attachMetrics(app, this.metrics);
    attachHealth(app, () => this.notReadyReasons());
    this.metricsApp = { app };
    return new Promise((resolve, reject) => {
      app.listen(host, port, (socket) => {
        if (socket === false) {
          reject(new Error(`could not listen on ${host}:${port} for metrics`));
          return;
        }
        this.metricsApp!.socket = socket;
        this.metricsListenPort = mod.us_socket_local_port(socket);
        resolve();
      });
    });
  }

  notReadyReasons(): string[] {
    const reasons: string[] = [];
    if (!this.listening) reasons.push("not listening");
    if (this.draining) reasons.push("draining");
    if (this.bus.status !== "connected") reasons.push(`bus ${this.bus.status}`);
    return reasons;
  }

  /**
   * Graceful drain: readiness goes false at once and new connections are
   * refused; existing clients are closed with 1001 spread evenly over
   * `windowMs` (so their reconnect wave does not hit the other nodes at
   * once), each Socket.IO client once its recovery session is stored (so
   * the node it reconnects to finds it); then the bus is drained. Resolves
   * when everything is closed.
   */
  async drain(windowMs: number): Promise<void> {
    this.draining = true;
    this.rawApi.accepting = false;
    this.io.engine.accepting = false;
    const closers: (() => void | Promise<void>)[] = [];
    for (const conn of this.rawApi.connections)
      closers.push(() => this.rawApi.end(conn, 1001, "server draining"));
    const sockets = this.socketsBySession();
    for (const session of this.io.engine.sessions.values()) {
      const own = sockets.get(session);
      closers.push(
        own === undefined
          ? () => session.close("server shutting down")
          : () => this.saveSessions(own).then(() => session.close("server shutting down")),
      );
    }
    // Shuffle so that no client is always the first to go.
    for (let i = closers.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [closers[i], closers[j]] = [closers[j]!, closers[i]!];
    }
    // Batch k of n goes at (k + 1) / n of the window: the last at its end, the
    // first one step in, after readiness is already false. Batches are at
    // least DRAIN_TICK_MS apart; deadlines are absolute, so timer lateness
    // does not add up over the window. A batch's saves run in parallel and
    // do not hold the next batch back.
    const start = Date.now();
    const batches = Math.max(1, Math.min(closers.length, Math.floor(windowMs / DRAIN_TICK_MS)));
    const n = closers.length;
    const closing: Promise<void>[] = [];
    for (let k = 0; k < batches && n > 0; k++) {
      const wait = start + ((k + 1) * windowMs) / batches - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const from = Math.floor((k * n) / batches);
      for (const close of closers.slice(from, Math.floor(((k + 1) * n) / batches))) {
        const closed = close();
        if (closed !== undefined) closing.push(closed);
      }
    }
    await Promise.all(closing);
    await this.close();
  }

  /**
   * The Socket.IO sockets of each engine session, when sessions are kept for
   * recovery (else none: nothing to save). Taken once, when the drain starts;
   * a namespace joined later stores its session on close, as without a drain.
   */
  private socketsBySession(): Map<EngineSession, Socket[]> {
    const bySession = new Map<EngineSession, Socket[]>();
    if (this.io.recovery === undefined) return bySession;
    for (const nsp of this.io.namespaces.values()) {
      for (const socket of nsp.sockets.values()) {
        const list = bySession.get(socket.client.session);
        if (list === undefined) bySession.set(socket.client.session, [socket]);
        else list.push(socket);
      }
    }
    return bySession;
  }

  /**
   * Store the recovery sessions of one client's sockets before its
   * connection is closed: the client reconnects at once, maybe to another
   * node, and asks for its session there. Never rejects; stops waiting
   * after DRAIN_SAVE_TIMEOUT_MS (a client back before its session is stored
   * gets a new one).
   */
  private async saveSessions(sockets: readonly Socket[]): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const saved = Promise.all(sockets.map((s) => s.saveRecoverySession().catch(() => undefined)));
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, DRAIN_SAVE_TIMEOUT_MS);
    });
    await Promise.race([saved, late]);
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    this.listening = false;
    this.rawApi.accepting = false;
    this.io.engine.accepting = false;
    this.rawApi.closeAll(1001, "server shutting down");
    this.rawApi.stop();
    await this.io.close();
    this.cluster?.stop();
    if (this.metricsApp?.socket !== undefined) {
      loadUws({ allowFallback: true }).mod.us_listen_socket_close(this.metricsApp.socket);
      (this.metricsApp.app as Uws.TemplatedApp & { close?: () => void }).close?.();
    }
    await this.bus.close();
    await this.io.recovery?.store.close();
    await this.history?.close();
  }
}
