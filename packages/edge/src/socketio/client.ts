import {
  DecodeError,
  SocketDecoder,
  SocketPacketType,
  encodeFrames,
  type SocketPacket,
} from "@calcbridge/protocol";
import type { EngineCloseReason, EngineSession } from "../engine/session.js";
import { frameList } from "./broadcast-operator.js";
import type { Server } from "./server.js";
import type { DisconnectReason, Socket } from "./socket.js";

/**
 * One Engine.IO session seen by Socket.IO: decodes its packets and routes them
 * to the socket of each namespace it joined (multiplexing).
 */
export class Client {
  private readonly sockets = new Map<string, Socket>();
  private readonly decoder: SocketDecoder;
  private connectTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly server: Server,
    readonly session: EngineSession,
  ) {
    this.decoder = new SocketDecoder({ maxAttachments: server.options.maxAttachments });
    session.onmessage = (data) => this.ondata(data);
    session.onclose = (reason) => this.onclose(reason);
    session.onupgrade = () => {
      for (const socket of this.sockets.values()) socket.nsp.adapter.upgraded(socket);
    };
    this.connectTimer = setTimeout(() => {
      if (this.sockets.size === 0) this.close("forced close");
    }, server.options.connectTimeout);
  }

  sendPacket(packet: SocketPacket): void {
    this.session.send(frameList(encodeFrames(packet)));
  }

  attach(socket: Socket): void {
    this.sockets.set(socket.nsp.name, socket);
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
  }

  remove(socket: Socket): void {
    if (this.sockets.get(socket.nsp.name) === socket) this.sockets.delete(socket.nsp.name);
  }

  /** `socket.disconnect(true)`: every namespace, then the connection. */
  disconnectAll(): void {
    for (const socket of [...this.sockets.values()]) socket.disconnect(false);
    this.close("forced close");
  }

  close(reason: EngineCloseReason): void {
    this.session.close(reason);
  }

  private ondata(data: string | Uint8Array): void {
    let packet: SocketPacket | null;
    try {
      packet = this.decoder.add(data);
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
    const socket = this.sockets.get(packet.nsp);
    // A packet for a namespace the client has not joined is an invalid state:
    // socket.io closes the connection (client.ts ondecoded).
    if (socket === undefined) this.close("forced close");
    else socket.onpacket(packet);
  }

  private connect(packet: SocketPacket): void {
    if (this.sockets.has(packet.nsp)) {
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
    clearTimeout(this.connectTimer);
    for (const socket of [...this.sockets.values()]) socket.onclose(reason as DisconnectReason);
    this.sockets.clear();
    this.decoder.reset();
  }
}
