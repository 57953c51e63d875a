import { randomBytes } from "node:crypto";
import {
  DEFAULT_SUBJECT_PREFIX,
  SocketPacketType,
  broadcastSubject,
  encodeBusMessage,
  encodeEnvelope,
  encodeEventMessage,
  encodeFrames,
  packFrames,
  requestSubject,
  subjectFor,
  validatePublish,
  type BusHeader,
  type RoomEvent,
} from "@calcbridge/protocol";

/** Anything that can publish bytes on a subject: a NatsBus, or a nats.js connection. */
export interface EmitterTransport {
  publish(subject: string, data: Uint8Array): unknown;
}

/** A publish the emitter refused before anything was sent. */
export class EmitterValidationError extends Error {
  override name = "EmitterValidationError";
  readonly code = "ERR_INVALID_EVENT";
  constructor(readonly reasons: readonly string[]) {
    super(reasons.join("; "));
  }
}

export interface EmitterOptions {
  /** Subject prefix the edge nodes use. @default "rt" */
  prefix?: string;
  /** Tenant of job and notification rooms (workbook rooms name their own). @default undefined */
  tenant?: string;
}

/**
 * Publishes to a CalcBridge Realtime cluster from a backend service, without
 * an edge node in the process (the spirit of `@socket.io/redis-emitter`):
 *
 * ```ts
 * const emitter = new Emitter(bus, { tenant: "acme" });
 * emitter.to("job:job_1").emit("job.progress", { job_id: "job_1", progress: 40 });
 * emitter.of("/admin").to("ops").emit("deploy", { version: 3 }); // plain Socket.IO
 * ```
 *
 * CalcBridge events are validated exactly like `POST /v1/publish` and
 * encoded once; the edge nodes deliver the bytes as they are.
 */
export class Emitter {
  private readonly prefix: string;
  /** Names this emitter in cluster messages (nodes skip only their own). */
  readonly id = `emitter-${randomBytes(6).toString("hex")}`;

  constructor(
    private readonly transport: EmitterTransport,
    private readonly options: EmitterOptions = {},
  ) {
    this.prefix = options.prefix ?? DEFAULT_SUBJECT_PREFIX;
  }

  /** The same emitter for another tenant. */
  forTenant(tenant: string): Emitter {
    return new Emitter(this.transport, { ...this.options, tenant });
  }

  /** Target CalcBridge rooms (`workbook:{tenant}:{id}`, `job:{id}`, `notifications:{user}`). */
  to(room: string | readonly string[]): RoomEmitter {
    return new RoomEmitter(this, typeof room === "string" ? [room] : [...room]);
  }

  /**
   * Publish events given as the HTTP API takes them (`{tenant_id?, room, type,
   * payload, timestamp?}` or `{events: [...]}`): all validated first, so an
   * invalid batch publishes nothing. Returns the validated events.
   */
  publish(input: unknown): RoomEvent[] {
    const list =
      typeof input === "object" && input !== null && !Array.isArray(input) && "events" in input
        ? (input as { events: unknown }).events
        : [input];
    if (!Array.isArray(list)) throw new EmitterValidationError(['"events" must be an array']);
    const events: RoomEvent[] = [];
    const reasons: string[] = [];
    list.forEach((item, i) => {
      const withTenant =
        this.options.tenant !== undefined &&
        typeof item === "object" &&
        item !== null &&
        !("tenant_id" in item) &&
        !String((item as { room?: unknown }).room).startsWith("workbook:")
          ? { ...item, tenant_id: this.options.tenant }
          : item;
      const result = validatePublish(withTenant);
      if (result.ok) events.push(result.event);
      else for (const r of result.reasons) reasons.push(list.length > 1 ? `events[${i}]: ${r}` : r);
    });
    if (reasons.length > 0) throw new EmitterValidationError(reasons);
    for (const event of events) this.send(event);
    return events;
  }

  /** Plain Socket.IO broadcasts and adapter operations in a namespace. */
  of(nsp: string): NamespaceEmitter {
    return new NamespaceEmitter(this, nsp.startsWith("/") ? nsp : `/${nsp}`, [], []);
  }

  /** @internal */
  send(event: RoomEvent): void {
    this.transport.publish(
      subjectFor(event.tenantId, event.room, this.prefix),
      encodeEventMessage(event, encodeEnvelope(event)),
    );
  }

  /** @internal */
  raw(
    subject: "broadcast" | "request",
    nsp: string,
    header: Omit<BusHeader, "v" | "node">,
    body: Uint8Array,
  ): void {
    const full = { v: 1, node: this.id, ...header } as BusHeader;
    const to =
      subject === "broadcast" ? broadcastSubject(nsp, this.prefix) : requestSubject(this.prefix);
    this.transport.publish(to, encodeBusMessage(full, body));
  }

  get tenant(): string | undefined {
    return this.options.tenant;
  }
}

/** `emitter.to(room)`: CalcBridge events to one or more rooms. */
export class RoomEmitter {
  constructor(
    private readonly emitter: Emitter,
    private readonly rooms: string[],
  ) {}

  to(room: string | readonly string[]): RoomEmitter {
    return new RoomEmitter(this.emitter, [
      ...this.rooms,
      ...(typeof room === "string" ? [room] : room),
    ]);
  }

  /** Validate and publish one event of `type` to each room. */
  emit(
    type: string,
    payload: Record<string, unknown>,
    options: { timestamp?: string } = {},
  ): RoomEvent[] {
    const tenant = this.emitter.tenant;
    return this.emitter.publish({
      events: this.rooms.map((room) => ({
        ...(tenant !== undefined && !room.startsWith("workbook:") ? { tenant_id: tenant } : {}),
        room,
        type,
        payload,
        ...(options.timestamp !== undefined ? { timestamp: options.timestamp } : {}),
      })),
    });
  }
}

/** `emitter.of(nsp)`: Socket.IO broadcasts, encoded once, delivered by every node. */
export class NamespaceEmitter {
  constructor(
    private readonly emitter: Emitter,
    private readonly nsp: string,
    private readonly rooms: string[],
    private readonly exceptRooms: string[],
    private readonly volatile = false,
  ) {}

  to(room: string | readonly string[]): NamespaceEmitter {
    const rooms = [...this.rooms, ...(typeof room === "string" ? [room] : room)];
    return new NamespaceEmitter(this.emitter, this.nsp, rooms, this.exceptRooms, this.volatile);
  }

  in(room: string | readonly string[]): NamespaceEmitter {
    return this.to(room);
  }

  except(room: string | readonly string[]): NamespaceEmitter {
    const except = [...this.exceptRooms, ...(typeof room === "string" ? [room] : room)];
    return new NamespaceEmitter(this.emitter, this.nsp, this.rooms, except, this.volatile);
  }

  get volatileFlag(): NamespaceEmitter {
    return new NamespaceEmitter(this.emitter, this.nsp, this.rooms, this.exceptRooms, true);
  }

  /** Emit a Socket.IO event (any JSON or binary arguments; no acks from an emitter). */
  emit(event: string, ...args: unknown[]): true {
    if (typeof args[args.length - 1] === "function") {
      throw new Error("an emitter cannot receive acknowledgements");
    }
    const frames = encodeFrames({
      type: SocketPacketType.EVENT,
      nsp: this.nsp,
      data: [event, ...args],
    });
    const { layout, body } = packFrames(
      frames.binaries.length === 0 ? [frames.text] : [frames.text, ...frames.binaries],
    );
    this.emitter.raw(
      "broadcast",
      this.nsp,
      {
        kind: "broadcast",
        nsp: this.nsp,
        rooms: this.rooms,
        except: this.exceptRooms,
        flags: { volatile: this.volatile },
        ...(layout !== undefined ? { frames: layout } : {}),
      },
      body,
    );
    return true;
  }

  socketsJoin(room: string | readonly string[]): void {
    this.command("socketsJoin", typeof room === "string" ? [room] : [...room]);
  }

  socketsLeave(room: string | readonly string[]): void {
    this.command("socketsLeave", typeof room === "string" ? [room] : [...room]);
  }

  disconnectSockets(close = false): void {
    this.command("disconnectSockets", close);
  }

  /** Emit to the namespace's server-side listeners on every node. */
  serverSideEmit(event: string, ...args: unknown[]): void {
    this.emitter.raw(
      "request",
      this.nsp,
      { kind: "request", op: "serverSideEmit", nsp: this.nsp, event, args },
      new Uint8Array(),
    );
  }

  private command(op: string, args: unknown): void {
    this.emitter.raw(
      "request",
      this.nsp,
      { kind: "request", op, nsp: this.nsp, rooms: this.rooms, except: this.exceptRooms, args },
      new Uint8Array(),
    );
  }
}
