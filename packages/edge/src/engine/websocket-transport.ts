import type { Uws } from "../uws.js";
import { addressText, type AddressSource, type HandshakeInfo } from "./handshake.js";
import type { EngineSession } from "./session.js";
import type { Frame, Transport } from "./transport.js";

/**
 * Per-socket user data of the `/socket.io/` WebSocket route. uWS copies its
 * properties onto its WebSocket object (3 fit in the smallest property store).
 */
export interface EngineWsData {
  readonly transport: WebSocketTransport;
  /** The upgrade request, until the session takes it at open. */
  handshake: HandshakeInfo | undefined;
  /** Set for an upgrade probe of an existing polling session. */
  readonly probeSid: string | undefined;
}

/**
 * The WebSocket transport, created at the upgrade. It owns the uWS socket's
 * topic subscriptions: rooms are uWS topics, so a broadcast never passes
 * through here.
 */
export class WebSocketTransport implements Transport, AddressSource {
  open = true;
  /** Frames dropped because the socket was over half its backpressure limit. */
  droppedVolatile = 0;
  /** Set when uWS opens the socket. */
  ws!: Uws.WebSocket<EngineWsData>;
  /** The session this socket carries: set at open, or when an upgrade completes. */
  session: EngineSession | undefined;

  constructor(private readonly maxBackpressure: number) {}

  /** On the prototype: a field would cost every connection 8 bytes. */
  get name(): "websocket" {
    return "websocket";
  }

  remoteAddress(): string {
    return addressText(this.ws.getRemoteAddressAsText());
  }

  send(frames: readonly Frame[], volatile = false): void {
    if (!this.open) return;
    if (volatile && this.ws.getBufferedAmount() > this.maxBackpressure / 2) {
      this.droppedVolatile += frames.length;
      return;
    }
    const ws = this.ws;
    // cork: one syscall for the whole batch, and uWS wants writes from outside
    // its own callbacks corked.
    ws.cork(() => {
      for (const frame of frames) {
        if (typeof frame === "string") ws.send(frame, false);
        else ws.send(frame, true);
      }
    });
  }

  subscribe(topic: string): void {
    if (this.open) this.ws.subscribe(topic);
  }

  unsubscribe(topic: string): void {
    if (this.open) this.ws.unsubscribe(topic);
  }

  close(_graceful = true, code = 1000): void {
    if (!this.open) return;
    this.open = false;
    this.ws.end(code);
  }

  /** Called from the uWS close handler: the socket must not be touched again. */
  markClosed(): void {
    this.open = false;
  }
}
