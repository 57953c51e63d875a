/**
 * Engine.IO protocol v4 packets: the framing under Socket.IO.
 *
 * A packet is one type digit followed by its data ("4hello", "2probe", "6").
 * Over WebSocket each packet is one frame; a binary message is a binary frame
 * holding only the bytes. Over HTTP long-polling several packets travel in
 * one body joined by the record separator 0x1e, and a binary message is
 * written as "b" + base64 (protocol v4, "Packet encoding" and "Payload").
 */
import { decodeBase64, encodeBase64 } from "./base64.js";
import { DecodeError, EncodeError, ProtocolError } from "./errors.js";

/** Engine.IO protocol revision spoken here (the `EIO=4` query parameter). */
export const ENGINE_PROTOCOL_VERSION = 4;

/** Separates packets in a long-polling payload (ASCII "record separator"). */
export const RECORD_SEPARATOR = "\x1e";

/** Default bound on the packets {@link decodePollingPayload} accepts in one body. */
export const DEFAULT_MAX_POLLING_PACKETS = 10_000;

export type EnginePacketType = "open" | "close" | "ping" | "pong" | "message" | "upgrade" | "noop";

export interface EnginePacket {
  type: EnginePacketType;
  /** Text, or the bytes of a binary message. Absent when the packet carries nothing. */
  data?: string | Uint8Array;
}

/** What the server sends in the "open" packet (protocol v4, "Handshake"). */
export interface EngineHandshake {
  sid: string;
  upgrades: string[];
  pingInterval: number;
  pingTimeout: number;
  maxPayload: number;
}

export interface PollingDecodeOptions {
  /**
   * Most packets one body may hold; more is a `DecodeError`
   * (`ERR_TOO_MANY_PACKETS`) raised before the extra packets are decoded.
   * @default 10000
   */
  maxPackets?: number;
}

const TYPE_DIGIT: Readonly<Record<EnginePacketType, string>> = {
  open: "0",
  close: "1",
  ping: "2",
  pong: "3",
  message: "4",
  upgrade: "5",
  noop: "6",
};

/** Index = char code - 48 ("0"). */
const TYPE_BY_DIGIT: readonly EnginePacketType[] = [
  "open",
  "close",
  "ping",
  "pong",
  "message",
  "upgrade",
  "noop",
];

const DIGIT_ZERO = 48;
const LETTER_B = 98;

function typeDigit(type: unknown): string {
  if (typeof type !== "string" || !Object.hasOwn(TYPE_DIGIT, type)) {
    throw new EncodeError(
      "ERR_UNKNOWN_PACKET_TYPE",
      `unknown Engine.IO packet type ${String(type)}`,
    );
  }
  return TYPE_DIGIT[type as EnginePacketType];
}

function asBytes(data: ArrayBuffer | ArrayBufferView): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * The WebSocket frame of one packet: the string `"<digit><data>"`, or for a
 * binary message its bytes (the same `Uint8Array`, not a copy).
 *
 * @throws EncodeError for an unknown type, data that is neither a string nor
 *   bytes, or bytes on a packet other than "message".
 */
export function encodeEnginePacket(packet: EnginePacket): string | Uint8Array {
  const digit = typeDigit(packet.type);
  const data: unknown = packet.data;
  if (data === undefined) return digit;
  if (typeof data === "string") return digit + data;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
    // v4 has no type byte on binary frames, so only a message can be binary.
    if (packet.type !== "message") {
      throw new EncodeError(
        "ERR_INVALID_DATA",
        `a "${packet.type}" packet cannot carry binary data`,
      );
    }
    return asBytes(data);
  }
  throw new EncodeError("ERR_INVALID_DATA", "packet data must be a string or a Uint8Array");
}

/** The "open" packet: `0` followed by the handshake JSON, keys in the order engine.io writes them. */
export function encodeOpenPacket(handshake: EngineHandshake): string {
  const { sid, upgrades, pingInterval, pingTimeout, maxPayload } = handshake;
  if (typeof sid !== "string" || sid.length === 0) {
    throw new EncodeError("ERR_INVALID_HANDSHAKE", "handshake.sid must be a non-empty string");
  }
  if (!Array.isArray(upgrades) || !upgrades.every((u) => typeof u === "string")) {
    throw new EncodeError(
      "ERR_INVALID_HANDSHAKE",
      "handshake.upgrades must be an array of strings",
    );
  }
  for (const [name, value] of [
    ["pingInterval", pingInterval],
    ["pingTimeout", pingTimeout],
    ["maxPayload", maxPayload],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new EncodeError(
        "ERR_INVALID_HANDSHAKE",
        `handshake.${name} must be a non-negative integer`,
      );
    }
  }
  return (
    "0" + JSON.stringify({ sid, upgrades: [...upgrades], pingInterval, pingTimeout, maxPayload })
  );
}

/** Decode a text packet `frame.slice(start, end)` (non-empty). */
function decodeText(frame: string, start: number, end: number): EnginePacket {
  if (end <= start) throw new DecodeError("ERR_EMPTY_PACKET", "empty Engine.IO packet");
  const code = frame.charCodeAt(start);
  if (code === LETTER_B) {
    // "b<base64>": a binary message sent where binary cannot travel as is
    // (polling, or a WebSocket client with forceBase64).
    return { type: "message", data: decodeBase64(frame, start + 1, end) };
  }
  const type = TYPE_BY_DIGIT[code - DIGIT_ZERO];
  if (type === undefined) {
    throw new DecodeError(
      "ERR_UNKNOWN_PACKET_TYPE",
      `unknown Engine.IO packet type ${JSON.stringify(frame.charAt(start))}`,
    );
  }
  return end - start > 1 ? { type, data: frame.slice(start + 1, end) } : { type };
}

/**
 * Decode one WebSocket frame: a string for a text frame, bytes for a binary
 * frame. A binary frame is a "message" whose `data` is the given
 * `Uint8Array` itself (no copy: copy it first if its memory is only valid in
 * a callback, as with uWS).
 *
 * @throws DecodeError only.
 */
export function decodeEnginePacket(frame: string | Uint8Array): EnginePacket {
  if (typeof frame === "string") return decodeText(frame, 0, frame.length);
  if (frame instanceof Uint8Array) return { type: "message", data: frame };
  throw new DecodeError("ERR_INVALID_FRAME", "a frame must be a string or a Uint8Array");
}

/**
 * Join already-encoded WebSocket frames into one long-polling body: text
 * frames as they are, binary frames as "b" + base64, separated by 0x1e.
 *
 * @throws EncodeError if a text frame is empty or contains 0x1e (the body
 *   could not be split back; Socket.IO text never does, JSON escapes it).
 */
export function encodePollingPayload(frames: readonly (string | Uint8Array)[]): string {
  let out = "";
  for (let i = 0; i < frames.length; i++) {
    const frame = frames[i];
    let text: string;
    if (typeof frame === "string") {
      if (frame.length === 0) throw new EncodeError("ERR_EMPTY_PACKET", `frame ${i} is empty`);
      if (frame.indexOf(RECORD_SEPARATOR) !== -1) {
        throw new EncodeError(
          "ERR_RECORD_SEPARATOR",
          `frame ${i} contains the record separator 0x1e`,
        );
      }
      text = frame;
    } else if (frame instanceof Uint8Array) {
      text = "b" + encodeBase64(frame);
    } else {
      throw new EncodeError("ERR_INVALID_FRAME", `frame ${i} is neither a string nor a Uint8Array`);
    }
    out = i === 0 ? text : out + RECORD_SEPARATOR + text;
  }
  return out;
}

/**
 * Split a POSTed long-polling body into packets. Every record must be a
 * valid packet; binary messages ("b" + base64) come back as `Uint8Array`.
 *
 * @throws DecodeError only: an empty body or record, an unknown type, bad
 *   base64, or more than `maxPackets` records.
 */
export function decodePollingPayload(body: string, options?: PollingDecodeOptions): EnginePacket[] {
  const maxPackets = options?.maxPackets ?? DEFAULT_MAX_POLLING_PACKETS;
  if (!Number.isSafeInteger(maxPackets) || maxPackets < 1) {
    throw new ProtocolError("ERR_INVALID_OPTION", "options.maxPackets must be a positive integer");
  }
  if (typeof body !== "string") {
    throw new DecodeError("ERR_INVALID_PAYLOAD", "a polling payload must be a string");
  }
  const packets: EnginePacket[] = [];
  let start = 0;
  for (;;) {
    if (packets.length === maxPackets) {
      throw new DecodeError(
        "ERR_TOO_MANY_PACKETS",
        `a polling payload may hold at most ${maxPackets} packets`,
      );
    }
    let end = body.indexOf(RECORD_SEPARATOR, start);
    const last = end === -1;
    if (last) end = body.length;
    packets.push(decodeText(body, start, end));
    if (last) return packets;
    start = end + 1;
  }
}
