/**
 * Decoding Socket.IO protocol v5 packets from a client: strict and total.
 * Any input gives a packet, `null` (attachments awaited) or a `DecodeError`,
 * within bounds on attachments and nesting ("Packet encoding" of the spec;
 * validity as socket.io-parser's `isPayloadValid`).
 */
import { fillPlaceholders, scanPayload, type PlaceholderSlot } from "./binary.js";
import { DecodeError, ProtocolError } from "./errors.js";
import {
  ackIdRule,
  isDataValid,
  type SocketPacket,
  type SocketPacketTypeId,
} from "./socket-packet.js";

export interface SocketDecoderOptions {
  /**
   * Most binary attachments one packet may announce.
   * @default 10
   */
  maxAttachments?: number;
  /**
   * Most levels of nested arrays/objects in a payload (the payload itself is
   * level 1). Deeper is a `DecodeError` (`ERR_TOO_DEEP`).
   * @default 32
   */
  maxDepth?: number;
}

export const DEFAULT_MAX_ATTACHMENTS = 10;
export const DEFAULT_MAX_DEPTH = 32;

const DIGIT_ZERO = 48;
const DIGIT_NINE = 57;
const SLASH = 47;
const DASH = 45;

interface ParsedText {
  packet: SocketPacket;
  attachments: number;
  slots: PlaceholderSlot[];
}

function isDigit(code: number): boolean {
  return code >= DIGIT_ZERO && code <= DIGIT_NINE;
}

function parseText(str: string, maxAttachments: number, maxDepth: number): ParsedText {
  const n = str.length;
  if (n === 0) throw new DecodeError("ERR_EMPTY_PACKET", "empty Socket.IO packet");
  const typeCode = str.charCodeAt(0) - DIGIT_ZERO;
  if (typeCode < 0 || typeCode > 6) {
    throw new DecodeError(
      "ERR_UNKNOWN_PACKET_TYPE",
      `unknown Socket.IO packet type ${JSON.stringify(str.charAt(0))}`,
    );
  }
  const type = typeCode as SocketPacketTypeId;
  const binary = type === 5 || type === 6;
  let i = 1;

  let attachments = 0;
  if (binary) {
    const start = i;
    while (i < n && isDigit(str.charCodeAt(i))) i++;
    if (i === start || str.charCodeAt(i) !== DASH) {
      throw new DecodeError(
        "ERR_INVALID_ATTACHMENTS",
        "binary packet without a valid attachment count",
      );
    }
    attachments = Number(str.slice(start, i));
    if (attachments < 1) {
      throw new DecodeError(
        "ERR_INVALID_ATTACHMENTS",
        "a binary packet needs at least one attachment",
      );
    }
    if (attachments > maxAttachments) {
      throw new DecodeError("ERR_TOO_MANY_ATTACHMENTS", `more than ${maxAttachments} attachments`);
    }
    i++;
  }

  let nsp = "/";
  if (str.charCodeAt(i) === SLASH) {
    // The namespace runs to the first "," or, with nothing after it, to the end.
    const comma = str.indexOf(",", i);
    const end = comma === -1 ? n : comma;
    nsp = str.slice(i, end);
    i = comma === -1 ? n : comma + 1;
  }

  let id: number | undefined;
  const idStart = i;
  while (i < n && isDigit(str.charCodeAt(i))) i++;
  if (i > idStart) {
    id = Number(str.slice(idStart, i));
    if (!Number.isSafeInteger(id)) {
      throw new DecodeError("ERR_INVALID_ACK_ID", "ack id is beyond Number.MAX_SAFE_INTEGER");
    }
  }
  const idRule = ackIdRule(type);
  if (id === undefined ? idRule === "required" : idRule === "forbidden") {
    throw new DecodeError(
      "ERR_INVALID_ACK_ID",
      id === undefined
        ? `packet type ${type} needs an ack id`
        : `packet type ${type} cannot carry an ack id`,
    );
  }

  let data: unknown;
  if (i < n) {
    const first = str.charCodeAt(i);
    // Valid data is always an array, an object or a string.
    if (first !== 0x5b && first !== 0x7b && first !== 0x22) {
      throw new DecodeError(
        "ERR_INVALID_PAYLOAD",
        `unexpected ${JSON.stringify(str.charAt(i))} at offset ${i}`,
      );
    }
    try {
      data = JSON.parse(str.slice(i));
    } catch (error) {
      throw new DecodeError("ERR_INVALID_PAYLOAD", "payload is not valid JSON", { cause: error });
    }
  }
  if (!isDataValid(type, data)) {
    throw new DecodeError("ERR_INVALID_PAYLOAD", `invalid payload for packet type ${type}`);
  }
  const slots = scanPayload(data, maxDepth, binary ? attachments : null);

  // Like socket.io-parser, a reassembled BINARY_EVENT/BINARY_ACK is reported as EVENT/ACK.
  const packet: SocketPacket = { type: binary ? ((type - 3) as SocketPacketTypeId) : type, nsp };
  if (id !== undefined) packet.id = id;
  if (data !== undefined) packet.data = data;
  return { packet, attachments, slots };
}

function checkOption(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new ProtocolError("ERR_INVALID_OPTION", `options.${name} must be an integer >= ${min}`);
  }
  return value;
}

interface Pending extends ParsedText {
  buffers: Uint8Array[];
}

/**
 * Decodes the Socket.IO packets of one connection. Feed it each Engine.IO
 * message payload in order: text without the "4", or an attachment's bytes.
 * Attachments are kept as given (no copy).
 *
 * Total and bounded: any input gives a packet, `null` (attachments still
 * awaited) or a `DecodeError`; after an error the decoder is reset.
 */
export class SocketDecoder {
  readonly #maxAttachments: number;
  readonly #maxDepth: number;
  #pending: Pending | null = null;

  constructor(options?: SocketDecoderOptions) {
    this.#maxAttachments = checkOption(
      "maxAttachments",
      options?.maxAttachments,
      DEFAULT_MAX_ATTACHMENTS,
      0,
    );
    this.#maxDepth = checkOption("maxDepth", options?.maxDepth, DEFAULT_MAX_DEPTH, 1);
  }

  /** Whether a binary packet is waiting for attachments. */
  get awaitingAttachments(): boolean {
    return this.#pending !== null;
  }

  /**
   * @returns the complete packet, or `null` while attachments are awaited.
   * @throws DecodeError only; the decoder is reset and reusable afterwards.
   */
  add(chunk: string | Uint8Array): SocketPacket | null {
    try {
      return this.#add(chunk);
    } catch (error) {
      this.reset();
      throw error;
    }
  }

  #add(chunk: string | Uint8Array): SocketPacket | null {
    const pending = this.#pending;
    if (typeof chunk === "string") {
      if (pending !== null) {
        throw new DecodeError(
          "ERR_EXPECTED_ATTACHMENT",
          "got a text packet while attachments were awaited",
        );
      }
      const parsed = parseText(chunk, this.#maxAttachments, this.#maxDepth);
      if (parsed.attachments === 0) return parsed.packet;
      this.#pending = {
        packet: parsed.packet,
        attachments: parsed.attachments,
        slots: parsed.slots,
        buffers: [],
      };
      return null;
    }
    if (!(chunk instanceof Uint8Array)) {
      throw new DecodeError("ERR_INVALID_CHUNK", "a chunk must be a string or a Uint8Array");
    }
    if (pending === null) {
      throw new DecodeError("ERR_UNEXPECTED_ATTACHMENT", "got binary data without a binary packet");
    }
    pending.buffers.push(chunk);
    if (pending.buffers.length < pending.attachments) return null;
    this.#pending = null;
    fillPlaceholders(pending.slots, pending.buffers);
    return pending.packet;
  }

  /** Drop a partly received binary packet. */
  reset(): void {
    this.#pending = null;
  }
}

/**
 * Decode one text packet that has no attachments.
 *
 * @throws DecodeError only; a BINARY_EVENT/BINARY_ACK is `ERR_UNEXPECTED_BINARY_PACKET`.
 */
export function decodeSocketPacket(text: string, options?: SocketDecoderOptions): SocketPacket {
  if (typeof text !== "string") {
    throw new DecodeError("ERR_INVALID_CHUNK", "a Socket.IO text packet must be a string");
  }
  const parsed = parseText(
    text,
    checkOption("maxAttachments", options?.maxAttachments, DEFAULT_MAX_ATTACHMENTS, 0),
    checkOption("maxDepth", options?.maxDepth, DEFAULT_MAX_DEPTH, 1),
  );
  if (parsed.attachments > 0) {
    throw new DecodeError(
      "ERR_UNEXPECTED_BINARY_PACKET",
      "packet announces attachments; use a SocketDecoder",
    );
  }
  return parsed.packet;
}
