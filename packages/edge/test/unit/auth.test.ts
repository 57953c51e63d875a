import { createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { TEST_SECRET, delay, makeRawUnsignedToken, makeToken } from "@calcbridge/testing";
import {
  CompactSign,
  base64url,
  exportJWK,
  exportPKCS8,
  exportSPKI,
  generateKeyPair,
  type CryptoKey,
  type JWK,
} from "jose";
import t from "tap";
import { generateDevSecret, signDevToken } from "../../src/auth/dev.js";
import { AuthError, type AuthErrorCode } from "../../src/auth/errors.js";
import {
  ASYMMETRIC_ALGORITHMS,
  createTokenVerifier,
  type TokenVerifier,
} from "../../src/auth/verifier.js";
import { ConfigError } from "../../src/config.js";
import { EdgeError } from "../../src/errors.js";

const now = (): number => Math.floor(Date.now() / 1000);

async function keyPair(alg: string): Promise<{ privateKey: CryptoKey; pem: string }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, pem: await exportSPKI(publicKey) };
}

const rsa = await keyPair("RS256");
const otherRsa = await keyPair("RS256");
const ec = await keyPair("ES256");
const ed = await keyPair("EdDSA");

const hs = await createTokenVerifier({ secret: TEST_SECRET });
const rs = await createTokenVerifier({ publicKey: rsa.pem });
const es = await createTokenVerifier({ publicKey: ec.pem });
const eddsa = await createTokenVerifier({ publicKey: ed.pem });
const hsIssAud = await createTokenVerifier({
  secret: TEST_SECRET,
  issuer: "https://auth.example.com/",
  audience: "calcbridge-realtime",
});
const secretBytes = new TextEncoder().encode(TEST_SECRET);

/** An HS256-signed token whose payload is `payload` bytes exactly (valid signature). */
function signRawPayload(payload: string): Promise<string> {
  return new CompactSign(new TextEncoder().encode(payload))
    .setProtectedHeader({ alg: "HS256" })
    .sign(secretBytes);
}

/** HS256 over any header, which jose would refuse to produce (e.g. an unknown `crit`). */
function hmacSigned(header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const input = `${part(header)}.${part(payload)}`;
  return `${input}.${createHmac("sha256", TEST_SECRET).update(input).digest("base64url")}`;
}

function part(json: unknown): string {
  return base64url.encode(JSON.stringify(json));
}

interface BadToken {
  name: string;
  verifier: TokenVerifier;
  token: () => Promise<string> | string;
  code: AuthErrorCode;
}

const BAD_TOKENS: BadToken[] = [
  { name: "empty string", verifier: hs, token: () => "", code: "ERR_TOKEN_MISSING" },
  {
    name: "alg none against HS256",
    verifier: hs,
    token: () => makeRawUnsignedToken(),
    code: "ERR_TOKEN_ALG_NOT_ALLOWED",
  },
  {
    name: "alg none against RS256",
    verifier: rs,
    token: () => makeRawUnsignedToken(),
    code: "ERR_TOKEN_ALG_NOT_ALLOWED",
  },
  {
    name: "alg None (case variant) with a signature",
    verifier: hs,
    token: () => makeRawUnsignedToken({}, { header: { alg: "None" }, signature: "c2ln" }),
    code: "ERR_TOKEN_ALG_NOT_ALLOWED",
  },
  {
    name: "HS256 with the wrong secret",
    verifier: hs,
    token: () => makeToken({}, { secret: "another-secret-that-is-long-enough-0123456789" }),
    code: "ERR_TOKEN_INVALID",
  },
  {
    name: "RS256 token against HS256 config",
    verifier: hs,
    token: () => makeToken({}, { key: rsa.privateKey }),
    code: "ERR_TOKEN_ALG_NOT_ALLOWED",
  },
  {
    name: "HS256 signed with the RSA public key PEM as secret, against RS256 config",
    verifier: rs,
    token: () => makeToken({}, { secret: rsa.pem }),
    code: "ERR_TOKEN_ALG_NOT_ALLOWED",
  },
  {
    name: "ES256 token against RS256 config",
    verifier: rs,
    token: () => makeToken({}, { key: ec.privateKey }),
    code: "ERR_TOKEN_ALG_NOT_ALLOWED",
  },
  {
    name: "RS256 header on an ES256 key's verifier",
    verifier: es,
    token: () => makeToken({}, { key: rsa.privateKey }),
    code: "ERR_TOKEN_ALG_NOT_ALLOWED",
  },
  {
    name: "RS256 signed by another RSA key",
    verifier: rs,
    token: () => makeToken({}, { key: otherRsa.privateKey }),
    code: "ERR_TOKEN_INVALID",
  },
  {
    name: "tampered payload (signature of another payload)",
    verifier: hs,
    token: async () => {
      const [header, , signature] = (await makeToken()).split(".");
      return `${header}.${part({ sub: "admin", tenant_id: "t1", exp: now() + 60 })}.${signature}`;
    },
    code: "ERR_TOKEN_INVALID",
  },
  {
    name: "expired",
    verifier: hs,
    token: () => makeToken({}, { expiresIn: -60 }),
    code: "ERR_TOKEN_EXPIRED",
  },
  {
    name: "nbf in the future",
    verifier: hs,
    token: () => makeToken({}, { notBefore: 60 }),
    code: "ERR_TOKEN_NOT_YET_VALID",
  },
  {
    name: "missing exp",
    verifier: hs,
    token: () => makeToken({}, { expiresIn: null }),
    code: "ERR_TOKEN_CLAIMS",
  },
  {
    name: "exp not a number",
    verifier: hs,
    token: () => makeToken({ exp: "9999999999" as unknown as number }),
    code: "ERR_TOKEN_CLAIMS",
  },
  {
    name: "wrong iss",
    verifier: hsIssAud,
    token: () => makeToken({ iss: "https://evil.example.com/", aud: "calcbridge-realtime" }),
    code: "ERR_TOKEN_CLAIMS",
  },
  {
    name: "missing iss when one is required",
    verifier: hsIssAud,
    token: () => makeToken({ aud: "calcbridge-realtime" }),
    code: "ERR_TOKEN_CLAIMS",
  },
  {
    name: "wrong aud",
    verifier: hsIssAud,
    token: () => makeToken({ iss: "https://auth.example.com/", aud: "another-service" }),
    code: "ERR_TOKEN_CLAIMS",
  },
  {
    name: "missing sub",
    verifier: hs,
    token: () => makeToken({ sub: undefined }),
    code: "ERR_TOKEN_CLAIMS",
  },
  {
    name: "missing tenant_id",
    verifier: hs,
    token: () => makeToken({ tenant_id: undefined }),
    code: "ERR_TOKEN_CLAIMS",
  },
  {
    name: "empty sub",
    verifier: hs,
    token: () => makeToken({ sub: "" }),
    code: "ERR_TOKEN_CLAIMS",
  },
  {
    name: "tenant_id not a string",
    verifier: hs,
    token: () => makeToken({ tenant_id: 42 as unknown as string }),
    code: "ERR_TOKEN_CLAIMS",
  },
  {
    name: "tenant_id with a control character",
    verifier: hs,
    token: () => makeToken({ tenant_id: "t1\n" }),
    code: "ERR_TOKEN_CLAIMS",
  },
  {
    name: "unknown crit extension",
    verifier: hs,
    token: () =>
      hmacSigned(
        { alg: "HS256", crit: ["x-calc"], "x-calc": 1 },
        { sub: "u", tenant_id: "t", exp: now() + 60 },
      ),
    code: "ERR_TOKEN_INVALID",
  },
  { name: "one part", verifier: hs, token: () => "abc", code: "ERR_TOKEN_MALFORMED" },
  { name: "two parts", verifier: hs, token: () => "abc.def", code: "ERR_TOKEN_MALFORMED" },
  {
    name: "four parts",
    verifier: hs,
    token: async () => `${await makeToken()}.extra`,
    code: "ERR_TOKEN_MALFORMED",
  },
  { name: "only dots", verifier: hs, token: () => "..", code: "ERR_TOKEN_MALFORMED" },
  {
    name: "bad base64url",
    verifier: hs,
    token: () => "!!!.###.$$$",
    code: "ERR_TOKEN_MALFORMED",
  },
  {
    name: "header not JSON",
    verifier: hs,
    token: () => `${base64url.encode("not json")}.${part({ sub: "u" })}.c2ln`,
    code: "ERR_TOKEN_MALFORMED",
  },
  {
    name: "payload not JSON (validly signed)",
    verifier: hs,
    token: () => signRawPayload("not json"),
    code: "ERR_TOKEN_MALFORMED",
  },
  {
    name: "payload a JSON array (validly signed)",
    verifier: hs,
    token: () => signRawPayload("[1,2,3]"),
    code: "ERR_TOKEN_MALFORMED",
  },
  {
    name: "longer than 16 KiB",
    verifier: hs,
    token: () => makeToken({ padding: "x".repeat(17 * 1024) }),
    code: "ERR_TOKEN_MALFORMED",
  },
];

t.test("bad tokens are refused with AuthError and close code 4001", async (t) => {
  for (const bad of BAD_TOKENS) {
    const token = await bad.token();
    const err = await bad.verifier.verify(token).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof AuthError, `${bad.name}: AuthError`);
    t.match(
      err,
      { name: "AuthError", code: bad.code, closeCode: 4001 },
      `${bad.name}: ${bad.code}`,
    );
  }
});

t.test("a non-string token is ERR_TOKEN_MISSING", async (t) => {
  await t.rejects(hs.verify(undefined as unknown as string), { code: "ERR_TOKEN_MISSING" });
});

t.test("AuthError is an EdgeError with a cause and a client-safe message", async (t) => {
  const token = await makeToken({}, { secret: "another-secret-that-is-long-enough-0123456789" });
  const err = await hs.verify(token).catch((e: unknown) => e);
  t.ok(err instanceof EdgeError);
  t.ok((err as AuthError).cause, "keeps jose's error");
  t.notMatch((err as AuthError).message, token, "never quotes the token");
});

t.test("good tokens for HS256, RS256, ES256 and EdDSA", async (t) => {
  const cases: [string, TokenVerifier, string][] = [
    ["HS256", hs, await makeToken({ scope: "rt:publish" })],
    ["RS256", rs, await makeToken({ scope: "rt:publish" }, { key: rsa.privateKey })],
    ["ES256", es, await makeToken({ scope: "rt:publish" }, { key: ec.privateKey })],
    ["EdDSA", eddsa, await makeToken({ scope: "rt:publish" }, { key: ed.privateKey })],
  ];
  for (const [alg, verifier, token] of cases) {
    t.same(verifier.algorithms, [alg === "EdDSA" ? "EdDSA" : alg], `${alg} detected`);
    const verified = await verifier.verify(token);
    t.match(verified.claims, { sub: "user_1", tenant_id: "tenant_1", scope: "rt:publish" }, alg);
    t.equal(verified.expiresAt, verified.claims.exp * 1000, `${alg} expiresAt in ms`);
    t.ok(verified.expiresAt > Date.now() + 3_500_000, `${alg} expires in an hour`);
  }
  const good = await hsIssAud.verify(
    await makeToken({ iss: "https://auth.example.com/", aud: ["other", "calcbridge-realtime"] }),
  );
  t.equal(good.claims.iss, "https://auth.example.com/", "iss and one of aud accepted");
});

t.test("EdDSA verifier accepts the Ed25519 alg name only when asked", async (t) => {
  const both = await createTokenVerifier({ publicKey: ed.pem, algorithms: ["EdDSA", "Ed25519"] });
  t.same(both.algorithms, ["EdDSA", "Ed25519"]);
  await both.verify(await makeToken({}, { key: ed.privateKey, alg: "EdDSA" }));
  await both.verify(await makeToken({}, { key: ed.privateKey, alg: "Ed25519" }));
  await t.rejects(eddsa.verify(await makeToken({}, { key: ed.privateKey, alg: "Ed25519" })), {
    code: "ERR_TOKEN_ALG_NOT_ALLOWED",
  });
});

t.test("PEM with \\n escapes (one-line env var) works", async (t) => {
  const verifier = await createTokenVerifier({ publicKey: rsa.pem.replace(/\n/g, "\\n") });
  const verified = await verifier.verify(await makeToken({}, { key: rsa.privateKey }));
  t.equal(verified.claims.sub, "user_1");
});

t.test("clock tolerance edges", async (t) => {
  // Default tolerance 5 s; margins of 2-3 s absorb a second boundary between sign and verify.
  await hs.verify(await makeToken({ exp: now() - 2 }));
  await t.rejects(hs.verify(await makeToken({ exp: now() - 8 })), { code: "ERR_TOKEN_EXPIRED" });
  await hs.verify(await makeToken({ nbf: now() + 2 }));
  await t.rejects(hs.verify(await makeToken({ nbf: now() + 8 })), {
    code: "ERR_TOKEN_NOT_YET_VALID",
  });

  const strict = await createTokenVerifier({ secret: TEST_SECRET, clockToleranceSec: 0 });
  await t.rejects(strict.verify(await makeToken({ exp: now() - 2 })), {
    code: "ERR_TOKEN_EXPIRED",
  });
  await t.rejects(strict.verify(await makeToken({ nbf: now() + 3 })), {
    code: "ERR_TOKEN_NOT_YET_VALID",
  });

  const lenient = await createTokenVerifier({ secret: TEST_SECRET, clockToleranceSec: 60 });
  await lenient.verify(await makeToken({ exp: now() - 30 }));
  await t.rejects(lenient.verify(await makeToken({ exp: now() - 90 })), {
    code: "ERR_TOKEN_EXPIRED",
  });
});

t.test("construction refuses unsafe or ambiguous configurations", async (t) => {
  const refuse = (options: Parameters<typeof createTokenVerifier>[0], message: RegExp) =>
    t.rejects(createTokenVerifier(options), { name: "ConfigError", code: "ERR_CONFIG", message });

  await refuse({}, /set JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL/);
  await refuse({ secret: TEST_SECRET, publicKey: rsa.pem }, /alternatives .*secret and publicKey/);
  await refuse(
    { secret: "too-short" },
    /JWT_SECRET must be at least 32 bytes long \(got 9 bytes\)/,
  );
  await refuse({ secret: "x".repeat(31) }, /got 31 bytes/);
  await refuse({ secret: TEST_SECRET, algorithms: ["RS256"] }, /HS256, HS384, HS512/);
  await refuse({ secret: TEST_SECRET, algorithms: ["none"] }, /algorithms must be/);
  await refuse({ publicKey: rsa.pem, algorithms: ["HS256"] }, /for this JWT_PUBLIC_KEY/);
  await refuse({ publicKey: ec.pem, algorithms: ["RS256"] }, /ES256 for this JWT_PUBLIC_KEY/);
  await refuse(
    { publicKey: await exportPKCS8(rsa.privateKey) },
    /must be a public key, not a private key/,
  );
  await refuse({ publicKey: "not a pem" }, /JWT_PUBLIC_KEY must be a PEM public key/);
  await refuse({ jwksUrl: "ftp://example.com/jwks" }, /JWT_JWKS_URL must be an http/);
  await refuse({ jwksUrl: "https://x.example/jwks", algorithms: ["HS256"] }, /for JWT_JWKS_URL/);

  t.ok((await createTokenVerifier({ secret: "x".repeat(32) })).algorithms, "32 bytes is enough");
  t.ok(new ConfigError(["a"]) instanceof EdgeError && new ConfigError(["a"]).code === "ERR_CONFIG");
});

// --- JWKS ------------------------------------------------------------------

interface JwksServer {
  url: string;
  fetches: number;
  keys: JWK[];
  status: number;
  hang: boolean;
  close(): Promise<void>;
}

async function startJwksServer(t: Tap): Promise<JwksServer> {
  const state: JwksServer = {
    url: "",
    fetches: 0,
    keys: [],
    status: 200,
    hang: false,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    state.fetches += 1;
    if (state.hang) return; // never answers: the client's timeout must fire
    res.writeHead(state.status, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  t.teardown(() => {
    server.closeAllConnections();
    return state.close();
  });
  return state;
}

type Tap = { teardown(fn: () => unknown): void };

async function jwk(alg: string, kid: string): Promise<{ privateKey: CryptoKey; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

t.test("JWKS: cached keys, rotation by unknown kid, cooldown", async (t) => {
  const jwks = await startJwksServer(t);
  const k1 = await jwk("RS256", "k1");
  const k2 = await jwk("ES256", "k2");
  const k3 = await jwk("RS256", "k3");
  jwks.keys = [k1.jwk, k3.jwk];
  const verifier = await createTokenVerifier({ jwksUrl: jwks.url, jwksCooldownMs: 1500 });
  t.same(verifier.algorithms, ASYMMETRIC_ALGORITHMS);
  t.equal(verifier.keySource, "jwks");
  t.equal(jwks.fetches, 0, "nothing fetched before the first token");

  const signed = (key: { privateKey: CryptoKey }, kid: string, claims = {}) =>
    makeToken(claims, { key: key.privateKey, header: { kid } });

  t.match((await verifier.verify(await signed(k1, "k1"))).claims, { sub: "user_1" });
  t.equal(jwks.fetches, 1, "first token fetches the key set");
  await verifier.verify(await signed(k1, "k1", { sub: "user_2" }));
  t.equal(jwks.fetches, 1, "second token uses the cache");
  await t.rejects(verifier.verify(await signed(k1, "k3")), { code: "ERR_TOKEN_INVALID" });
  t.equal(jwks.fetches, 1, "a known kid with a bad signature does not refetch");

  // (The cooldown is long enough that a loaded machine's key signing cannot
  // outlast it; tokens are still signed before the timed steps.)
  // Rotation: the issuer publishes k2 and signs with it. Within the cooldown
  // an unknown kid does not refetch (bounds refetch storms)...
  const rotated = await signed(k2, "k2");
  jwks.keys = [k1.jwk, k2.jwk];
  await t.rejects(verifier.verify(rotated), { code: "ERR_TOKEN_KEY_NOT_FOUND" });
  t.equal(jwks.fetches, 1, "no refetch within the cooldown");
  // ...after it, the unknown kid triggers one refetch and verifies.
  await delay(1600);
  t.match((await verifier.verify(await signed(k2, "k2"))).claims, { tenant_id: "tenant_1" });
  t.equal(jwks.fetches, 2, "unknown kid refetched once");
  await verifier.verify(await signed(k1, "k1"));
  t.equal(jwks.fetches, 2, "old key still cached");

  // k1 retired: cached k1 keeps working until the cache is refreshed.
  jwks.keys = [k2.jwk];
  await delay(1600);
  await t.rejects(verifier.verify(await signed(k1, "nope")), { code: "ERR_TOKEN_KEY_NOT_FOUND" });
  t.equal(jwks.fetches, 3, "a kid that stays unknown after a refetch is refused");
  await t.rejects(verifier.verify(await signed(k1, "k1")), { code: "ERR_TOKEN_KEY_NOT_FOUND" });

  // An RS256 token naming the EC key k2: no key of the set fits both.
  await t.rejects(verifier.verify(await signed(k1, "k2")), { code: "ERR_TOKEN_KEY_NOT_FOUND" });
  const fetchesBefore = jwks.fetches;
  await t.rejects(verifier.verify(await makeToken({}, { header: { kid: "k2" } })), {
    code: "ERR_TOKEN_ALG_NOT_ALLOWED",
  });
  await t.rejects(
    verifier.verify(makeRawUnsignedToken({}, { header: { alg: "none", kid: "k2" } })),
    {
      code: "ERR_TOKEN_ALG_NOT_ALLOWED",
    },
  );
  t.equal(jwks.fetches, fetchesBefore, "refused algorithms never reach the network");
});

t.test("JWKS: default cooldown keeps an unknown kid from refetching at once", async (t) => {
  const jwks = await startJwksServer(t);
  const k1 = await jwk("EdDSA", "k1");
  jwks.keys = [k1.jwk];
  const verifier = await createTokenVerifier({ jwksUrl: jwks.url });
  await verifier.verify(await makeToken({}, { key: k1.privateKey, header: { kid: "k1" } }));
  for (let i = 0; i < 20; i++) {
    await t.rejects(
      verifier.verify(await makeToken({}, { key: k1.privateKey, header: { kid: `x${i}` } })),
      { code: "ERR_TOKEN_KEY_NOT_FOUND" },
    );
  }
  t.equal(jwks.fetches, 1, "20 unknown kids, one fetch");
});

t.test(
  "JWKS: an unreachable, failing or hanging endpoint is ERR_TOKEN_KEY_UNAVAILABLE",
  async (t) => {
    const k1 = await jwk("RS256", "k1");
    const token = await makeToken({}, { key: k1.privateKey, header: { kid: "k1" } });

    const failing = await startJwksServer(t);
    failing.status = 500;
    const v500 = await createTokenVerifier({ jwksUrl: failing.url });
    await t.rejects(v500.verify(token), { code: "ERR_TOKEN_KEY_UNAVAILABLE", closeCode: 4001 });

    const hanging = await startJwksServer(t);
    hanging.hang = true;
    const vHang = await createTokenVerifier({ jwksUrl: hanging.url, jwksTimeoutMs: 200 });
    const started = Date.now();
    await t.rejects(vHang.verify(token), { code: "ERR_TOKEN_KEY_UNAVAILABLE" });
    t.ok(Date.now() - started < 2000, "bounded by the timeout");

    const gone = await startJwksServer(t);
    const url = gone.url;
    await gone.close();
    const vGone = await createTokenVerifier({ jwksUrl: url });
    await t.rejects(vGone.verify(token), { code: "ERR_TOKEN_KEY_UNAVAILABLE" });
  },
);

t.test("dev mode helpers", async (t) => {
  const secret = generateDevSecret();
  t.ok(Buffer.byteLength(secret) >= 32, "at least 32 bytes");
  t.not(generateDevSecret(), secret, "random");
  const verifier = await createTokenVerifier({ secret });
  const token = await signDevToken(
    secret,
    { sub: "dev", tenant_id: "dev", scope: "rt:publish" },
    600,
  );
  const verified = await verifier.verify(token);
  t.match(verified.claims, { sub: "dev", tenant_id: "dev", scope: "rt:publish" });
  t.ok(Math.abs(verified.expiresAt - (Date.now() + 600_000)) < 2000, "ttl in seconds");
  const long = await verifier.verify(await signDevToken(secret, { sub: "d", tenant_id: "d" }));
  t.ok(long.expiresAt > Date.now() + 11 * 3600_000, "default ttl 12 h");
  const spanned = await verifier.verify(
    await signDevToken(secret, { sub: "d", tenant_id: "d" }, "2h"),
  );
  t.ok(Math.abs(spanned.expiresAt - (Date.now() + 7_200_000)) < 2000, "jose time span");
});
