import {
  DecodeError,
  SocketDecoder,
  SocketPacketType,
  encodeFrames,
  type SocketPacket,
} from "@calcbridge/protocol";
import type { EngineCloseReason, EngineSession, SessionHandler } from "../engine/session.js";
import { frameList } from "./broadcast-operator.js";
import type { Server } from "./server.js";
import type { DisconnectReason, Socket } from "./socket.js";

/** The decoder of every client that has not sent a binary packet: text packets leave no state. */
const sharedDecoders = new WeakMap<Server, SocketDecoder>();

/**
 * One Engine.IO session seen by Socket.IO: decodes its packets and routes them
 * to the socket of each namespace it joined (multiplexing). It is the
 * session's handler (methods, not closures) and keeps its first socket in a
 * field: most clients join one namespace, and a Map per connection costs
 * more memory than the rest of the client.
 */
export class Client implements SessionHandler {
  /** The socket of the first namespace joined. */
  private first: Socket | undefined;
  /** Sockets of further namespaces, by namespace name. */
  private more: Map<string, Socket> | undefined;
  /** Created when the client sends its first binary packet (attachments are per client). */
  private decoder: SocketDecoder | undefined;
  /** A namespace accepted it once: it counts as a connection from then until it closes. */
  accepted = false;

  constructor(
    private readonly server: Server,
    readonly session: EngineSession,
  ) {
    session.handler = this;
    server.awaitConnect(this);
  }

  /** @internal connectTimeout passed without a namespace joined. */
  connectTimedOut(): void {
    if (this.first === undefined) this.close("forced close");
  }

  onEngineMessage(data: string | Uint8Array): void {
    this.ondata(data);
  }

  onEngineClose(reason: EngineCloseReason): void {
    this.onclose(reason);
  }

  onEngineUpgrade(): void {
    for (const socket of this.sockets()) socket.nsp.adapter.upgraded(socket);
  }

  private socketOf(nsp: string): Socket | undefined {
    const first = this.first;
    if (first !== undefined && first.nsp.name === nsp) return first;
    return this.more?.get(nsp);
  }

  /** Every socket of this client (a copy: callers may disconnect them). */
  private sockets(): Socket[] {
    const list = this.first === undefined ? [] : [this.first];
    if (this.more !== undefined) list.push(...this.more.values());
    return list;
  }

  private decoderFor(data: string | Uint8Array): SocketDecoder {
    if (this.decoder !== undefined) return this.decoder;
    // BINARY_EVENT (5) and BINARY_ACK (6) announce attachments: from then on
    // the client needs a decoder of its own.
    if (typeof data === "string" && (data[0] === "5" || data[0] === "6")) {
      return (this.decoder = new SocketDecoder({
        maxAttachments: this.server.options.maxAttachments,
      }));
    }
    let shared = sharedDecoders.get(this.server);
    if (shared === undefined) {
      shared = new SocketDecoder({ maxAttachments: this.server.options.maxAttachments });
      sharedDecoders.set(this.server, shared);
    }
    return shared;
  }

  sendPacket(packet: SocketPacket): void {
    this.session.send(frameList(encodeFrames(packet)));
  }

  attach(socket: Socket): void {
    if (this.first === undefined || this.first === socket) this.first = socket;
    else (this.more ??= new Map()).set(socket.nsp.name, socket);
    this.server.connectSettled(this);
    if (!this.accepted) {
      this.accepted = true;
      this.server.onclientaccepted?.(this.session);
    }
  }

  remove(socket: Socket): void {
    if (this.first === socket) {
      this.first = undefined;
      // Keep the first slot filled while other namespaces remain.
      const next = this.more?.values().next();
      if (next !== undefined && next.done !== true) {
        this.first = next.value;
        this.more!.delete(next.value.nsp.name);
      }
    } else if (this.more?.get(socket.nsp.name) === socket) this.more.delete(socket.nsp.name);
  }

  /** `socket.disconnect(true)`: every namespace, then the connection. */
  disconnectAll(): void {
    for (const socket of this.sockets()) socket.disconnect(false);
    this.close("forced close");
  }

  close(reason: EngineCloseReason): void {
    this.session.close(reason);
  }

  private ondata(data: string | Uint8Array): void {
    let packet: SocketPacket | null;
    try {
      packet = this.decoderFor(data).add(data);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      // socket.io closes the connection on a decode error (client.ts onerror -> conn.close()).
      this.close("forced close");
      return;
    }
    if (packet === null) return;
    if (packet.type === SocketPacketType.CONNECT) {
      this.connect(packet);
      return;
    }
    const socket = this.socketOf(packet.nsp);
    // A packet for a namespace the client has not joined is an invalid state:
    // socket.io closes the connection (client.ts ondecoded).
    if (socket === undefined) this.close("forced close");
    else socket.onpacket(packet);
  }

  private connect(packet: SocketPacket): void {
    if (this.socketOf(packet.nsp) !== undefined) {
      this.close("forced close");
      return;
    }
    const nsp = this.server.namespace(packet.nsp);
    if (nsp === undefined) {
      this.sendPacket({
        type: SocketPacketType.CONNECT_ERROR,
        nsp: packet.nsp,
        data: { message: "Invalid namespace" },
      });
      return;
    }
    const auth =
      packet.data !== null && typeof packet.data === "object"
        ? (packet.data as Record<string, unknown>)
        : {};
    nsp.add(this, auth);
  }

  private onclose(reason: EngineCloseReason): void {
    this.server.connectSettled(this);
    if (this.accepted) this.server.onclientclosed?.(this.session, reason);
    for (const socket of this.sockets()) socket.onclose(reason as DisconnectReason);
    this.first = undefined;
    this.more = undefined;
    this.decoder?.reset();
  }
}
