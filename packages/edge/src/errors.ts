/**
 * Base of every error the edge throws on purpose. `code` is stable (`ERR_...`);
 * protocol-level codes (Engine.IO handshake codes, close codes) stay the
 * protocol's own and travel in their own fields.
 */
export class EdgeError extends Error {
  override name = "EdgeError";
  readonly code: string;

  constructor(code: `ERR_${string}`, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** uWebSockets.js loaded its pure-JS fallback instead of the native binary. */
export class NativeUwsError extends EdgeError {
  override name = "NativeUwsError";
}

/** A limit of the server was reached (rooms per socket, pending acks, payload size). */
export class LimitError extends EdgeError {
  override name = "LimitError";
}

/** An acknowledgement did not arrive in time. */
export class AckTimeoutError extends EdgeError {
  override name = "AckTimeoutError";

  constructor(message = "operation has timed out") {
    super("ERR_ACK_TIMEOUT", message);
  }
}
