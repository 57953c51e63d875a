import { CloseCode } from "@calcbridge/protocol";
import { EdgeError } from "../errors.js";

/** Why a token was refused. Stable: logs, metrics labels and tests use these. */
export type AuthErrorCode =
  /** No token, or an empty one. */
  | "ERR_TOKEN_MISSING"
  /** Not a compact JWS: not three parts, bad base64url, header or payload not JSON. */
  | "ERR_TOKEN_MALFORMED"
  /** `alg` is `none` or not one of the verifier's algorithms (the key-confusion guard). */
  | "ERR_TOKEN_ALG_NOT_ALLOWED"
  /** The signature does not match the key. */
  | "ERR_TOKEN_INVALID"
  /** `exp` has passed (beyond the clock tolerance). */
  | "ERR_TOKEN_EXPIRED"
  /** `nbf` is in the future (beyond the clock tolerance). */
  | "ERR_TOKEN_NOT_YET_VALID"
  /** A required claim is missing or has the wrong type or value (`exp`, `sub`, `tenant_id`, `iss`, `aud`). */
  | "ERR_TOKEN_CLAIMS"
  /** The JWKS has no key for the token's `kid`/`alg`. */
  | "ERR_TOKEN_KEY_NOT_FOUND"
  /** The JWKS could not be fetched (network, timeout, not a key set). */
  | "ERR_TOKEN_KEY_UNAVAILABLE";

/**
 * A token that cannot be trusted. Every one maps to close code 4001 (and to
 * `data.code: 4001` of a Socket.IO CONNECT_ERROR); `code` tells why. The
 * message is safe to send to the client: it never quotes the token or keys.
 */
export class AuthError extends EdgeError {
  override name = "AuthError";
  declare readonly code: AuthErrorCode;
  /** The close code for the connection: always 4001 (DESIGN.md, "Wire formats"). */
  readonly closeCode: typeof CloseCode.INVALID_TOKEN = CloseCode.INVALID_TOKEN;

  constructor(code: AuthErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
