import type { HandshakeInfo } from "./handshake.js";
import type { Frame, Transport } from "./transport.js";

export type { HandshakeInfo } from "./handshake.js";

/** Engine.IO close reasons, as engine.io reports them. */
export type EngineCloseReason =
  | "transport close"
  | "transport error"
  | "ping timeout"
  | "parse error"
  | "forced close"
  | "server shutting down";

/** What the layer above a session hears from it. */
export interface SessionHandler {
  /** One Engine.IO message payload (no "4" prefix). */
  onEngineMessage(data: string | Uint8Array): void;
  onEngineClose(reason: EngineCloseReason): void;
  /** The transport changed (the Socket.IO layer moves room subscriptions). */
  onEngineUpgrade(transport: Transport): void;
}

/** The server that keeps the session table. */
export interface SessionOwner {
  sessionClosed(session: EngineSession, reason: EngineCloseReason): void;
}

/**
 * One Engine.IO session: a client across transports and upgrades. It owns the
 * heartbeat (uWS idleTimeout works in ~4 s steps, far too coarse for
 * pingInterval/pingTimeout in the hundreds of ms) and the order of frames.
 */
export class EngineSession {
  readyState: "open" | "closed" = "open";
  /** Set by the Socket.IO layer (an object, not closures: one less allocation per connection). */
  handler: SessionHandler | undefined;
  upgrading = false;
  /** A ping went out and its pong has not come back yet. */
  private awaitingPong = false;

  constructor(
    readonly id: string,
    public transport: Transport,
    readonly handshake: HandshakeInfo,
    private readonly owner: SessionOwner,
  ) {}

  /** Send frames (WebSocket frame form) in order. */
  send(frames: readonly Frame[], volatile = false): void {
    if (this.readyState !== "open") return;
    this.transport.send(frames, volatile);
  }

  /** A decoded packet from the client. */
  receive(type: string, data: string | Uint8Array | undefined): void {
    if (this.readyState !== "open") return;
    switch (type) {
      case "message":
        this.handler?.onEngineMessage(data ?? "");
        return;
      case "pong":
        this.awaitingPong = false;
        return;
      case "close":
        this.close("transport close");
        return;
      case "ping":
        // In v4 only the server pings (spec §heartbeat); engine.io ends the session.
        this.close("transport error");
        return;
      default:
      // open, upgrade and noop mean nothing once open: engine.io ignores them.
    }
  }

  /** Switch to the upgraded transport, flushing what the old one still held first. */
  upgrade(next: Transport, pending: readonly Frame[]): void {
    this.upgrading = false;
    const previous = this.transport;
    this.transport = next;
    previous.close(false);
    if (pending.length > 0) next.send(pending);
    this.handler?.onEngineUpgrade(next);
  }

  close(reason: EngineCloseReason): void {
    if (this.readyState === "closed") return;
    this.readyState = "closed";
    const clientGone = reason === "transport close" || reason === "transport error";
    this.transport.close(!clientGone, reason === "server shutting down" ? 1001 : 1000);
    this.owner.sessionClosed(this, reason);
    this.handler?.onEngineClose(reason);
  }

  /**
   * The server's heartbeat (spec §heartbeat), driven for every session by one
   * timer of the EngineServer: uWS's idleTimeout works in ~4 s steps, far too
   * coarse, and a timer per session costs memory. A session still owing the
   * previous pong is not pinged again.
   */
  ping(): void {
    if (this.readyState !== "open" || this.awaitingPong) return;
    this.awaitingPong = true;
    this.send(["2"]);
  }

  /** pingTimeout after a ping: a session whose pong has not come is closed. */
  checkPong(): void {
    if (this.awaitingPong) this.close("ping timeout");
  }
}
