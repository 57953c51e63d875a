import { randomBytes } from "node:crypto";
import {
  CloseCode,
  DecodeError,
  authorizeRoom,
  decodeClientMessage,
  encodeControl,
  formatRoom,
  parseRoom,
  roomProblems,
  subjectFor,
  type Claims,
  type ClientMessage,
  type HistoryRead,
  type Room,
} from "@calcbridge/protocol";
import { AuthError } from "../auth/errors.js";
import type { TokenVerifier } from "../auth/verifier.js";
import { readHandshake } from "../engine/handshake.js";
import { RAW_ANCHOR_TOPIC, rawTopic } from "../topics.js";
import type { Uws } from "../uws.js";
import { TokenLease, tokenOf } from "./credentials.js";
import type { Delivery } from "./delivery.js";
import type { ApiObserver } from "./observer.js";

/** Raw API limits and timings. */
export interface RawApiOptions {
  /** Close a connection silent for this long with 4008. @default 60000 */
  heartbeatTimeoutMs: number;
  /** Rooms one connection may subscribe. @default 100 */
  maxSubscriptions: number;
  /** Invalid requests tolerated before the connection is closed with 1008. @default 20 */
  maxInvalidRequests: number;
  /** Largest WebSocket message accepted (uWS drops the connection beyond: the client sees 1006). @default 65536 */
  maxMessageBytes: number;
  /** Bytes queued before a slow raw client is closed. @default 1048576 */
  maxBackpressure: number;
  /** Most events one `since` replay sends; a longer backlog is a `recovery_gap`. @default 1000 */
  replayLimit: number;
  subjectPrefix?: string;
}

export const DEFAULT_RAW_API_OPTIONS: Readonly<RawApiOptions> = Object.freeze({
  heartbeatTimeoutMs: 60_000,
  maxSubscriptions: 100,
  maxInvalidRequests: 20,
  maxMessageBytes: 64 * 1024,
  maxBackpressure: 1024 * 1024,
  replayLimit: 1000,
});

/** The endpoints and the room each one subscribes to on connect. */
type Endpoint =
  | { kind: "general" }
  | { kind: "workbook"; id: string; problem?: string }
  | { kind: "job"; id: string; problem?: string }
  | { kind: "notifications" };

/** State of one raw-API connection (uWS user data). */
export class RawConnection {
  readonly id = randomBytes(12).toString("base64url");
  ws: Uws.WebSocket<RawConnection> | undefined;
  lease: TokenLease<RawConnection> | undefined;
  /** Public room name -> subject. */
  readonly subscriptions = new Map<string, string>();
  lastSeen = Date.now();
  invalid = 0;
  closed = false;
  /** Messages that arrived while the token was still being verified (bounded). */
  early: string[] | undefined = [];

  constructor(
    readonly endpoint: Endpoint,
    /** The token, until it is verified (then dropped). */
    public token: string | undefined,
    /** `?since=` of an auto-subscribed endpoint: replay from this offset. */
    readonly since: string | undefined,
  ) {}
}

/** Messages a client may send before its token is verified; more is abuse. */
const MAX_EARLY_MESSAGES = 16;

/**
 * The CalcBridge raw WebSocket API: `/ws`, `/ws/workbooks/{id}`,
 * `/ws/jobs/{id}`, `/ws/notifications`. JSON envelopes; rooms are uWS topics
 * named after the room's tenant-scoped subject.
 */
export class RawApi {
  readonly connections = new Set<RawConnection>();
  /** New connections are refused while false (drain). */
  accepting = true;
  private sweeper: NodeJS.Timeout | undefined;
  /** Every raw lease's expiry handler (one function, not one per connection). */
  private readonly leaseExpired = (conn: RawConnection): void =>
    this.end(conn, CloseCode.INVALID_TOKEN, "token expired");

  constructor(
    private readonly verifier: TokenVerifier,
    private readonly delivery: Delivery,
    private readonly options: Readonly<RawApiOptions>,
    private readonly observer?: ApiObserver,
  ) {}

  attach(app: Uws.TemplatedApp): void {
    const behavior = (
      endpointOf: (req: Uws.HttpRequest) => Endpoint,
    ): Uws.WebSocketBehavior<RawConnection> => ({
      maxPayloadLength: this.options.maxMessageBytes,
      maxBackpressure: this.options.maxBackpressure,
      closeOnBackpressureLimit: 1,
      idleTimeout: 0,
      sendPingsAutomatically: false,
      upgrade: (res, req, context) => this.onUpgrade(res, req, context, endpointOf(req)),
      open: (ws) => this.onOpen(ws),
      message: (ws, message, isBinary) => this.onMessage(ws, message, isBinary),
      ping: (ws) => {
        ws.getUserData().lastSeen = Date.now();
      },
      close: (ws, code) => this.onClose(ws, code),
    });
    app.ws(
      "/ws",
      behavior(() => ({ kind: "general" })),
    );
    app.ws(
      "/ws/workbooks/:id",
      behavior((req) => ({ kind: "workbook", id: req.getParameter(0) ?? "" })),
    );
    app.ws(
      "/ws/jobs/:id",
      behavior((req) => ({ kind: "job", id: req.getParameter(0) ?? "" })),
    );
    app.ws(
      "/ws/notifications",
      behavior(() => ({ kind: "notifications" })),
    );
    const every = Math.max(50, Math.floor(this.options.heartbeatTimeoutMs / 4));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  /** Close every connection (shutdown) with `code`. */
  closeAll(code: number, reason: string): void {
    for (const conn of [...this.connections]) this.end(conn, code, reason);
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  private onUpgrade(
    res: Uws.HttpResponse,
    req: Uws.HttpRequest,
    context: Uws.us_socket_context_t,
    rawEndpoint: Endpoint,
  ): void {
    // Copy everything out of req now: it is only valid in this callback.
    const handshake = readHandshake(res, req, false);
    const key = handshake.headers["sec-websocket-key"] ?? "";
    const protocol = handshake.headers["sec-websocket-protocol"] ?? "";
    const extensions = handshake.headers["sec-websocket-extensions"] ?? "";
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    if (!this.accepting) {
      res.cork(() => res.writeStatus("503 Service Unavailable").end("draining"));
      return;
    }
    const since = handshake.query["since"];
    const conn = new RawConnection(
      decodeEndpoint(rawEndpoint),
      tokenOf(handshake.query, handshake.headers),
      since !== undefined && since !== "" ? since : undefined,
    );
    // Upgrade now, inside this (corked) callback, and verify the token after
    // open: an asynchronous res.upgrade under cork can close the fresh socket
    // in this uWS release (uNetworking/uWebSockets#1928). A bad token gets its
    // WebSocket all the same, closed with 4001: the API's answer is the code.
    if (!aborted) res.upgrade(conn, key, protocol, extensions, context);
  }

  private onOpen(ws: Uws.WebSocket<RawConnection>): void {
    const conn = ws.getUserData();
    conn.ws = ws;
    this.connections.add(conn);
    const token = conn.token;
    conn.token = undefined;
    const verification =
      token === undefined
        ? Promise.reject(
            new AuthError(
              "ERR_TOKEN_MISSING",
              "a token is required (?token= or Authorization: Bearer)",
            ),
          )
        : this.verifier.verify(token);
    verification.then(
      (v) => this.onAuthenticated(conn, v.claims, v.expiresAt),
      (err: unknown) => {
        const refused =
          err instanceof AuthError
            ? err
            : new AuthError("ERR_TOKEN_INVALID", "token could not be verified");
        this.observer?.authFailed(CloseCode.INVALID_TOKEN, refused.code);
        this.end(conn, CloseCode.INVALID_TOKEN, refused.message);
      },
    );
  }

  private onAuthenticated(conn: RawConnection, claims: Claims, expiresAt: number): void {
    if (conn.closed) return;
    const ws = conn.ws!;
    this.observer?.connected("raw", conn.id, conn.endpoint.kind);
    conn.lease = new TokenLease(claims, expiresAt, this.leaseExpired, conn);
    ws.subscribe(RAW_ANCHOR_TOPIC);
    const auto = autoRoom(conn.endpoint, claims);
    if (auto !== undefined) {
      if ("problem" in auto) {
        this.end(conn, CloseCode.POLICY, auto.problem);
        return;
      }
      const result = this.subscribe(conn, auto.room, conn.since);
      if (!result.ok) {
        this.end(conn, result.code ?? CloseCode.POLICY, result.reason);
        return;
      }
    }
    const early = conn.early ?? [];
    conn.early = undefined;
    for (const text of early) {
      if (conn.closed) return;
      this.onText(conn, text);
    }
  }

  private onMessage(
    ws: Uws.WebSocket<RawConnection>,
    message: ArrayBuffer,
    isBinary: boolean,
  ): void {
    const conn = ws.getUserData();
    if (conn.closed) return;
    conn.lastSeen = Date.now();
    // The ArrayBuffer is only valid in this callback: copy it out now.
    const text = isBinary ? undefined : Buffer.from(message).toString("utf8");
    if (conn.early !== undefined) {
      // Still verifying the token: keep the order, bounded.
      if (text === undefined || conn.early.length >= MAX_EARLY_MESSAGES) {
        this.end(conn, CloseCode.POLICY, "too many messages before authentication");
        return;
      }
      conn.early.push(text);
      return;
    }
    if (text === undefined) {
      this.invalidRequest(conn, "binary messages are not part of the API: send JSON text");
      return;
    }
    this.onText(conn, text);
  }

  private onText(conn: RawConnection, text: string): void {
    if (conn.lease === undefined) return;
    let msg: ClientMessage;
    try {
      msg = decodeClientMessage(text);
    } catch (err) {
      this.invalidRequest(conn, err instanceof DecodeError ? err.message : "invalid request");
      return;
    }
    switch (msg.type) {
      case "ping":
        this.send(conn, encodeControl({ type: "pong" }));
        return;
      case "subscribe":
      case "unsubscribe": {
        let room: Room;
        try {
          room = parseRoom(msg.room);
        } catch (err) {
          this.invalidRequest(
            conn,
            err instanceof Error ? err.message : "invalid room",
            msg.type,
            msg.room,
          );
          return;
        }
        const result =
          msg.type === "subscribe"
            ? this.subscribe(conn, room, msg.since)
            : this.unsubscribe(conn, room);
        if (result.ok && msg.type === "unsubscribe") {
          this.send(conn, encodeControl({ type: "unsubscribed", room: msg.room }));
        } else if (!result.ok) {
          this.send(
            conn,
            encodeControl({
              type: "error",
              ...(result.code !== undefined ? { code: result.code } : {}),
              reason: result.reason,
              request: msg.type,
              room: msg.room,
            }),
          );
        }
        return;
      }
      case "refresh":
        conn.lease.refresh(this.verifier, msg.token).then(
          (v) =>
            this.send(
              conn,
              encodeControl({ type: "refreshed", expires_at: new Date(v.expiresAt).toISOString() }),
            ),
          (err: unknown) => {
            this.send(
              conn,
              encodeControl({
                type: "error",
                code: CloseCode.INVALID_TOKEN,
                reason: err instanceof AuthError ? err.message : "token could not be verified",
                request: "refresh",
              }),
            );
            // A refused refresh counts as an invalid request: no endless verification of garbage.
            conn.invalid++;
            if (conn.invalid >= this.options.maxInvalidRequests) {
              this.end(conn, CloseCode.POLICY, "too many invalid requests");
            }
          },
        );
        return;
    }
  }

  /**
   * Subscribe `conn` to `room`. With `since`, the events after that offset
   * are replayed first (or a `recovery_gap` is sent when retention dropped
   * some), then the connection joins the live topic in the same tick: no gap,
   * no duplicate at the seam; `subscribed` follows once the bus holds the
   * room (auto-subscribed endpoints get it too: the client's signal to go).
   */
  private subscribe(
    conn: RawConnection,
    room: Room,
    since: string | undefined,
  ): { ok: true } | { ok: false; code?: number; reason: string } {
    const claims = conn.lease!.claims;
    const auth = authorizeRoom(claims, room);
    if (!auth.ok) return { ok: false, code: auth.code, reason: auth.reason };
    const name = formatRoom(room);
    if (conn.subscriptions.has(name)) {
      this.send(conn, encodeControl({ type: "subscribed", room: name }));
      return { ok: true };
    }
    if (conn.subscriptions.size >= this.options.maxSubscriptions) {
      return {
        ok: false,
        reason: `a connection may subscribe at most ${this.options.maxSubscriptions} rooms`,
      };
    }
    const subject = subjectFor(auth.tenantId, auth.room, this.options.subjectPrefix);
    conn.subscriptions.set(name, subject);
    // Interest first: from here on every event of the room reaches this node.
    const ready = this.delivery.acquire(subject);
    const finish = (read: HistoryRead | undefined) => {
      // Closed or unsubscribed while the history was read: onClose/unsubscribe released it.
      if (conn.closed || conn.subscriptions.get(name) !== subject) return;
      const ws = conn.ws!;
      ws.cork(() => {
        if (read?.gap === true) {
          ws.send(encodeControl({ type: "recovery_gap", room: name, since: since! }), false);
        } else if (read !== undefined) {
          for (const e of read.events) ws.send(e.envelope, false);
        }
        ws.subscribe(rawTopic(subject));
      });
      // `subscribed` promises every later event: send it once the bus has the
      // subscription (a round trip to NATS; at once on the embedded bus).
      const replayed = read !== undefined && !read.gap ? { replayed: read.events.length } : {};
      void ready.then(() => {
        if (conn.closed || conn.subscriptions.get(name) !== subject) return;
        this.send(conn, encodeControl({ type: "subscribed", room: name, ...replayed }));
      });
    };
    if (since === undefined) {
      finish(undefined);
      return { ok: true };
    }
    const read = this.delivery.catchUp(subject, since, this.options.replayLimit);
    if (read instanceof Promise) {
      read.then(finish, () => finish({ events: [], gap: true }));
    } else {
      finish(read);
    }
    return { ok: true };
  }

  private unsubscribe(
    conn: RawConnection,
    room: Room,
  ): { ok: true } | { ok: false; code?: number; reason: string } {
    const name = formatRoom(room);
    const subject = conn.subscriptions.get(name);
    if (subject === undefined) return { ok: false, reason: `not subscribed to ${name}` };
    conn.subscriptions.delete(name);
    conn.ws!.unsubscribe(rawTopic(subject));
    this.delivery.release(subject);
    return { ok: true };
  }

  private invalidRequest(
    conn: RawConnection,
    reason: string,
    request?: string,
    room?: string,
  ): void {
    conn.invalid++;
    const msg: { type: "error"; reason: string; request?: string; room?: string } = {
      type: "error",
      reason,
    };
    if (request !== undefined) msg.request = request;
    if (room !== undefined) msg.room = room;
    this.send(conn, encodeControl(msg));
    if (conn.invalid >= this.options.maxInvalidRequests) {
      this.end(conn, CloseCode.POLICY, "too many invalid requests");
    }
  }

  private send(conn: RawConnection, text: string): void {
    if (conn.closed || conn.ws === undefined) return;
    const ws = conn.ws;
    ws.cork(() => ws.send(text, false));
  }

  /** Close one connection with `code` (reason cut to the 123 bytes a close frame holds). */
  end(conn: RawConnection, code: number, reason: string): void {
    if (conn.closed || conn.ws === undefined) return;
    // Close reasons are limited to 123 bytes by RFC 6455.
    conn.ws.end(code, Buffer.from(reason).subarray(0, 123));
  }

  /** WebSockets uWS closed with 1006 (backpressure limit reached, or the peer vanished). */
  abnormalCloses = 0;

  private onClose(ws: Uws.WebSocket<RawConnection>, code: number): void {
    const conn = ws.getUserData();
    conn.closed = true;
    if (code === 1006) this.abnormalCloses++;
    if (conn.lease !== undefined) this.observer?.disconnected("raw", String(code), conn.id);
    conn.lease?.clear();
    this.connections.delete(conn);
    for (const subject of conn.subscriptions.values()) this.delivery.release(subject);
    conn.subscriptions.clear();
  }

  private sweep(): void {
    const deadline = Date.now() - this.options.heartbeatTimeoutMs;
    for (const conn of this.connections) {
      if (conn.lastSeen < deadline) {
        this.end(conn, CloseCode.HEARTBEAT_TIMEOUT, "no heartbeat within the timeout");
      }
    }
  }
}

/** Percent-decode the id of an endpoint path; a bad escape becomes a problem at open. */
function decodeEndpoint(endpoint: Endpoint): Endpoint {
  if (endpoint.kind !== "workbook" && endpoint.kind !== "job") return endpoint;
  try {
    return { ...endpoint, id: decodeURIComponent(endpoint.id) };
  } catch {
    return {
      ...endpoint,
      problem: `the ${endpoint.kind} id in the path is not valid percent-encoding`,
    };
  }
}

function autoRoom(
  endpoint: Endpoint,
  claims: Claims,
): { room: Room } | { problem: string } | undefined {
  let room: Room;
  switch (endpoint.kind) {
    case "general":
      return undefined;
    case "workbook":
      if (endpoint.problem !== undefined) return { problem: endpoint.problem };
      room = { kind: "workbook", tenantId: claims.tenant_id, workbookId: endpoint.id };
      break;
    case "job":
      if (endpoint.problem !== undefined) return { problem: endpoint.problem };
      room = { kind: "job", jobId: endpoint.id };
      break;
    case "notifications":
      room = { kind: "notifications", userId: claims.sub };
      break;
  }
  const problems = roomProblems(room);
  return problems.length > 0 ? { problem: problems.join("; ") } : { room };
}
