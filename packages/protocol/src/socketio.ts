/**
 * Socket.IO protocol v5 packets, carried in Engine.IO "message" packets.
 *
 * Text form ("Packet encoding"):
 *
 *     <type>[<attachments>-][<namespace>,][<ack id>][<JSON data>]
 *
 * e.g. `2/admin,12["hello",1]` or `51-["file",{"_placeholder":true,"num":0}]`
 * followed by one binary Engine.IO message per attachment. The namespace is
 * left out when it is "/". This module encodes; the decoder lives in
 * socket-decoder.ts and the packet model in socket-packet.ts.
 */
import { deconstruct, hasBinary } from "./binary.js";
import { EncodeError } from "./errors.js";
import { ackIdRule, isDataValid, type SocketPacket } from "./socket-packet.js";

export { hasBinary, MAX_ENCODE_DEPTH } from "./binary.js";
export {
  SOCKET_PROTOCOL_VERSION,
  SocketPacketType,
  type SocketPacket,
  type SocketPacketTypeId,
} from "./socket-packet.js";
export {
  decodeSocketPacket,
  DEFAULT_MAX_ATTACHMENTS,
  DEFAULT_MAX_DEPTH,
  SocketDecoder,
  type SocketDecoderOptions,
} from "./socket-decoder.js";

/** The WebSocket frames of one packet, ready for `ws.send` / `app.publish`. */
export interface EncodedFrames {
  /** "4" (Engine.IO message) + the Socket.IO text: a text frame. */
  text: string;
  /** One binary frame per attachment, in order. */
  binaries: Uint8Array[];
}

const SLASH = 47;

function encodeParts(packet: SocketPacket): { text: string; buffers: Uint8Array[] } {
  const { type, nsp, id } = packet;
  let data: unknown = packet.data;
  if (typeof type !== "number" || !Number.isInteger(type) || type < 0 || type > 6) {
    throw new EncodeError(
      "ERR_UNKNOWN_PACKET_TYPE",
      `unknown Socket.IO packet type ${String(type)}`,
    );
  }
  if (typeof nsp !== "string" || nsp.charCodeAt(0) !== SLASH || nsp.indexOf(",") !== -1) {
    throw new EncodeError(
      "ERR_INVALID_NAMESPACE",
      `namespace must start with "/" and contain no ","`,
    );
  }
  const idRule = ackIdRule(type);
  if (
    id === undefined
      ? idRule === "required"
      : idRule === "forbidden" || !Number.isSafeInteger(id) || id < 0
  ) {
    throw new EncodeError(
      "ERR_INVALID_ACK_ID",
      `invalid ack id ${String(id)} for packet type ${type}`,
    );
  }
  if (!isDataValid(type, data)) {
    throw new EncodeError("ERR_INVALID_PAYLOAD", `invalid data for packet type ${type}`);
  }
  let buffers: Uint8Array[] = [];
  let wireType: number = type;
  try {
    if (type === 2 || type === 3 || type === 5 || type === 6) {
      // A binary EVENT/ACK goes as BINARY_EVENT/BINARY_ACK; a BINARY_* without binary as the plain type.
      if (hasBinary(data)) {
        ({ data, buffers } = deconstruct(data));
      }
      wireType =
        buffers.length > 0 ? (type === 2 || type === 5 ? 5 : 6) : type === 2 || type === 5 ? 2 : 3;
    } else if (data !== undefined && hasBinary(data)) {
      throw new EncodeError("ERR_INVALID_PAYLOAD", `packet type ${type} cannot carry binary data`);
    }
    let text = String(wireType);
    if (buffers.length > 0) text += buffers.length + "-";
    if (nsp !== "/") text += nsp + ",";
    if (id !== undefined) text += id;
    if (data !== undefined) {
      const json: unknown = JSON.stringify(data);
      if (typeof json !== "string") {
        throw new EncodeError("ERR_NOT_SERIALIZABLE", "data has no JSON form");
      }
      text += json;
    }
    return { text, buffers };
  } catch (error) {
    if (error instanceof EncodeError) throw error;
    // A cycle or a BigInt (TypeError), a throwing getter or toJSON, a stack overflow.
    throw new EncodeError("ERR_NOT_SERIALIZABLE", "data cannot be serialised to JSON", {
      cause: error,
    });
  }
}

/**
 * Encode a packet as Engine.IO message payloads: the Socket.IO text (without
 * Engine.IO's "4"), then one `Uint8Array` per attachment. An EVENT or ACK
 * whose data holds binary (Buffer, ArrayBuffer, any ArrayBufferView) goes out
 * as BINARY_EVENT/BINARY_ACK with placeholders.
 *
 * @throws EncodeError for an invalid type, namespace, ack id or data, or data
 *   that is not JSON-serialisable (cycle, BigInt, nested over {@link MAX_ENCODE_DEPTH}).
 */
export function encodeSocketPacket(packet: SocketPacket): [string, ...Uint8Array[]] {
  const { text, buffers } = encodeParts(packet);
  return [text, ...buffers];
}

/**
 * The CONNECT a server answers an accepted namespace with, as its WebSocket
 * frame text: `40{"sid":...}` (`40/nsp,{...}` elsewhere than "/"), with
 * `pid` under connection state recovery. The same text as
 * {@link encodeFrames} gives for `{type: CONNECT, nsp, data: {sid, pid}}`,
 * without its checks and objects: every connection gets one. `nsp` must be
 * a valid namespace (as encodeFrames requires).
 */
export function connectReplyText(nsp: string, sid: string, pid?: string): string {
  const head = nsp === "/" ? "40" : `40${nsp},`;
  const data =
    pid === undefined
      ? `{"sid":${JSON.stringify(sid)}}`
      : `{"sid":${JSON.stringify(sid)},"pid":${JSON.stringify(pid)}}`;
  return head + data;
}

/**
 * The exact WebSocket frames for `packet`: encode once per broadcast and
 * hand the same values to every subscriber.
 *
 * @throws EncodeError as {@link encodeSocketPacket}.
 */
export function encodeFrames(packet: SocketPacket): EncodedFrames {
  const { text, buffers } = encodeParts(packet);
  return { text: "4" + text, binaries: buffers };
}
