import { SignJWT } from "jose";

/** The claims a bench client's token carries (DESIGN.md "Stable names": Claims). */
export interface BenchClaims {
  sub: string;
  tenant_id: string;
  scope?: string;
}

const keys = new Map<string, Uint8Array>();

/** An HS256 JWT `{sub, tenant_id, exp}` valid for `ttlSec`. */
export async function signToken(
  secret: string,
  claims: BenchClaims,
  ttlSec: number,
): Promise<string> {
  let key = keys.get(secret);
  if (key === undefined) {
    key = new TextEncoder().encode(secret);
    keys.set(secret, key);
  }
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSec)
    .sign(key);
}
