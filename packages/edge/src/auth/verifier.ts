import { createPublicKey, type KeyObject } from "node:crypto";
import { ValidationError, parseClaims, type Claims } from "@calcbridge/protocol";
import {
  createRemoteJWKSet,
  importSPKI,
  jwtVerify,
  type CryptoKey,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from "jose";
import { ConfigError, DEFAULT_JWT_CLOCK_TOLERANCE_SEC, MIN_SECRET_BYTES } from "../config.js";
import { AuthError } from "./errors.js";
import { verifyHmacFast, type FastPathRules } from "./hmac-fast-path.js";

/** Time after a JWKS fetch before an unknown `kid` may trigger another (bounds refetch storms). */
export const DEFAULT_JWKS_COOLDOWN_MS = 10_000;
/** Time a JWKS fetch may take before the verification fails. */
export const DEFAULT_JWKS_TIMEOUT_MS = 5_000;
/** Age after which cached JWKS keys are refetched. */
export const DEFAULT_JWKS_CACHE_MAX_AGE_MS = 10 * 60_000;
/** Longer "tokens" are refused before any parsing. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

/** Exactly one of `secret`, `publicKey`, `jwksUrl`. */
export interface AuthOptions {
  /** HS256 shared secret, at least 32 bytes (UTF-8). @default undefined */
  secret?: string;
  /**
   * PEM public key (SPKI, PKCS#1 RSA or an X.509 certificate). The algorithm
   * is detected from the key: RSA -> RS256, P-256 -> ES256, P-384 -> ES384,
   * P-521 -> ES512, Ed25519 -> EdDSA; `algorithms` overrides it within the
   * key's family. @default undefined
   */
  publicKey?: string;
  /** JWKS endpoint (http or https). @default undefined */
  jwksUrl?: string;
  /** Required `iss`. @default undefined (not checked) */
  issuer?: string;
  /** Accepted `aud` (one of). @default undefined (not checked) */
  audience?: string | readonly string[];
  /** Seconds of skew allowed for `exp` and `nbf`. @default DEFAULT_JWT_CLOCK_TOLERANCE_SEC (5) */
  clockToleranceSec?: number;
  /**
   * Accepted `alg` values. Must fit the key: HMAC for `secret`, the key's
   * family for `publicKey`, asymmetric only for `jwksUrl`.
   * @default ["HS256"] | [detected from the key] | ASYMMETRIC_ALGORITHMS
   */
  algorithms?: readonly string[];
  /** @default DEFAULT_JWKS_COOLDOWN_MS (10 s) */
  jwksCooldownMs?: number;
  /** @default DEFAULT_JWKS_TIMEOUT_MS (5 s) */
  jwksTimeoutMs?: number;
  /** @default DEFAULT_JWKS_CACHE_MAX_AGE_MS (10 min) */
  jwksCacheMaxAgeMs?: number;
}

/** A token's checked claims. */
export interface VerifiedToken {
  claims: Claims;
  /** `exp` in milliseconds since the epoch: when a connection must re-authenticate. */
  expiresAt: number;
}

export interface TokenVerifier {
  /** @throws AuthError (close code 4001) for any token that cannot be trusted. */
  verify(token: string): Promise<VerifiedToken>;
  /**
   * The synchronous path for the common case (a valid HMAC token): the
   * verified token, or undefined when `verify` must decide (it then also
   * names the reason of a refusal). Saves a promise and a tick per connection.
   */
  verifyNow?(token: string): VerifiedToken | undefined;
  /** The `alg` values this verifier accepts; every other one, `none` included, is refused. */
  readonly algorithms: readonly string[];
  /** Where keys come from. */
  readonly keySource: "secret" | "publicKey" | "jwks";
}

export const HMAC_ALGORITHMS = ["HS256", "HS384", "HS512"] as const;
const RSA_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] as const;
/** What a JWKS verifier accepts by default: never HMAC, never `none`. */
export const ASYMMETRIC_ALGORITHMS = Object.freeze([
  ...RSA_ALGORITHMS,
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
]);

/** For each key type, the algorithms it may verify; the first is the default. */
function familyOf(key: KeyObject): readonly string[] | undefined {
  switch (key.asymmetricKeyType) {
    case "rsa":
      return RSA_ALGORITHMS;
    case "rsa-pss":
      return ["PS256", "PS384", "PS512"];
    case "ec":
      switch (key.asymmetricKeyDetails?.namedCurve) {
        case "prime256v1":
          return ["ES256"];
        case "secp384r1":
          return ["ES384"];
        case "secp521r1":
          return ["ES512"];
        default:
          return undefined;
      }
    case "ed25519":
      return ["EdDSA", "Ed25519"];
    default:
      return undefined;
  }
}

function checkAlgorithms(
  given: readonly string[] | undefined,
  allowed: readonly string[],
  what: string,
): readonly string[] | undefined {
  if (given === undefined) return undefined;
  const bad = given.filter((alg) => !allowed.includes(alg));
  if (given.length === 0 || bad.length > 0) {
    throw new ConfigError([
      `algorithms must be a non-empty subset of ${allowed.join(", ")} for ${what} (got ${JSON.stringify(given)}); leave algorithms unset to use the default`,
    ]);
  }
  return given;
}

/**
 * A verifier for exactly one key source. Refuses at construction what cannot
 * be verified safely: a short HMAC secret, a private key, algorithms outside
 * the key's family.
 *
 * @throws ConfigError
 */
export async function createTokenVerifier(options: AuthOptions): Promise<TokenVerifier> {
  const sources = (["secret", "publicKey", "jwksUrl"] as const).filter(
    (name) => options[name] !== undefined,
  );
  if (sources.length !== 1) {
    throw new ConfigError([
      sources.length === 0
        ? "no token key configured; set JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL"
        : `token keys are alternatives (got ${sources.join(" and ")}); set only one of JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_URL`,
    ]);
  }

  let key: CryptoKey | Uint8Array | JWTVerifyGetKey;
  let algorithms: readonly string[];
  let keySource: TokenVerifier["keySource"];

  if (options.secret !== undefined) {
    keySource = "secret";
    const bytes = new TextEncoder().encode(options.secret);
    if (bytes.byteLength < MIN_SECRET_BYTES) {
      throw new ConfigError([
        `JWT_SECRET must be at least ${MIN_SECRET_BYTES} bytes long (got ${bytes.byteLength} bytes); set JWT_SECRET="$(openssl rand -base64 48)"`,
      ]);
    }
    algorithms = checkAlgorithms(options.algorithms, HMAC_ALGORITHMS, "JWT_SECRET") ?? ["HS256"];
    // Import the secret once per algorithm: given raw bytes, jose imports a
    // key on every verification, which costs more than the HMAC itself.
    const hmacKeys = new Map<string, CryptoKey>();
    for (const alg of algorithms) {
      const hash = `SHA-${alg.slice(2)}`;
      hmacKeys.set(
        alg,
        await crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash }, false, ["verify"]),
      );
    }
    const onlyHmac = hmacKeys.size === 1 ? [...hmacKeys.values()][0] : undefined;
    key =
      onlyHmac ??
      (async (header) => {
        const found = hmacKeys.get(header.alg);
        if (!found) throw new AuthError("ERR_TOKEN_ALG_NOT_ALLOWED", "token algorithm not allowed");
        return found;
      });
  } else if (options.publicKey !== undefined) {
    keySource = "publicKey";
    const pem = options.publicKey.replace(/\\n/g, "\n").trim();
    if (pem.includes("PRIVATE KEY")) {
      throw new ConfigError([
        "JWT_PUBLIC_KEY must be a public key, not a private key; set JWT_PUBLIC_KEY to the PEM from `openssl pkey -pubout`",
      ]);
    }
    let keyObject: KeyObject;
    try {
      keyObject = createPublicKey(pem);
    } catch (err) {
      throw new ConfigError(
        [
          'JWT_PUBLIC_KEY must be a PEM public key ("-----BEGIN PUBLIC KEY-----..."); set JWT_PUBLIC_KEY="$(cat jwt-public.pem)"',
        ],
        { cause: err },
      );
    }
    const family = familyOf(keyObject);
    if (!family) {
      const got = [keyObject.asymmetricKeyType, keyObject.asymmetricKeyDetails?.namedCurve];
      throw new ConfigError([
        `JWT_PUBLIC_KEY must be an RSA, EC (P-256, P-384, P-521) or Ed25519 key (got ${got.filter(Boolean).join(" ")}); use one of those`,
      ]);
    }
    algorithms = checkAlgorithms(options.algorithms, family, "this JWT_PUBLIC_KEY") ?? [family[0]!];
    const spki = keyObject.export({ type: "spki", format: "pem" }).toString();
    // A CryptoKey is bound to one algorithm: a token whose alg is not in the
    // map finds no key, on top of jose's own `algorithms` check.
    const keys = new Map<string, CryptoKey>();
    for (const alg of algorithms) keys.set(alg, await importSPKI(spki, alg));
    const only = keys.size === 1 ? [...keys.values()][0] : undefined;
    key =
      only ??
      (async (header) => {
        const found = keys.get(header.alg);
        if (!found) throw new AuthError("ERR_TOKEN_ALG_NOT_ALLOWED", "token algorithm not allowed");
        return found;
      });
  } else {
    keySource = "jwks";
    let url: URL;
    try {
      url = new URL(options.jwksUrl!);
      if (url.protocol !== "https:" && url.protocol !== "http:") throw new TypeError("protocol");
    } catch (err) {
      throw new ConfigError(
        [
          `JWT_JWKS_URL must be an http:// or https:// URL (got ${JSON.stringify(options.jwksUrl)}); set JWT_JWKS_URL=https://auth.example.com/.well-known/jwks.json`,
        ],
        { cause: err },
      );
    }
    algorithms =
      checkAlgorithms(options.algorithms, ASYMMETRIC_ALGORITHMS, "JWT_JWKS_URL") ??
      ASYMMETRIC_ALGORITHMS;
    key = createRemoteJWKSet(url, {
      cooldownDuration: options.jwksCooldownMs ?? DEFAULT_JWKS_COOLDOWN_MS,
      timeoutDuration: options.jwksTimeoutMs ?? DEFAULT_JWKS_TIMEOUT_MS,
      cacheMaxAge: options.jwksCacheMaxAgeMs ?? DEFAULT_JWKS_CACHE_MAX_AGE_MS,
    });
  }

  const verifyOptions: JWTVerifyOptions = {
    algorithms: [...algorithms],
    clockTolerance: options.clockToleranceSec ?? DEFAULT_JWT_CLOCK_TOLERANCE_SEC,
    requiredClaims: ["exp", "sub", "tenant_id"],
    ...(options.issuer !== undefined && { issuer: options.issuer }),
    ...(options.audience !== undefined && {
      audience: typeof options.audience === "string" ? options.audience : [...options.audience],
    }),
  };
  const frozenAlgorithms = Object.freeze([...algorithms]);
  const fast: FastPathRules | undefined =
    options.secret === undefined
      ? undefined
      : {
          secret: new TextEncoder().encode(options.secret),
          algorithms: frozenAlgorithms,
          clockToleranceSec: options.clockToleranceSec ?? DEFAULT_JWT_CLOCK_TOLERANCE_SEC,
          ...(options.issuer !== undefined && { issuer: options.issuer }),
          ...(options.audience !== undefined && {
            audience:
              typeof options.audience === "string" ? [options.audience] : [...options.audience],
          }),
        };

  return {
    algorithms: frozenAlgorithms,
    keySource,
    async verify(token: string): Promise<VerifiedToken> {
      if (typeof token !== "string" || token.length === 0) {
        throw new AuthError("ERR_TOKEN_MISSING", "no token");
      }
      if (token.length > MAX_TOKEN_LENGTH) {
        throw new AuthError("ERR_TOKEN_MALFORMED", "token is too long");
      }
      // The common case (a valid HMAC token) is verified synchronously; every
      // other token goes to jose, which accepts the same and names the reason.
      let payload: unknown = fast === undefined ? undefined : verifyHmacFast(token, fast);
      if (payload === undefined) {
        try {
          // The overloads differ by key kind only; both paths take the same options.
          payload =
            typeof key === "function"
              ? (await jwtVerify(token, key, verifyOptions)).payload
              : (await jwtVerify(token, key, verifyOptions)).payload;
        } catch (err) {
          throw toAuthError(err, keySource);
        }
      }
      return verified(payload);
    },
    verifyNow(token: string): VerifiedToken | undefined {
      if (fast === undefined || typeof token !== "string") return undefined;
      if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return undefined;
      const payload = verifyHmacFast(token, fast);
      if (payload === undefined) return undefined;
      try {
        return verified(payload);
      } catch {
        return undefined; // verify() refuses it again, with the reason
      }
    },
  };
}

/** The claims of a payload whose signature and times were checked. */
function verified(payload: unknown): VerifiedToken {
  let claims: Claims;
  try {
    claims = parseClaims(payload);
  } catch (err) {
    if (err instanceof ValidationError) {
      throw new AuthError("ERR_TOKEN_CLAIMS", `token claims are invalid: ${err.message}`, {
        cause: err,
      });
    }
    throw err;
  }
  claims.tenant_id = internTenant(claims.tenant_id);
  return { claims, expiresAt: claims.exp * 1000 };
}

/** Distinct tenant ids kept by {@link internTenant} before it starts over. */
const MAX_INTERNED_TENANTS = 4096;
const tenants = new Map<string, string>();

/**
 * One string per tenant id: a node's connections share a few tenants, and
 * every connection keeps its claims for its whole life.
 */
function internTenant(id: string): string {
  const known = tenants.get(id);
  if (known !== undefined) return known;
  if (tenants.size >= MAX_INTERNED_TENANTS) tenants.clear();
  tenants.set(id, id);
  return id;
}

/** jose's error codes (stable across jose 5 and 6), as ours. */
function toAuthError(err: unknown, keySource: TokenVerifier["keySource"]): AuthError {
  if (err instanceof AuthError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const claim = (err as { claim?: unknown } | null)?.claim;
  const reason = (err as { reason?: unknown } | null)?.reason;
  const options = { cause: err };
  switch (code) {
    case "ERR_JWT_EXPIRED":
      return new AuthError("ERR_TOKEN_EXPIRED", "token has expired", options);
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      if (claim === "nbf" && reason === "check_failed") {
        return new AuthError("ERR_TOKEN_NOT_YET_VALID", "token is not valid yet", options);
      }
      return new AuthError(
        "ERR_TOKEN_CLAIMS",
        reason === "missing"
          ? `token claim "${String(claim)}" is missing`
          : `token claim "${String(claim)}" is not accepted`,
        options,
      );
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return new AuthError("ERR_TOKEN_ALG_NOT_ALLOWED", "token algorithm not allowed", options);
    case "ERR_JOSE_NOT_SUPPORTED":
      // An unrecognised `crit` extension or a key jose cannot use.
      return new AuthError("ERR_TOKEN_INVALID", "token uses an unsupported feature", options);
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return new AuthError("ERR_TOKEN_INVALID", "token signature is invalid", options);
    case "ERR_JWS_INVALID":
    case "ERR_JWT_INVALID":
      return new AuthError("ERR_TOKEN_MALFORMED", "token is malformed", options);
    case "ERR_JWKS_NO_MATCHING_KEY":
    case "ERR_JWKS_MULTIPLE_MATCHING_KEYS":
      return new AuthError("ERR_TOKEN_KEY_NOT_FOUND", "no key matches the token", options);
    case "ERR_JWKS_TIMEOUT":
    case "ERR_JWKS_INVALID":
      return new AuthError("ERR_TOKEN_KEY_UNAVAILABLE", "token keys are unavailable", options);
    default:
      // A failed JWKS fetch surfaces as a generic JOSEError or fetch's TypeError.
      return keySource === "jwks"
        ? new AuthError("ERR_TOKEN_KEY_UNAVAILABLE", "token keys are unavailable", options)
        : new AuthError("ERR_TOKEN_INVALID", "token is invalid", options);
  }
}
