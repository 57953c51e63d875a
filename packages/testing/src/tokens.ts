import { SignJWT, base64url, type JWTHeaderParameters, type KeyInput } from "jose";

/** The HS256 secret tests share (over the 32-byte minimum the edge enforces). */
export const TEST_SECRET = "calcbridge-test-secret-do-not-use-in-production-0123456789";

/** Claims filled in unless a test passes the key (even as `undefined`, which removes it). */
export const DEFAULT_TEST_CLAIMS = Object.freeze({ sub: "user_1", tenant_id: "tenant_1" });

/**
 * Claims of a test token: the shape of `Claims` from `@calcbridge/protocol`
 * with every field optional, so tests can leave any out.
 */
export interface TokenClaims {
  sub?: string;
  tenant_id?: string;
  exp?: number;
  scope?: string;
  iat?: number;
  nbf?: number;
  iss?: string;
  aud?: string | string[];
  [claim: string]: unknown;
}

export interface MakeTokenOptions {
  /** HS256 secret; ignored when `key` is given. @default TEST_SECRET */
  secret?: string | Uint8Array;
  /** Signing key (private key, JWK or raw bytes); needs `alg` unless it is a CryptoKey jose can name. */
  key?: KeyInput;
  /** JWS algorithm. @default "HS256", or derived from a CryptoKey `key` */
  alg?: string;
  /**
   * Lifetime: seconds from now (negative for an already expired token) or a
   * jose time span ("1h", "-5m"); `null` leaves `exp` out. An `exp` in the
   * claims wins. @default "1h"
   */
  expiresIn?: string | number | null;
  /** `nbf`: seconds from now or a time span. An `nbf` in the claims wins. */
  notBefore?: string | number;
  /** Extra protected header parameters, e.g. `{ kid }`. */
  header?: Record<string, unknown>;
}

/** A signed JWT with `DEFAULT_TEST_CLAIMS`, `iat` and a one-hour `exp` unless told otherwise. */
export async function makeToken(
  claims: TokenClaims = {},
  options: MakeTokenOptions = {},
): Promise<string> {
  const payload = withDefaults(claims);
  const alg = options.alg ?? (options.key ? algorithmOf(options.key) : "HS256");
  const key = options.key ?? encodeSecret(options.secret ?? TEST_SECRET);
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT(payload).setProtectedHeader({
    typ: "JWT",
    ...(options.header as Partial<JWTHeaderParameters> | undefined),
    alg,
  });
  if (payload["iat"] === undefined) jwt.setIssuedAt(now);
  if (payload["exp"] === undefined && options.expiresIn !== null) {
    const span = options.expiresIn ?? "1h";
    jwt.setExpirationTime(typeof span === "number" ? now + span : span);
  }
  if (payload["nbf"] === undefined && options.notBefore !== undefined) {
    const span = options.notBefore;
    jwt.setNotBefore(typeof span === "number" ? now + span : span);
  }
  return jwt.sign(key);
}

/**
 * A token assembled by hand, not signed: `alg: "none"` by default, an empty
 * signature, `DEFAULT_TEST_CLAIMS` and an `exp` an hour from now. Also builds
 * tokens jose refuses to sign (odd headers, any signature text).
 */
export function makeRawUnsignedToken(
  claims: TokenClaims = {},
  options: { header?: Record<string, unknown>; signature?: string } = {},
): string {
  const payload = { exp: Math.floor(Date.now() / 1000) + 3600, ...withDefaults(claims) };
  const header = options.header ?? { alg: "none", typ: "JWT" };
  return [
    base64url.encode(JSON.stringify(header)),
    base64url.encode(JSON.stringify(payload)),
    options.signature ?? "",
  ].join(".");
}

function withDefaults(claims: TokenClaims): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...DEFAULT_TEST_CLAIMS, ...claims };
  for (const [name, value] of Object.entries(merged)) {
    if (value === undefined) delete merged[name];
  }
  return merged;
}

function encodeSecret(secret: string | Uint8Array): Uint8Array {
  return typeof secret === "string" ? new TextEncoder().encode(secret) : secret;
}

function algorithmOf(key: KeyInput): string {
  const algorithm = (key as { algorithm?: { name?: string; hash?: { name?: string } } }).algorithm;
  const curve = (algorithm as { namedCurve?: string } | undefined)?.namedCurve;
  switch (algorithm?.name) {
    case "RSASSA-PKCS1-v1_5":
      return `RS${algorithm.hash?.name?.slice(4) ?? "256"}`;
    case "RSA-PSS":
      return `PS${algorithm.hash?.name?.slice(4) ?? "256"}`;
    case "ECDSA":
      return curve === "P-384" ? "ES384" : curve === "P-521" ? "ES512" : "ES256";
    case "Ed25519":
      return "EdDSA";
    default:
      throw new Error("makeToken: pass `alg` with this key");
  }
}
