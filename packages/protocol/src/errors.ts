/**
 * Base of every error the protocol package throws. `code` is stable and
 * machine-readable (`ERR_...`); `cause` keeps the underlying error, if any.
 */
export class ProtocolError extends Error {
  override name = "ProtocolError";
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Input that is not a valid packet, payload or frame. Decoders throw only this. */
export class DecodeError extends ProtocolError {
  override name = "DecodeError";

  constructor(code: `ERR_${string}`, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** A value that cannot be encoded (not JSON-serialisable, a cycle, over a limit). */
export class EncodeError extends ProtocolError {
  override name = "EncodeError";

  constructor(code: `ERR_${string}`, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** A room name, id or envelope that breaks the CalcBridge API's rules. */
export class ValidationError extends ProtocolError {
  override name = "ValidationError";
  /** Human-readable reasons, one per problem found, each naming the field. */
  readonly reasons: readonly string[];

  constructor(code: `ERR_${string}`, reasons: readonly string[], options?: { cause?: unknown }) {
    super(code, reasons.join("; "), options);
    this.reasons = Object.freeze([...reasons]);
  }
}
