import { randomBytes } from "node:crypto";
import { SignJWT } from "jose";

/** Lifetime of a token printed by `start` in dev mode. */
export const DEFAULT_DEV_TOKEN_TTL_SEC = 12 * 60 * 60;

/** A fresh HS256 secret for dev mode: 32 random bytes, base64url (43 characters). */
export function generateDevSecret(): string {
  return randomBytes(32).toString("base64url");
}

/** What a dev token asserts; `exp` and `iat` come from the TTL. */
export interface DevTokenClaims {
  sub: string;
  tenant_id: string;
  scope?: string;
  [claim: string]: unknown;
}

/**
 * An HS256 token for dev mode, valid for `ttl` (seconds, or a jose time span
 * such as `"2h"`).
 */
export function signDevToken(
  secret: string,
  claims: DevTokenClaims,
  ttl: number | string = DEFAULT_DEV_TOKEN_TTL_SEC,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt(now)
    .setExpirationTime(typeof ttl === "number" ? now + ttl : ttl)
    .sign(new TextEncoder().encode(secret));
}
