import type { RemoteSocketData } from "./cluster-link.js";
import type { Namespace } from "./namespace.js";
import type { Handshake } from "./socket.js";

/**
 * A socket of another node, as socket.io's `fetchSockets` returns it: its
 * description, and operations that travel through the cluster by its id.
 */
export class RemoteSocket {
  readonly id: string;
  readonly node: string;
  readonly handshake: Handshake;
  readonly rooms: Set<string>;
  readonly data: unknown;

  constructor(
    private readonly nsp: Namespace,
    details: RemoteSocketData,
  ) {
    this.id = details.id;
    this.node = details.node;
    this.handshake = details.handshake;
    this.rooms = new Set(details.rooms);
    this.data = details.data;
  }

  emit(event: string, ...args: unknown[]): boolean {
    return this.nsp.to(this.id).emit(event, ...args);
  }

  join(room: string | readonly string[]): void {
    this.nsp.in(this.id).socketsJoin(room);
  }

  leave(room: string): void {
    this.nsp.in(this.id).socketsLeave(room);
  }

  disconnect(close = false): this {
    this.nsp.in(this.id).disconnectSockets(close);
    return this;
  }
}
