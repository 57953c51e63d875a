import { describe, isPlainObject, own } from "./check.js";
import { DecodeError, EncodeError } from "./errors.js";

/*
 * The message carried on the bus (NATS or the in-process bus). Layout:
 *
 *   <header JSON> "\n" <body bytes>
 *
 * JSON.stringify never emits a raw newline (it escapes the ones in strings),
 * so the first "\n" ends the header. The body is the already encoded frame
 * (an event's envelope JSON, a Socket.IO packet): it travels untouched, and a
 * receiver reads only the small header and hands a view of the body on.
 */

/** The bus format version this package writes and reads. */
export const BUS_VERSION = 1;

/** Largest header a decoder looks for, in bytes; past it the message is rejected unread. */
export const MAX_BUS_HEADER_BYTES = 64 * 1024;

/** The header of a bus message. */
export interface BusHeader {
  /** Format version, {@link BUS_VERSION}. */
  v: 1;
  /**
   * `event`: a CalcBridge event; the body is its envelope JSON. `broadcast`: a
   * Socket.IO broadcast; the body is its packed frames (`packFrames`).
   * `request`/`reply`: a cross-node operation and one node's answer (JSON
   * body). `heartbeat`: a node announcing itself (cluster membership).
   */
  kind: "event" | "broadcast" | "request" | "reply" | "heartbeat";
  /** The node that sent it (so it can skip its own messages). */
  node?: string;
  /** event: the tenant (required for `event`). */
  tenant?: string;
  /** event: the public room name (required for `event`). */
  room?: string;
  /** event: the event type, so a receiver builds the Socket.IO frame without parsing the body (required for `event`). */
  type?: string;
  /** broadcast: the namespace (required for `broadcast`). */
  nsp?: string;
  /** broadcast: the rooms to reach; none means the whole namespace. */
  rooms?: string[];
  /** broadcast: the rooms (or socket ids) to leave out. */
  except?: string[];
  /** request: the cross-node operation (`fetchSockets`, `socketsJoin`, ...). */
  op?: string;
  /** broadcast: Socket.IO broadcast flags. */
  flags?: { volatile?: boolean; local?: boolean };
  [k: string]: unknown;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const NEWLINE = 0x0a;

/** The problems of a header (empty when valid). Never throws. */
function headerProblems(h: unknown): string[] {
  if (!isPlainObject(h)) return [`header must be an object (got ${describe(h)})`];
  const reasons: string[] = [];
  if (own(h, "v") !== BUS_VERSION) reasons.push(`header.v must be ${BUS_VERSION}`);
  const kind = own(h, "kind");
  optionalString(h, "node", reasons);
  if (kind === "event") {
    for (const key of ["tenant", "room", "type"]) {
      const v = own(h, key);
      if (typeof v !== "string" || v.length === 0) {
        reasons.push(`header.${key} must be a non-empty string in an event`);
      }
    }
  } else if (kind === "broadcast") {
    if (typeof own(h, "nsp") !== "string")
      reasons.push("header.nsp must be a string in a broadcast");
    for (const key of ["rooms", "except"]) {
      const v = own(h, key);
      if (v !== undefined && !(Array.isArray(v) && v.every((x) => typeof x === "string"))) {
        reasons.push(`header.${key} must be an array of strings`);
      }
    }
    const flags = own(h, "flags");
    if (flags !== undefined) {
      if (!isPlainObject(flags)) {
        reasons.push("header.flags must be an object");
      } else {
        for (const key of ["volatile", "local"]) {
          const v = own(flags, key);
          if (v !== undefined && typeof v !== "boolean") {
            reasons.push(`header.flags.${key} must be a boolean`);
          }
        }
      }
    }
  } else if (kind === "request") {
    if (typeof own(h, "op") !== "string") reasons.push("header.op must be a string in a request");
    optionalString(h, "nsp", reasons);
  } else if (kind !== "reply" && kind !== "heartbeat") {
    reasons.push('header.kind must be "event", "broadcast", "request", "reply" or "heartbeat"');
  }
  return reasons;
}

function optionalString(h: Record<string, unknown>, key: string, reasons: string[]): void {
  const v = own(h, key);
  if (v !== undefined && typeof v !== "string") reasons.push(`header.${key} must be a string`);
}

/**
 * Encodes a bus message: the header as JSON, `"\n"`, then the body (a string
 * is encoded as UTF-8; bytes are copied in as they are).
 *
 * @throws EncodeError `ERR_INVALID_BUS_HEADER` for a header a decoder would
 *   reject (so what is sent can always be read back).
 */
export function encodeBusMessage(header: BusHeader, body: string | Uint8Array): Uint8Array {
  const problems = headerProblems(header);
  let json: string | undefined;
  if (problems.length === 0) {
    try {
      json = JSON.stringify(header);
    } catch {
      problems.push("header must be JSON-serialisable");
    }
  }
  if (json === undefined) {
    throw new EncodeError("ERR_INVALID_BUS_HEADER", `invalid bus header: ${problems.join("; ")}`);
  }
  if (typeof body === "string") return encoder.encode(`${json}\n${body}`);
  const head = encoder.encode(json);
  const out = new Uint8Array(head.length + 1 + body.length);
  out.set(head, 0);
  out[head.length] = NEWLINE;
  out.set(body, head.length + 1);
  return out;
}

/**
 * Decodes a bus message. Only the header is parsed; `body` is a view into
 * `data` (`data.subarray`, no copy), so it is only valid as long as `data`
 * is: copy it before keeping it past a callback that reuses its buffer.
 *
 * @throws DecodeError `ERR_INVALID_BUS_MESSAGE` (not bytes, no header end
 *   within {@link MAX_BUS_HEADER_BYTES}, not UTF-8, not JSON, an invalid header).
 */
export function decodeBusMessage(data: Uint8Array): { header: BusHeader; body: Uint8Array } {
  if (!(data instanceof Uint8Array)) {
    throw invalid(`a bus message must be a Uint8Array (got ${describe(data)})`);
  }
  const end = data.subarray(0, MAX_BUS_HEADER_BYTES + 1).indexOf(NEWLINE);
  if (end < 0) throw invalid(`no header end ("\\n") within ${MAX_BUS_HEADER_BYTES} bytes`);
  let header: unknown;
  try {
    header = JSON.parse(decoder.decode(data.subarray(0, end)));
  } catch (cause) {
    throw invalid("the header is not UTF-8 JSON", cause);
  }
  const problems = headerProblems(header);
  if (problems.length > 0) throw invalid(`invalid header: ${problems.join("; ")}`);
  return { header: header as BusHeader, body: data.subarray(end + 1) };
}

function invalid(reason: string, cause?: unknown): DecodeError {
  return new DecodeError(
    "ERR_INVALID_BUS_MESSAGE",
    reason,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * The bus message of one validated room event: its envelope (encoded once,
 * with `offset` when the publisher assigns offsets) behind an `event` header
 * that carries what a receiver needs without parsing the body, and `t`, the
 * publish time in ms (for the publish -> hand-off latency).
 */
export function encodeEventMessage(
  event: { tenantId: string; roomName: string; type: string },
  envelope: string,
  options: { offset?: string; now?: number } = {},
): Uint8Array {
  const header: BusHeader = {
    v: 1,
    kind: "event",
    tenant: event.tenantId,
    room: event.roomName,
    type: event.type,
    t: options.now ?? Date.now(),
  };
  if (options.offset !== undefined) header["o"] = options.offset;
  return encodeBusMessage(header, envelope);
}
