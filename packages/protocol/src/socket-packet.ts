/**
 * The Socket.IO protocol v5 packet model and its validity rules, shared by
 * the encoder (socketio.ts) and the decoder (socket-decoder.ts).
 */
export const SocketPacketType = {
  CONNECT: 0,
  DISCONNECT: 1,
  EVENT: 2,
  ACK: 3,
  CONNECT_ERROR: 4,
  BINARY_EVENT: 5,
  BINARY_ACK: 6,
} as const;

export type SocketPacketTypeId = 0 | 1 | 2 | 3 | 4 | 5 | 6;

/** Socket.IO protocol revision spoken here. */
export const SOCKET_PROTOCOL_VERSION = 5;

export interface SocketPacket {
  type: SocketPacketTypeId;
  /** Namespace, starting with "/". */
  nsp: string;
  /** CONNECT: object; EVENT: `[name, ...args]`; ACK: `[...args]`; CONNECT_ERROR: object or string. */
  data?: unknown;
  /** Acknowledgement id: EVENT (optional) and ACK (required). */
  id?: number;
}

/** A plain object, as socket.io-parser tells one (`[object Object]`). */
export function isObjectPayload(value: unknown): value is Record<string, unknown> {
  return Object.prototype.toString.call(value) === "[object Object]";
}

/**
 * Whether `data` fits packet `type` (socket.io-parser's `isPayloadValid`,
 * less the reserved event names, which are the server's business).
 */
export function isDataValid(type: SocketPacketTypeId, data: unknown): boolean {
  switch (type) {
    case 0:
      return data === undefined || isObjectPayload(data);
    case 1:
      return data === undefined;
    case 2:
    case 5: {
      if (!Array.isArray(data) || data.length === 0) return false;
      const name: unknown = data[0];
      return typeof name === "string" || typeof name === "number";
    }
    case 3:
    case 6:
      return Array.isArray(data);
    case 4:
      return typeof data === "string" || isObjectPayload(data);
  }
}

/** EVENT may carry an ack id, ACK must; no other type has one. */
export function ackIdRule(type: SocketPacketTypeId): "optional" | "required" | "forbidden" {
  if (type === 2 || type === 5) return "optional";
  if (type === 3 || type === 6) return "required";
  return "forbidden";
}
