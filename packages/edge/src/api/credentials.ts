import type { Claims } from "@calcbridge/protocol";
import { AuthError } from "../auth/errors.js";
import type { TokenVerifier, VerifiedToken } from "../auth/verifier.js";

/** The token of a request: `?token=` first, then `Authorization: Bearer`. */
export function tokenOf(
  query: Readonly<Record<string, string>>,
  headers: Readonly<Record<string, string>>,
): string | undefined {
  const fromQuery = query["token"];
  if (fromQuery !== undefined && fromQuery !== "") return fromQuery;
  const header = headers["authorization"];
  if (header === undefined) return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1];
}

/** setTimeout's largest delay; longer waits are re-armed. */
const MAX_DELAY = 2 ** 31 - 1;

/**
 * Closes a connection when its token expires, unless a fresh token for the
 * same subject and tenant arrives first (`refresh`).
 */
export class TokenLease {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    public claims: Claims,
    private expiresAt: number,
    private readonly onExpire: () => void,
  ) {
    this.arm();
  }

  /**
   * Verify a fresh token for the same `sub` and `tenant_id` and extend the
   * lease. Throws AuthError (4001) when it is invalid or names someone else.
   */
  async refresh(verifier: TokenVerifier, token: string): Promise<VerifiedToken> {
    const verified = await verifier.verify(token);
    if (
      verified.claims.sub !== this.claims.sub ||
      verified.claims.tenant_id !== this.claims.tenant_id
    ) {
      throw new AuthError(
        "ERR_TOKEN_CLAIMS",
        "a refresh token must have the same sub and tenant_id",
      );
    }
    this.claims = verified.claims;
    this.expiresAt = verified.expiresAt;
    this.arm();
    return verified;
  }

  get expires(): number {
    return this.expiresAt;
  }

  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    clearTimeout(this.timer);
    const wait = this.expiresAt - Date.now();
    if (wait <= 0) {
      this.timer = undefined;
      queueMicrotask(this.onExpire);
      return;
    }
    this.timer = setTimeout(
      () => (wait > MAX_DELAY ? this.arm() : this.onExpire()),
      Math.min(wait, MAX_DELAY),
    );
    this.timer.unref();
  }
}
