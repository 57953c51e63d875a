import { describe, isPlainObject, own, quote, utf8Length } from "./check.js";
import { DecodeError, EncodeError, ValidationError } from "./errors.js";
import { isEventType, isIsoUtcTimestamp, validatePayload, type EventType } from "./events.js";
import { formatRoom, idProblem, parseRoom, type Room } from "./rooms.js";

/**
 * The event envelope of the raw API, as the public docs show it, plus `room`
 * and, where history is on, a monotonically increasing `offset`:
 * `{"type":"job.completed","payload":{...},"timestamp":"2026-01-25T10:30:15Z","room":"job:j1"}`.
 */
export interface Envelope {
  type: EventType;
  payload: Record<string, unknown>;
  timestamp: string;
  room?: string;
  offset?: string | number;
}

/** Largest payload a publish may carry, in bytes of its JSON encoding. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

/** Largest raw-API client message, in UTF-8 bytes; longer ones are rejected before parsing. */
export const MAX_CLIENT_MESSAGE_BYTES = 4 * 1024;

/** A publish request as it arrives (HTTP body, emitter): nothing about it is trusted yet. */
export interface PublishRequest {
  tenant_id?: unknown;
  room?: unknown;
  type?: unknown;
  payload?: unknown;
  timestamp?: unknown;
}

/** A validated event for one room of one tenant, ready to encode. */
export interface RoomEvent {
  /** The tenant whose subject carries the event. */
  tenantId: string;
  room: Room;
  /** The public room name (`formatRoom(room)`). */
  roomName: string;
  type: EventType;
  payload: Record<string, unknown>;
  /** ISO 8601 UTC date-time. */
  timestamp: string;
}

/**
 * Validates one publish request, `{tenant_id?, room, type, payload, timestamp?}`:
 *
 * - `room` is a public room name;
 * - the tenant: `tenant_id` may be omitted for a workbook room, whose name
 *   carries it, and must equal it where both are given; job and notification
 *   rooms name no tenant, so they need `tenant_id`;
 * - `type` is an event type and `payload` fits it (`validatePayload`); any
 *   type may go to any room kind;
 * - `payload` encodes to at most {@link MAX_PAYLOAD_BYTES} of JSON;
 * - `timestamp`, if present, is an ISO 8601 UTC date-time, kept as given;
 *   otherwise it is `now()`.
 *
 * A batch (`{"events": [...]}`) or an array is not a single event and is
 * rejected: the caller validates each element. Other unknown fields are
 * ignored. Never throws; all problems found are reported at once.
 *
 * @param now the clock for a missing timestamp. @default () => new Date()
 */
export function validatePublish(
  input: unknown,
  now: () => Date = () => new Date(),
): { ok: true; event: RoomEvent } | { ok: false; reasons: string[] } {
  if (Array.isArray(input)) {
    return fail(['an event must be an object, not an array: publish a batch as {"events":[...]}']);
  }
  if (!isPlainObject(input)) return fail([`an event must be an object (got ${describe(input)})`]);
  if (own(input, "events") !== undefined) {
    return fail(['a batch ({"events":[...]}) is not a single event: validate each event']);
  }
  const reasons: string[] = [];

  let room: Room | undefined;
  const roomName = own(input, "room");
  if (roomName === undefined) {
    reasons.push("room is required");
  } else if (typeof roomName !== "string") {
    reasons.push(`room must be a string (got ${describe(roomName)})`);
  } else {
    try {
      room = parseRoom(roomName);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      reasons.push(...err.reasons);
    }
  }

  let tenantId: string | undefined;
  const tenantField = own(input, "tenant_id");
  if (tenantField !== undefined) {
    const problem = idProblem("tenant_id", tenantField);
    if (problem !== null) reasons.push(problem);
    else tenantId = tenantField as string;
  }
  if (room !== undefined) {
    if (room.kind === "workbook") {
      if (tenantId === undefined && tenantField === undefined) {
        tenantId = room.tenantId;
      } else if (tenantId !== undefined && tenantId !== room.tenantId) {
        reasons.push(
          `tenant_id ${quote(tenantId)} does not match the room's tenant ${quote(room.tenantId)}`,
        );
      }
    } else if (tenantField === undefined) {
      reasons.push(`tenant_id is required for a ${room.kind} room (its name carries no tenant)`);
    }
  }

  const type = own(input, "type");
  if (type === undefined) {
    reasons.push("type is required");
  } else if (!isEventType(type)) {
    reasons.push(
      `type ${typeof type === "string" ? quote(type) : `(${describe(type)})`} is not a known event type`,
    );
  }

  const payload = own(input, "payload");
  if (payload === undefined) {
    reasons.push("payload is required");
  } else if (isEventType(type)) {
    reasons.push(...validatePayload(type, payload));
  } else if (!isPlainObject(payload)) {
    reasons.push(`payload must be an object (got ${describe(payload)})`);
  }
  if (isPlainObject(payload)) {
    const size = jsonBytes(payload);
    if (size === undefined) {
      reasons.push("payload must be JSON-serialisable");
    } else if (size > MAX_PAYLOAD_BYTES) {
      reasons.push(`payload must be at most ${MAX_PAYLOAD_BYTES} bytes of JSON (got ${size})`);
    }
  }

  const timestampField = own(input, "timestamp");
  if (timestampField !== undefined && !isIsoUtcTimestamp(timestampField)) {
    reasons.push("timestamp must be an ISO 8601 UTC date-time such as 2026-01-25T10:30:15Z");
  }

  if (reasons.length > 0 || room === undefined || tenantId === undefined) {
    return fail(reasons.length > 0 ? reasons : ["invalid event"]);
  }
  const timestamp = timestampField === undefined ? now().toISOString() : (timestampField as string);
  return {
    ok: true,
    event: {
      tenantId,
      room,
      roomName: formatRoom(room),
      type: type as EventType,
      payload: payload as Record<string, unknown>,
      timestamp,
    },
  };
}

function fail(reasons: string[]): { ok: false; reasons: string[] } {
  return { ok: false, reasons };
}

/** UTF-8 size of the JSON encoding of `value`, or undefined when it has none (a cycle, a BigInt, too deep). */
function jsonBytes(value: unknown): number | undefined {
  try {
    const json = JSON.stringify(value) as string | undefined;
    return json === undefined ? undefined : utf8Length(json);
  } catch {
    return undefined;
  }
}

function stringify(value: unknown, what: string): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value) as string | undefined;
  } catch (cause) {
    throw new EncodeError("ERR_NOT_SERIALISABLE", `${what} is not JSON-serialisable`, { cause });
  }
  if (json === undefined) {
    throw new EncodeError("ERR_NOT_SERIALISABLE", `${what} is not JSON-serialisable`);
  }
  return json;
}

/**
 * Encodes an event once as the raw-API JSON frame, keys in this exact order:
 * `{"type":...,"payload":...,"timestamp":...,"room":...,"offset":...}`, where
 * `room` is the public room name and `offset` appears only when given. The
 * result is the body of the bus message and, wrapped by
 * {@link socketIoEventFrame}, the Socket.IO frame: nobody parses it again.
 *
 * @throws EncodeError `ERR_NOT_SERIALISABLE` for a payload JSON cannot encode,
 *   `ERR_INVALID_OFFSET` for an offset that is not a string or finite number.
 */
export function encodeEnvelope(event: RoomEvent, offset?: string | number): string {
  let tail = "}";
  if (offset !== undefined) {
    if (!(typeof offset === "string" || (typeof offset === "number" && Number.isFinite(offset)))) {
      throw new EncodeError("ERR_INVALID_OFFSET", "offset must be a string or a finite number");
    }
    tail = `,"offset":${JSON.stringify(offset)}}`;
  }
  return (
    `{"type":${JSON.stringify(event.type)}` +
    `,"payload":${stringify(event.payload, "payload")}` +
    `,"timestamp":${JSON.stringify(event.timestamp)}` +
    `,"room":${JSON.stringify(event.roomName)}` +
    tail
  );
}

/** Server-to-client control messages of the raw API. */
export type ControlMessage = {
  type: "subscribed" | "unsubscribed" | "pong" | "error" | "refreshed" | "recovery_gap";
  [k: string]: unknown;
};

/**
 * Encodes a raw-API control message with `type` first, then the other fields
 * in their order: `{"type":"subscribed","room":"job:j1"}`,
 * `{"type":"error","code":4003,"reason":"...","request":"subscribe"}`.
 *
 * @throws EncodeError `ERR_NOT_SERIALISABLE`
 */
export function encodeControl(msg: ControlMessage): string {
  // Rest and spread define own properties: an own "__proto__" key stays data.
  const { type, ...rest } = msg;
  return stringify({ type, ...rest }, "control message");
}

/** Client-to-server messages of the raw API. */
export type ClientMessage =
  | { type: "subscribe"; room: string; since?: string }
  | { type: "unsubscribe"; room: string }
  | { type: "ping" }
  | { type: "refresh"; token: string };

/**
 * Decodes a raw-API client message: `{"type":"subscribe","room":...,"since"?:...}`,
 * `{"type":"unsubscribe","room":...}`, `{"type":"ping"}`,
 * `{"type":"refresh","token":...}`. Messages over
 * {@link MAX_CLIENT_MESSAGE_BYTES} are rejected before `JSON.parse`. `room` is
 * only checked to be a string (the caller parses it and answers a bad room
 * with an `error` envelope); `since` may be a string or a non-negative
 * integer, and comes back as a string. Unknown fields are ignored.
 *
 * @throws DecodeError `ERR_INVALID_REQUEST` (too big, not JSON, not an
 *   object, a missing or mistyped field), `ERR_UNKNOWN_REQUEST` (a `type` this
 *   API does not have).
 */
export function decodeClientMessage(text: string): ClientMessage {
  if (typeof text !== "string") throw invalidRequest("a message must be text");
  // UTF-16 units never outnumber UTF-8 bytes, so a long string fails fast.
  if (text.length > MAX_CLIENT_MESSAGE_BYTES || utf8Length(text) > MAX_CLIENT_MESSAGE_BYTES) {
    throw invalidRequest(`a message must be at most ${MAX_CLIENT_MESSAGE_BYTES} bytes`);
  }
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    throw invalidRequest("a message must be JSON");
  }
  if (!isPlainObject(msg))
    throw invalidRequest(`a message must be an object (got ${describe(msg)})`);
  const type = own(msg, "type");
  if (typeof type !== "string") throw invalidRequest('"type" must be a string');
  switch (type) {
    case "subscribe": {
      const room = requireString(msg, "room", type);
      const since = own(msg, "since");
      if (since === undefined || since === null) return { type, room };
      if (typeof since === "string") return { type, room, since };
      if (typeof since === "number" && Number.isSafeInteger(since) && since >= 0) {
        return { type, room, since: String(since) };
      }
      throw invalidRequest('"since" of a subscribe request must be a string or an integer >= 0');
    }
    case "unsubscribe":
      return { type, room: requireString(msg, "room", type) };
    case "ping":
      return { type };
    case "refresh": {
      const token = requireString(msg, "token", type);
      if (token.length === 0)
        throw invalidRequest('"token" of a refresh request must not be empty');
      return { type, token };
    }
    default:
      throw new DecodeError("ERR_UNKNOWN_REQUEST", `unknown request type ${quote(type)}`);
  }
}

function requireString(msg: Record<string, unknown>, key: string, type: string): string {
  const v = own(msg, key);
  if (typeof v !== "string") throw invalidRequest(`"${key}" of a ${type} request must be a string`);
  return v;
}

function invalidRequest(reason: string): DecodeError {
  return new DecodeError("ERR_INVALID_REQUEST", reason);
}

/**
 * The Socket.IO WebSocket text frame of an event whose argument is an already
 * encoded envelope: `42["<type>",<envelopeJson>]`, or `42/admin,["<type>",...]`
 * outside the main namespace (Engine.IO MESSAGE "4" + Socket.IO EVENT "2",
 * socket.io-protocol v5 §"Packet encoding"). Built by concatenation: the
 * envelope is not parsed. With `offset` (a connection-state-recovery session),
 * the offset is appended as the last argument, as the official client expects.
 *
 * @param nsp the namespace. @default "/"
 * @throws EncodeError `ERR_INVALID_NAMESPACE` for a namespace that does not
 *   start with "/" or contains ","
 */
export function socketIoEventFrame(
  type: string,
  envelopeJson: string,
  nsp: string = "/",
  offset?: string,
): string {
  let head = "42";
  if (nsp !== "/") {
    if (!nsp.startsWith("/") || nsp.includes(",")) {
      throw new EncodeError("ERR_INVALID_NAMESPACE", `invalid namespace ${quote(nsp)}`);
    }
    head += `${nsp},`;
  }
  const tail = offset === undefined ? "]" : `,${JSON.stringify(offset)}]`;
  return `${head}[${JSON.stringify(type)},${envelopeJson}${tail}`;
}
