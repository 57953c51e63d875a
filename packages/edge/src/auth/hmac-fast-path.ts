import { createHmac, timingSafeEqual } from "node:crypto";

/** What the fast path checks, exactly as the jose options of the verifier say. */
export interface FastPathRules {
  secret: Uint8Array;
  algorithms: readonly string[];
  clockToleranceSec: number;
  issuer?: string;
  audience?: readonly string[];
}

const HASHES: Readonly<Record<string, string>> = {
  HS256: "sha256",
  HS384: "sha384",
  HS512: "sha512",
};

/**
 * A synchronous HS256/384/512 verification with node:crypto for the common
 * case: a well-formed, correctly signed, currently valid token. It only ever
 * accepts; anything unusual or wrong returns undefined, and the caller then
 * runs jose, which refuses with the precise reason. WebCrypto's HMAC through
 * jose costs several times the hash itself per connection.
 */
export function verifyHmacFast(
  token: string,
  rules: FastPathRules,
): Record<string, unknown> | undefined {
  const first = token.indexOf(".");
  const last = token.lastIndexOf(".");
  if (first <= 0 || last === first || last === token.length - 1) return undefined;
  if (token.indexOf(".", first + 1) !== last) return undefined;
  const header = parseHeader(token.slice(0, first));
  if (header === undefined) return undefined;
  const alg = header["alg"];
  // crit and b64 change how a JWS is processed: leave them to jose.
  if (
    typeof alg !== "string" ||
    !rules.algorithms.includes(alg) ||
    "crit" in header ||
    "b64" in header
  ) {
    return undefined;
  }
  const hash = HASHES[alg];
  if (hash === undefined) return undefined;
  const signature = Buffer.from(token.slice(last + 1), "base64url");
  const expected = createHmac(hash, rules.secret).update(token.slice(0, last)).digest();
  if (signature.length !== expected.length || !timingSafeEqual(signature, expected))
    return undefined;
  const payload = parseSegment(token.slice(first + 1, last));
  if (payload === undefined) return undefined;
  const now = Math.floor(Date.now() / 1000);
  const tolerance = rules.clockToleranceSec;
  const { exp, nbf, iat } = payload;
  if (typeof exp !== "number" || !Number.isFinite(exp) || exp <= now - tolerance) return undefined;
  if (nbf !== undefined && (typeof nbf !== "number" || nbf > now + tolerance)) return undefined;
  if (iat !== undefined && typeof iat !== "number") return undefined;
  if (rules.issuer !== undefined && payload["iss"] !== rules.issuer) return undefined;
  if (rules.audience !== undefined) {
    const aud = payload["aud"];
    const list = typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud : [];
    if (!list.some((a) => rules.audience!.includes(a as string))) return undefined;
  }
  return payload;
}

/**
 * The last header segment parsed, and its parse. Every token of one issuer
 * carries the same header, so at connection setup this saves a base64 decode
 * and a JSON.parse per token. One entry: other headers only replace it. The
 * parse is shared and only read.
 */
let lastHeader: { segment: string; header: Record<string, unknown> | undefined } | undefined;

function parseHeader(segment: string): Record<string, unknown> | undefined {
  if (lastHeader?.segment === segment) return lastHeader.header;
  const header = parseSegment(segment);
  lastHeader = { segment, header: header && Object.freeze(header) };
  return header;
}

/** A base64url JSON object segment, or undefined. */
function parseSegment(segment: string): Record<string, unknown> | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(segment)) return undefined;
  try {
    const value = JSON.parse(Buffer.from(segment, "base64url").toString("utf8")) as unknown;
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
