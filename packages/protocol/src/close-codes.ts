/**
 * WebSocket close codes of CalcBridge Realtime. 1000-1009 are RFC 6455 §7.4.1
 * codes; 4000-4999 is the range RFC 6455 leaves to applications, and ours are
 * part of the public API (DESIGN.md, "Wire formats"): 4001 invalid or expired
 * JWT, 4003 insufficient permissions for the requested room, 4008 no heartbeat
 * within the timeout. Socket.IO clients get the same numbers as the `code` of a
 * CONNECT_ERROR's `data`.
 */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  POLICY: 1008,
  TOO_BIG: 1009,
  INVALID_TOKEN: 4001,
  FORBIDDEN: 4003,
  HEARTBEAT_TIMEOUT: 4008,
} as const;

/** One of the values of {@link CloseCode}. */
export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode];

// Each reason stays far below the 123 bytes a close frame has room for (RFC 6455 §5.5).
const REASONS: ReadonlyMap<number, string> = new Map<CloseCodeValue, string>([
  [CloseCode.NORMAL, "normal closure"],
  [CloseCode.GOING_AWAY, "server going away"],
  [CloseCode.POLICY, "policy violation"],
  [CloseCode.TOO_BIG, "message too big"],
  [CloseCode.INVALID_TOKEN, "invalid or expired token"],
  [CloseCode.FORBIDDEN, "insufficient permissions for the requested room"],
  [CloseCode.HEARTBEAT_TIMEOUT, "no heartbeat within the timeout"],
]);

/** Whether `code` is one of the {@link CloseCode} values. */
export function isCloseCode(code: unknown): code is CloseCodeValue {
  return typeof code === "number" && REASONS.has(code);
}

/**
 * A short human-readable reason for a close code, fit for the reason field of a
 * close frame. Codes outside {@link CloseCode} get `"closed"`.
 */
export function closeReason(code: number): string {
  return REASONS.get(code) ?? "closed";
}
