import { fromCompactTime, toCompactTime } from "../compact-time.js";
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

/** Resolution of lease expiry, in ms: a lease ends at most this late. */
export const LEASE_TICK_MS = 100;

/**
 * Every lease's expiry on one timer: buckets of LEASE_TICK_MS, checked by a
 * single unref'd interval. A timer per connection would cost more memory
 * than the rest of an idle connection's lease.
 */
class ExpiryWheel {
  private readonly buckets = new Map<number, Set<TokenLease<unknown>>>();
  private timer: NodeJS.Timeout | undefined;
  /**
   * Buckets count from the wheel's creation, so a lease's bucket number is a
   * small integer (an absolute one would be a heap number per lease).
   */
  private readonly origin = Math.floor(Date.now() / LEASE_TICK_MS) - 1;
  private last = this.now();

  private now(): number {
    return Math.floor(Date.now() / LEASE_TICK_MS) - this.origin;
  }

  add(lease: TokenLease<unknown>, at: number): number {
    const bucket = Math.max(Math.ceil(at / LEASE_TICK_MS) - this.origin, this.last + 1);
    let set = this.buckets.get(bucket);
    if (set === undefined) {
      set = new Set();
      this.buckets.set(bucket, set);
    }
    set.add(lease);
    if (this.timer === undefined) {
      this.last = this.now();
      this.timer = setInterval(() => this.tick(), LEASE_TICK_MS);
      this.timer.unref();
    }
    return bucket;
  }

  remove(lease: TokenLease<unknown>, bucket: number): void {
    const set = this.buckets.get(bucket);
    if (set === undefined) return;
    set.delete(lease);
    if (set.size === 0) this.buckets.delete(bucket);
  }

  private tick(): void {
    const now = this.now();
    for (let b = this.last + 1; b <= now; b++) {
      const set = this.buckets.get(b);
      if (set === undefined) continue;
      this.buckets.delete(b);
      for (const lease of set) lease.expire();
    }
    this.last = now;
    if (this.buckets.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

const wheel = new ExpiryWheel();

/**
 * Closes a connection when its token expires, unless a fresh token for the
 * same subject and tenant arrives first (`refresh`). `onExpire` is shared by
 * every lease of an API (a closure per connection would keep its whole
 * creating scope alive); `holder` is this lease's connection.
 */
export class TokenLease<T> {
  /** The wheel bucket holding this lease, or 0. */
  private bucket = 0;

  /** Expiry, compact (see compact-time.ts). */
  private compactExpiry: number;

  constructor(
    public claims: Claims,
    expiresAt: number,
    private readonly onExpire: (holder: T) => void,
    readonly holder: T,
  ) {
    this.compactExpiry = toCompactTime(expiresAt);
    this.arm();
  }

  private get expiresAt(): number {
    return fromCompactTime(this.compactExpiry);
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
    this.compactExpiry = toCompactTime(verified.expiresAt);
    this.arm();
    return verified;
  }

  get expires(): number {
    return this.expiresAt;
  }

  clear(): void {
    if (this.bucket !== 0) wheel.remove(this as TokenLease<unknown>, this.bucket);
    this.bucket = 0;
  }

  /** @internal Called by the wheel when the lease's time has come. */
  expire(): void {
    this.bucket = 0;
    this.onExpire(this.holder);
  }

  private arm(): void {
    this.clear();
    if (this.expiresAt <= Date.now()) {
      queueMicrotask(() => this.onExpire(this.holder));
      return;
    }
    this.bucket = wheel.add(this as TokenLease<unknown>, this.expiresAt);
  }
}
