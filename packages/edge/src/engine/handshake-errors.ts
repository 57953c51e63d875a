/**
 * Engine.IO handshake errors: status and JSON body exactly as engine.io
 * answers them, so every client library recognises them.
 */
export const HandshakeError = {
  UNKNOWN_TRANSPORT: { code: 0, message: "Transport unknown", status: "400 Bad Request" },
  UNKNOWN_SID: { code: 1, message: "Session ID unknown", status: "400 Bad Request" },
  BAD_HANDSHAKE_METHOD: { code: 2, message: "Bad handshake method", status: "400 Bad Request" },
  BAD_REQUEST: { code: 3, message: "Bad request", status: "400 Bad Request" },
  FORBIDDEN: { code: 4, message: "Forbidden", status: "403 Forbidden" },
  UNSUPPORTED_PROTOCOL_VERSION: {
    code: 5,
    message: "Unsupported protocol version",
    status: "400 Bad Request",
  },
} as const;

export type HandshakeErrorKind = (typeof HandshakeError)[keyof typeof HandshakeError];

export function handshakeErrorBody(error: HandshakeErrorKind): string {
  return JSON.stringify({ code: error.code, message: error.message });
}
