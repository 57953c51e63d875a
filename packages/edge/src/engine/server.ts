import { randomId } from "../ids.js";
import { decodeEnginePacket, decodePollingPayload, encodeOpenPacket } from "@calcbridge/protocol";
import { readBody } from "../http/body.js";
import type { Uws } from "../uws.js";
import { HandshakeError, handshakeErrorBody, type HandshakeErrorKind } from "./handshake-errors.js";
import { corsHeaders, parseQuery, readHandshake } from "./handshake.js";
import type { EngineOptions } from "./options.js";
import { PollingTransport } from "./polling-transport.js";
import {
  EngineSession,
  type EngineCloseReason,
  type HandshakeInfo,
  type SessionOwner,
} from "./session.js";
import { WebSocketTransport, type EngineWsData } from "./websocket-transport.js";

/** Stands for the sid in the open packet templates (cannot occur in a real one). */
const SID_MARK = "sid-placeholder-0f3c";

/** Binary messages reach the application as Buffers on both transports, as with engine.io. */
function asBuffer(data: string | Uint8Array | undefined): string | Uint8Array | undefined {
  if (data === undefined || typeof data === "string" || Buffer.isBuffer(data)) return data;
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * The Engine.IO v4 server: handshakes, both transports, the polling ->
 * WebSocket upgrade and the session table. Socket.IO sits on top through
 * `onconnection`.
 */
export class EngineServer implements SessionOwner {
  readonly sessions = new Map<string, EngineSession>();
  /**
   * Closed polling sessions whose last packets, then "1", still wait for the
   * client's next GETs, as engine.io delays a polling close until the client
   * polls. Kept at most pingInterval + pingTimeout.
   */
  private readonly draining = new Map<string, PollingTransport>();
  /** New sessions are refused while false (drain). */
  accepting = true;
  onconnection: ((session: EngineSession) => void) | undefined;
  /** Observers for metrics: a session opened / closed (with engine.io's reason). */
  onsessionopen: ((session: EngineSession) => void) | undefined;
  onsessionclose: ((session: EngineSession, reason: EngineCloseReason) => void) | undefined;

  constructor(
    private readonly options: Readonly<EngineOptions>,
    private readonly secure = false,
  ) {}

  /** Registers the Engine.IO routes on `app`. */
  attach(app: Uws.TemplatedApp): void {
    const pattern = `${this.options.path}*`;
    app.ws<EngineWsData>(pattern, {
      maxPayloadLength: this.options.maxPayload,
      maxBackpressure: this.options.maxBackpressure,
      // Beyond the limit a subscriber is closed rather than silently skipped:
      // a non-volatile packet is never lost without the client knowing.
      closeOnBackpressureLimit: 1,
      // Engine.IO's own heartbeat decides liveness; uWS's is a safety net.
      idleTimeout: Math.max(
        8,
        Math.ceil((this.options.pingInterval + this.options.pingTimeout) / 1000) + 8,
      ),
      sendPingsAutomatically: false,
      upgrade: (res, req, context) => this.onUpgrade(res, req, context),
      open: (ws) => this.onWsOpen(ws),
      message: (ws, message, isBinary) => this.onWsMessage(ws, message, isBinary),
      close: (ws, code) => this.onWsClose(ws, code),
    });
    app.get(pattern, (res, req) => this.onHttp(res, req, "GET"));
    app.post(pattern, (res, req) => this.onHttp(res, req, "POST"));
    app.options(pattern, (res, req) => this.onPreflight(res, req));
  }

  private heartbeat: NodeJS.Timeout | undefined;

  /**
   * One timer pings every session each pingInterval; pingTimeout later, the
   * sessions that did not answer are closed. (A session never waits more
   * than pingInterval for a ping, which is what clients check.)
   */
  private startHeartbeat(): void {
    if (this.heartbeat !== undefined) return;
    this.heartbeat = setInterval(() => {
      const pinged = [...this.sessions.values()];
      for (const s of pinged) s.ping();
      setTimeout(() => {
        for (const s of pinged) s.checkPong();
      }, this.options.pingTimeout).unref();
    }, this.options.pingInterval);
    this.heartbeat.unref();
  }

  /** Close every session (server shutdown). */
  closeAll(reason: "server shutting down" | "forced close" = "server shutting down"): void {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    for (const session of [...this.sessions.values()]) session.close(reason);
  }

  private newSession(transport: PollingTransport | WebSocketTransport, handshake: HandshakeInfo) {
    const id = randomId();
    const session = new EngineSession(id, transport, handshake, this);
    this.startHeartbeat();
    this.sessions.set(id, session);
    this.onsessionopen?.(session);
    const upgrades =
      transport.name === "polling" &&
      this.options.allowUpgrades &&
      this.options.transports.includes("websocket")
        ? ["websocket"]
        : [];
    transport.send([this.openPacket(id, upgrades.length > 0)]);
    this.onconnection?.(session);
    return session;
  }

  /** The open packet's text around the sid, without and with upgrades (built once). */
  private openTemplates: [string[], string[]] | undefined;

  /** `encodeOpenPacket` for a session: the same text, without a JSON.stringify per connection. */
  private openPacket(sid: string, upgrade: boolean): string {
    const templates = (this.openTemplates ??= [false, true].map((up) =>
      encodeOpenPacket({
        sid: SID_MARK,
        upgrades: up ? ["websocket"] : [],
        pingInterval: this.options.pingInterval,
        pingTimeout: this.options.pingTimeout,
        maxPayload: this.options.maxPayload,
      }).split(SID_MARK),
    ) as [string[], string[]]);
    const [before, after] = templates[upgrade ? 1 : 0];
    // Session ids are base64url: nothing to escape in JSON.
    return `${before!}${sid}${after!}`;
  }

  /** @internal A session closed (called by the session). */
  sessionClosed(session: EngineSession, reason: EngineCloseReason): void {
    this.sessions.delete(session.id);
    this.onsessionclose?.(session, reason);
    const transport = session.transport;
    if (!(transport instanceof PollingTransport) || !transport.draining) return;
    this.draining.set(session.id, transport);
    const timer = setTimeout(
      () => this.draining.delete(session.id),
      this.options.pingInterval + this.options.pingTimeout,
    );
    timer.unref();
  }

  /** engine.io's `verify`: the same checks in the same order, the same error codes. */
  private verify(
    query: Readonly<Record<string, string>>,
    method: string,
    isUpgrade: boolean,
  ): HandshakeErrorKind | undefined {
    const transport = query["transport"];
    if (transport !== "polling" && transport !== "websocket")
      return HandshakeError.UNKNOWN_TRANSPORT;
    if (!this.options.transports.includes(transport)) return HandshakeError.UNKNOWN_TRANSPORT;
    const sid = query["sid"];
    if (sid !== undefined) {
      const session = this.sessions.get(sid);
      if (session === undefined) return HandshakeError.UNKNOWN_SID;
      if (!isUpgrade && session.transport.name !== transport) return HandshakeError.BAD_REQUEST;
      if (isUpgrade && (transport !== "websocket" || session.transport.name !== "polling"))
        return HandshakeError.BAD_REQUEST;
      return undefined;
    }
    if (method !== "GET") return HandshakeError.BAD_HANDSHAKE_METHOD;
    if (query["EIO"] !== "4") return HandshakeError.UNSUPPORTED_PROTOCOL_VERSION;
    if (transport === "websocket" && !isUpgrade) return HandshakeError.BAD_REQUEST;
    if (!this.accepting) return HandshakeError.FORBIDDEN;
    return undefined;
  }

  private respondError(
    res: Uws.HttpResponse,
    error: HandshakeErrorKind,
    headers: readonly (readonly [string, string])[] = [],
  ): void {
    res.cork(() => {
      res.writeStatus(error.status);
      res.writeHeader("Content-Type", "application/json");
      for (const [k, v] of headers) res.writeHeader(k, v);
      res.end(handshakeErrorBody(error));
    });
  }

  private onPreflight(res: Uws.HttpResponse, req: Uws.HttpRequest): void {
    const headers = corsHeaders(this.options.cors, req.getHeader("origin") || undefined);
    res.writeStatus("204 No Content");
    for (const [k, v] of headers) res.writeHeader(k, v);
    if (headers.length > 0) {
      res.writeHeader("Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE");
      const requested = req.getHeader("access-control-request-headers");
      if (requested) res.writeHeader("Access-Control-Allow-Headers", requested);
    }
    res.end();
  }

  private onHttp(res: Uws.HttpResponse, req: Uws.HttpRequest, method: "GET" | "POST"): void {
    // Copy out of req now: it is only valid in this callback.
    const handshake = readHandshake(res, req, this.secure, this.options.path);
    const headers = corsHeaders(this.options.cors, handshake.header("origin"));
    const sid = handshake.query["sid"];
    const closed = sid === undefined || method !== "GET" ? undefined : this.draining.get(sid);
    if (closed?.draining === true && handshake.query["transport"] === "polling") {
      if (!closed.onPoll(res, headers)) this.respondError(res, HandshakeError.BAD_REQUEST, headers);
      return;
    }
    const error = this.verify(handshake.query, method, false);
    if (error !== undefined) {
      this.respondError(res, error, headers);
      return;
    }
    if (sid === undefined) {
      const transport = new PollingTransport();
      const session = this.newSession(transport, handshake);
      transport.onOverflow = () => session.close("transport error");
      transport.onPoll(res, headers);
      return;
    }
    const session = this.sessions.get(sid)!;
    const transport = session.transport as PollingTransport;
    if (method === "GET") {
      if (!transport.onPoll(res, headers)) {
        // Two GETs at once: engine.io ends the session ("overlap from client").
        this.respondError(res, HandshakeError.BAD_REQUEST, headers);
        session.close("transport error");
      }
      return;
    }
    readBody(res, this.options.maxPayload, (result) => {
      if (!result.ok) {
        res.cork(() => res.writeStatus("413 Payload Too Large").end());
        session.close("transport error");
        return;
      }
      const body = result.body.toString("utf8");
      res.cork(() => {
        res.writeStatus("200 OK");
        res.writeHeader("Content-Type", "text/html");
        for (const [k, v] of headers) res.writeHeader(k, v);
        res.end("ok");
      });
      let packets;
      try {
        packets = decodePollingPayload(body);
      } catch {
        session.close("parse error");
        return;
      }
      for (const packet of packets) {
        if (session.readyState !== "open") break;
        session.receive(packet.type, asBuffer(packet.data));
      }
    });
  }

  private onUpgrade(
    res: Uws.HttpResponse,
    req: Uws.HttpRequest,
    context: Uws.us_socket_context_t,
  ): void {
    const handshake = readHandshake(res, req, this.secure, this.options.path, true);
    const headers = corsHeaders(this.options.cors, handshake.header("origin"));
    // Parsed for the checks only: the session parses its own copy if asked.
    const query = parseQuery(handshake.rawQuery);
    const error = this.verify(query, "GET", true);
    if (error !== undefined) {
      this.respondError(res, error, headers);
      return;
    }
    const transport = new WebSocketTransport(this.options.maxBackpressure);
    const data: EngineWsData = { transport, handshake, probeSid: query["sid"] };
    res.upgrade(
      data,
      req.getHeader("sec-websocket-key"),
      req.getHeader("sec-websocket-protocol"),
      req.getHeader("sec-websocket-extensions"),
      context,
    );
  }

  private onWsOpen(ws: Uws.WebSocket<EngineWsData>): void {
    const data = ws.getUserData();
    const transport = data.transport;
    transport.ws = ws;
    const handshake = data.handshake!;
    data.handshake = undefined;
    handshake.addressFrom(transport);
    if (data.probeSid === undefined) {
      transport.session = this.newSession(transport, handshake);
      return;
    }
    const session = this.sessions.get(data.probeSid);
    if (session === undefined || session.upgrading || session.transport.name !== "polling") {
      transport.close();
      return;
    }
    session.upgrading = true;
    const timer = setTimeout(() => {
      if (session.transport !== transport) {
        session.upgrading = false;
        transport.close();
      }
    }, this.options.upgradeTimeout);
    timer.unref();
  }

  private onWsMessage(ws: Uws.WebSocket<EngineWsData>, message: ArrayBuffer, isBinary: boolean) {
    const data = ws.getUserData();
    const transport = data.transport;
    // The ArrayBuffer is only valid inside this callback: decode (copy) it now.
    const frame = isBinary ? Buffer.from(message.slice(0)) : Buffer.from(message).toString("utf8");
    let packet;
    try {
      packet = decodeEnginePacket(frame);
    } catch {
      if (transport.session !== undefined) transport.session.close("parse error");
      else transport.close();
      return;
    }
    if (data.probeSid !== undefined) {
      const session = this.sessions.get(data.probeSid);
      if (session === undefined) {
        transport.close();
        return;
      }
      if (transport.session === undefined) {
        this.onProbeMessage(session, transport, packet.type, packet.data);
        return;
      }
    }
    transport.session?.receive(packet.type, packet.data);
  }

  /** Upgrade steps (spec §upgrade): "2probe" -> "3probe" + noop on polling; "5" switches. */
  private onProbeMessage(
    session: EngineSession,
    transport: WebSocketTransport,
    type: string,
    payload: string | Uint8Array | undefined,
  ): void {
    const polling = session.transport as PollingTransport;
    if (type === "ping" && payload === "probe") {
      transport.send(["3probe"]);
      polling.releasePoll();
      return;
    }
    if (type === "upgrade" && session.upgrading) {
      const pending = polling.takeBuffer();
      polling.releasePoll();
      transport.session = session;
      session.upgrade(transport, pending);
      return;
    }
    session.upgrading = false;
    transport.close();
  }

  /** WebSockets uWS closed with 1006 (backpressure limit reached, or the peer vanished). */
  abnormalCloses = 0;

  private onWsClose(ws: Uws.WebSocket<EngineWsData>, code: number): void {
    const transport = ws.getUserData().transport;
    if (code === 1006) this.abnormalCloses++;
    const wasOpen = transport.open;
    const session = transport.session;
    // The address can still be read here, and nowhere later.
    if (session?.transport === transport) session.handshake.keepAddress();
    transport.markClosed();
    if (session !== undefined && session.transport === transport && wasOpen) {
      session.close("transport close");
    }
  }
}
