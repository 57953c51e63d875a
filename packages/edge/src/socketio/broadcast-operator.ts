import { SocketPacketType, encodeFrames } from "@calcbridge/protocol";
import { AckTimeoutError } from "../errors.js";
import type { BroadcastOptions } from "./adapter.js";
import type { Namespace } from "./namespace.js";
import {
  ClusterTimeoutError,
  type ClusterLink,
  type RemoteSocketData,
  type Target,
} from "./cluster-link.js";
import { RemoteSocket } from "./remote-socket.js";
import type { Socket } from "./socket.js";
import { RESERVED_EVENTS } from "./reserved.js";

type Flags = { volatile?: boolean; local?: boolean; timeout?: number };

/**
 * `io.to(room).except(room).emit(...)`: an immutable chain of targeting that
 * ends in one encode and one adapter broadcast.
 */
export class BroadcastOperator {
  constructor(
    private readonly nsp: Namespace,
    private readonly rooms: ReadonlySet<string> = new Set(),
    private readonly exceptRooms: ReadonlySet<string> = new Set(),
    private readonly flags: Readonly<Flags> = {},
  ) {}

  to(room: string | readonly string[]): BroadcastOperator {
    const rooms = new Set(this.rooms);
    for (const r of typeof room === "string" ? [room] : room) rooms.add(r);
    return new BroadcastOperator(this.nsp, rooms, this.exceptRooms, this.flags);
  }

  in(room: string | readonly string[]): BroadcastOperator {
    return this.to(room);
  }

  except(room: string | readonly string[]): BroadcastOperator {
    const except = new Set(this.exceptRooms);
    for (const r of typeof room === "string" ? [room] : room) except.add(r);
    return new BroadcastOperator(this.nsp, this.rooms, except, this.flags);
  }

  get volatile(): BroadcastOperator {
    return new BroadcastOperator(this.nsp, this.rooms, this.exceptRooms, {
      ...this.flags,
      volatile: true,
    });
  }

  get local(): BroadcastOperator {
    return new BroadcastOperator(this.nsp, this.rooms, this.exceptRooms, {
      ...this.flags,
      local: true,
    });
  }

  /** Wait at most `ms` for every client's acknowledgement. */
  timeout(ms: number): BroadcastOperator {
    return new BroadcastOperator(this.nsp, this.rooms, this.exceptRooms, {
      ...this.flags,
      timeout: ms,
    });
  }

  /** Compression is left to uWS's per-socket settings; kept for API compatibility. */
  compress(_compress: boolean): BroadcastOperator {
    return this;
  }

  private get options(): BroadcastOptions {
    return { rooms: this.rooms, except: this.exceptRooms, flags: this.flags };
  }

  emit(event: string, ...args: unknown[]): boolean {
    if (RESERVED_EVENTS.has(event)) throw new Error(`"${event}" is a reserved event name`);
    const last = args[args.length - 1];
    if (typeof last !== "function") {
      this.nsp.adapter.broadcast(
        frameList(
          encodeFrames({
            type: SocketPacketType.EVENT,
            nsp: this.nsp.name,
            data: [event, ...args],
          }),
        ),
        this.options,
      );
      return true;
    }
    const ack = last as (err: Error | null, responses: unknown[]) => void;
    this.emitWithAcks(event, args.slice(0, -1), ack);
    return true;
  }

  emitWithAck(event: string, ...args: unknown[]): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      this.emit(event, ...args, (err: Error | null, responses: unknown[]) =>
        err ? reject(err) : resolve(responses),
      );
    });
  }

  /**
   * A broadcast with acknowledgements: one packet id for the whole namespace,
   * encoded once; each recipient's ACK is collected until all have answered
   * or the timeout fires (then the error carries the partial responses).
   */
  private emitWithAcks(
    event: string,
    args: unknown[],
    ack: (err: Error | null, responses: unknown[]) => void,
  ): void {
    const recipients = this.localMembers();
    const id = this.nsp.nextAckId();
    const responses: unknown[] = [];
    const cluster = this.cluster;
    let remotePending = cluster !== undefined;
    let done = false;
    const finish = (err: Error | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      for (const s of recipients) s.dropAck(id);
      ack(err, responses);
    };
    let timedOut = false;
    const fail = () => {
      const err = new AckTimeoutError("operation has timed out") as AckTimeoutError & {
        responses: unknown[];
      };
      err.responses = responses;
      finish(err);
    };
    const timer =
      this.flags.timeout !== undefined
        ? setTimeout(() => {
            timedOut = true;
            // The other nodes' partial answers arrive with the cluster's own
            // timeout, a moment later: wait for them before failing.
            if (!remotePending) fail();
          }, this.flags.timeout)
        : undefined;
    let expected = recipients.size;
    const settle = () => {
      if (expected === 0 && !remotePending) finish(null);
    };
    for (const socket of recipients) {
      socket.expectAck(id, (...reply: unknown[]) => {
        responses.push(reply[0]);
        expected--;
        settle();
      });
    }
    const frames = frameList(
      encodeFrames({
        type: SocketPacketType.EVENT,
        nsp: this.nsp.name,
        data: [event, ...args],
        id,
      }),
    );
    // Local delivery only: the other nodes get the packet with the request below.
    this.nsp.adapter.broadcastFrames(frames, this.options);
    if (cluster !== undefined) {
      const timeout = this.flags.timeout ?? this.nsp.server.options.clusterRequestTimeout;
      cluster
        .broadcastWithAck(this.nsp.name, frames, { ...this.target, flags: this.flags }, id, timeout)
        .then(
          (remote) => responses.push(...remote),
          (err: unknown) => {
            if (err instanceof ClusterTimeoutError) {
              responses.push(...err.partial);
              timedOut = true;
            }
          },
        )
        .finally(() => {
          remotePending = false;
          if (timedOut) fail();
          else settle();
        });
    }
    settle();
  }

  private get target(): Target {
    return { rooms: [...this.rooms], except: [...this.exceptRooms] };
  }

  private get cluster(): ClusterLink | undefined {
    return this.flags.local === true ? undefined : this.nsp.server.cluster;
  }

  private localMembers(): Set<Socket> {
    return this.nsp.adapter.members(this.options, this.nsp.sockets.values()) as Set<Socket>;
  }

  /**
   * The sockets these options target: this node's, then the other nodes'
   * (as RemoteSocket). Rejects with ClusterTimeoutError (partial results
   * inside) when a node does not answer within the timeout.
   */
  async fetchSockets(): Promise<(Socket | RemoteSocket)[]> {
    const local: (Socket | RemoteSocket)[] = [...this.localMembers()];
    const cluster = this.cluster;
    if (cluster === undefined) return local;
    const timeout = this.flags.timeout ?? this.nsp.server.options.clusterRequestTimeout;
    try {
      const remote = await cluster.fetchSockets(this.nsp.name, this.target, timeout);
      return [...local, ...remote.map((d) => new RemoteSocket(this.nsp, d))];
    } catch (err) {
      if (err instanceof ClusterTimeoutError) {
        const partial = [
          ...local,
          ...(err.partial as RemoteSocketData[]).map((d) => new RemoteSocket(this.nsp, d)),
        ];
        throw new ClusterTimeoutError(partial, err.missing);
      }
      throw err;
    }
  }

  socketsJoin(room: string | readonly string[]): void {
    const rooms = typeof room === "string" ? [room] : [...room];
    for (const s of this.localMembers()) s.join(rooms);
    this.cluster?.socketsJoin(this.nsp.name, this.target, rooms);
  }

  socketsLeave(room: string | readonly string[]): void {
    const rooms = typeof room === "string" ? [room] : [...room];
    for (const s of this.localMembers()) for (const r of rooms) s.leave(r);
    this.cluster?.socketsLeave(this.nsp.name, this.target, rooms);
  }

  disconnectSockets(close = false): void {
    for (const s of this.localMembers()) s.disconnect(close);
    this.cluster?.disconnectSockets(this.nsp.name, this.target, close);
  }
}

export function frameList(frames: {
  text: string;
  binaries: Uint8Array[];
}): (string | Uint8Array)[] {
  return frames.binaries.length === 0 ? [frames.text] : [frames.text, ...frames.binaries];
}
