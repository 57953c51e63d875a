import {
  encodeEnvelope,
  encodeEventMessage,
  subjectFor,
  validatePublish,
  type Bus,
  type RoomEvent,
} from "@calcbridge/protocol";
import type { MemoryHistory } from "../history/memory-history.js";
import { EdgeError } from "../errors.js";

/** Most events one publish call (or HTTP batch) may carry. */
export const MAX_BATCH_EVENTS = 1000;

/** Events that were refused as a whole: nothing of the batch was published. */
export class PublishValidationError extends EdgeError {
  override name = "PublishValidationError";
  constructor(readonly reasons: readonly string[]) {
    super("ERR_INVALID_EVENT", reasons.join("; "));
  }
}

/** The bus cannot take the publish now; nothing was published. */
export class BusUnavailableError extends EdgeError {
  override name = "BusUnavailableError";
  constructor(reason: string, options?: { cause?: unknown }) {
    super("ERR_BUS_UNAVAILABLE", reason, options);
  }
}

/** What a publish accepted, in order. */
export interface PublishedEvent {
  room: string;
  tenant_id: string;
  type: string;
  timestamp: string;
  /** Where history is on: the event's offset. */
  offset?: string;
}

/**
 * Validates CalcBridge events and puts them on the bus: each event is encoded
 * once (the raw-API envelope) and that value is what every node delivers.
 */
export class Publisher {
  constructor(
    private readonly bus: Bus,
    private readonly subjectPrefix?: string,
    /** The embedded history: offsets are assigned here, at publish. */
    private readonly history?: MemoryHistory,
  ) {}

  /**
   * Validate every event first, then publish them all: an invalid batch
   * publishes nothing. `allowTenant` limits which tenants the caller may
   * publish for (undefined: any).
   */
  publish(input: unknown, allowTenant?: (tenantId: string) => boolean): PublishedEvent[] {
    const list = batchOf(input);
    const events: RoomEvent[] = [];
    const reasons: string[] = [];
    list.forEach((item, i) => {
      const where = list.length > 1 || isBatch(input) ? `events[${i}]: ` : "";
      const result = validatePublish(item);
      if (!result.ok) {
        for (const r of result.reasons) reasons.push(where + r);
        return;
      }
      if (allowTenant !== undefined && !allowTenant(result.event.tenantId)) {
        reasons.push(`${where}this token may not publish for tenant_id "${result.event.tenantId}"`);
        return;
      }
      events.push(result.event);
    });
    if (reasons.length > 0) throw new PublishValidationError(reasons);
    if (this.bus.status !== "connected") {
      throw new BusUnavailableError(`the message bus is ${this.bus.status}; nothing was published`);
    }
    const out: PublishedEvent[] = [];
    for (const event of events) {
      const subject = subjectFor(event.tenantId, event.room, this.subjectPrefix);
      let body: string;
      let offset: string | undefined;
      if (this.history !== undefined) {
        const stored = this.history.append(subject, event.type, (o) => encodeEnvelope(event, o));
        body = stored.envelope;
        offset = stored.offset;
      } else {
        body = encodeEnvelope(event);
      }
      const message = encodeEventMessage(event, body, offset !== undefined ? { offset } : {});
      try {
        this.bus.publish(subject, message);
      } catch (err) {
        throw new BusUnavailableError(
          `the message bus refused the publish after ${out.length} of ${events.length} events`,
          { cause: err },
        );
      }
      out.push({
        room: event.roomName,
        tenant_id: event.tenantId,
        type: event.type,
        timestamp: event.timestamp,
        ...(offset !== undefined ? { offset } : {}),
      });
    }
    return out;
  }
}

function isBatch(input: unknown): input is { events: unknown } {
  return typeof input === "object" && input !== null && !Array.isArray(input) && "events" in input;
}

function batchOf(input: unknown): unknown[] {
  if (!isBatch(input)) return [input];
  const events = (input as { events: unknown }).events;
  if (!Array.isArray(events)) throw new PublishValidationError(['"events" must be an array']);
  if (events.length === 0) throw new PublishValidationError(['"events" must not be empty']);
  if (events.length > MAX_BATCH_EVENTS) {
    throw new PublishValidationError([`"events" may hold at most ${MAX_BATCH_EVENTS} events`]);
  }
  return events;
}
