import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TEST_SECRET } from "@calcbridge/testing";
import { exportPKCS8, exportSPKI, generateKeyPair } from "jose";
import t from "tap";
import {
  ConfigError,
  DEFAULT_DRAIN_SECONDS,
  DEFAULT_HOST,
  DEFAULT_JWT_CLOCK_TOLERANCE_SEC,
  DEFAULT_MAX_BACKPRESSURE_BYTES,
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_MAX_ROOMS_PER_SOCKET,
  DEFAULT_PING_INTERVAL_MS,
  DEFAULT_PING_TIMEOUT_MS,
  DEFAULT_PORT,
  ENV_TABLE,
  formatEnvMarkdown,
  formatHelp,
  parseConfig,
} from "../../src/config.js";
import { createTokenVerifier } from "../../src/auth/verifier.js";

const dir = mkdtempSync(join(tmpdir(), "calcbridge-config-test-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string): string => {
  const path = join(dir, name);
  writeFileSync(path, "-----BEGIN CERTIFICATE-----\n");
  return path;
};

const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
const publicPem = await exportSPKI(publicKey);

/** The ConfigError `parseConfig(env)` throws. */
function failure(env: NodeJS.ProcessEnv): ConfigError {
  try {
    parseConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`parseConfig accepted ${JSON.stringify(env)}`);
}

t.test("defaults", async (t) => {
  const config = parseConfig({});
  t.match(config, {
    port: DEFAULT_PORT,
    host: DEFAULT_HOST,
    logLevel: "info",
    production: false,
    devMode: true,
    auth: { clockToleranceSec: DEFAULT_JWT_CLOCK_TOLERANCE_SEC },
    nats: undefined,
    metricsPort: undefined,
    drainSeconds: DEFAULT_DRAIN_SECONDS,
    pingIntervalMs: DEFAULT_PING_INTERVAL_MS,
    pingTimeoutMs: DEFAULT_PING_TIMEOUT_MS,
    maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
    maxBackpressureBytes: DEFAULT_MAX_BACKPRESSURE_BYTES,
    maxRoomsPerSocket: DEFAULT_MAX_ROOMS_PER_SOCKET,
    corsOrigin: undefined,
    allowUwsFallback: false,
    consoleEnabled: false,
  });
  t.equal(DEFAULT_PORT, 8080);
  t.equal(DEFAULT_HOST, "0.0.0.0");
  t.equal(DEFAULT_MAX_BACKPRESSURE_BYTES, 1024 * 1024);
  t.equal(DEFAULT_PING_INTERVAL_MS, 25000);
  t.equal(DEFAULT_PING_TIMEOUT_MS, 20000);
  t.equal(DEFAULT_MAX_PAYLOAD_BYTES, 1_000_000);
  t.equal(DEFAULT_DRAIN_SECONDS, 10);
  t.same(Object.keys(config.auth), ["clockToleranceSec"], "no key fields in dev mode");
  t.match(config.nodeId, /^[A-Za-z0-9_-]+-[0-9a-f]{6}$/, "hostname plus a random suffix");
  t.not(parseConfig({}).nodeId, config.nodeId, "suffix differs per start");
  t.ok(Object.isFrozen(config) && Object.isFrozen(config.auth), "frozen, deeply");
});

t.test("blank values count as unset", async (t) => {
  t.equal(parseConfig({ PORT: "", LOG_LEVEL: "  ", NATS_URL: "" }).port, 8080);
});

t.test("values are parsed", async (t) => {
  const config = parseConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    NODE_ID: "edge-1",
    LOG_LEVEL: "debug",
    JWT_SECRET: TEST_SECRET,
    JWT_ISSUER: "https://auth.example.com/",
    JWT_AUDIENCE: "realtime, other",
    JWT_CLOCK_TOLERANCE: "0",
    METRICS_PORT: "9464",
    DRAIN_SECONDS: "2.5",
    PING_INTERVAL_MS: "300",
    PING_TIMEOUT_MS: "200",
    MAX_PAYLOAD_BYTES: "65536",
    MAX_BACKPRESSURE_BYTES: "4096",
    MAX_ROOMS_PER_SOCKET: "10",
    CORS_ORIGIN: "https://app.example.com, http://localhost:3000/",
    ALLOW_UWS_FALLBACK: "1",
    CONSOLE_ENABLED: "true",
  });
  t.match(config, {
    port: 0,
    host: "127.0.0.1",
    nodeId: "edge-1",
    logLevel: "debug",
    devMode: false,
    auth: {
      secret: TEST_SECRET,
      issuer: "https://auth.example.com/",
      audience: ["realtime", "other"],
      clockToleranceSec: 0,
    },
    metricsPort: 9464,
    drainSeconds: 2.5,
    pingIntervalMs: 300,
    pingTimeoutMs: 200,
    maxPayloadBytes: 65536,
    maxBackpressureBytes: 4096,
    maxRoomsPerSocket: 10,
    corsOrigin: ["https://app.example.com", "http://localhost:3000"],
    allowUwsFallback: true,
    consoleEnabled: true,
  });
  t.equal(parseConfig({ CORS_ORIGIN: "*" }).corsOrigin, "*");
  t.equal(parseConfig({ ALLOW_UWS_FALLBACK: "0" }).allowUwsFallback, false);
  t.equal(parseConfig({ CONSOLE_ENABLED: "false" }).consoleEnabled, false);
});

t.test("the parsed auth options build a verifier", async (t) => {
  const config = parseConfig({ JWT_PUBLIC_KEY: publicPem.replace(/\n/g, "\\n") });
  t.equal(config.auth.publicKey, publicPem.trim(), "\\n escapes become newlines");
  const verifier = await createTokenVerifier(config.auth);
  t.same(verifier.algorithms, ["ES256"]);
  t.equal(
    parseConfig({ JWT_JWKS_URL: "https://a.example/jwks" }).auth.jwksUrl,
    "https://a.example/jwks",
  );
});

t.test("the example message from the contract", async (t) => {
  t.equal(
    failure({ PORT: "abc" }).message,
    'PORT must be an integer from 0 to 65535 (got "abc"); set PORT=8080',
  );
  t.equal(failure({ PORT: "abc" }).code, "ERR_CONFIG");
  t.equal(failure({ PORT: "abc" }).name, "ConfigError");
});

// Every variable with a bad value: the message names it, says what is
// wrong (`must be`) and how to fix it (`set NAME=`).
const BAD_VALUES: [name: string, value: string][] = [
  ["PORT", "abc"],
  ["PORT", "65536"],
  ["PORT", "-1"],
  ["PORT", "80.5"],
  ["HOST", "a b"],
  ["NODE_ID", "edge.1"],
  ["NODE_ID", "x".repeat(65)],
  ["LOG_LEVEL", "verbose"],
  ["JWT_SECRET", "short"],
  ["JWT_PUBLIC_KEY", "not a pem"],
  ["JWT_PUBLIC_KEY", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"],
  ["JWT_JWKS_URL", "ftp://example.com/jwks"],
  ["JWT_JWKS_URL", "not a url"],
  ["JWT_AUDIENCE", " , "],
  ["JWT_CLOCK_TOLERANCE", "5s"],
  ["JWT_CLOCK_TOLERANCE", "301"],
  ["NATS_URL", "http://nats:4222"],
  ["NATS_URL", "nats://a:4222,localhost:4222"],
  ["NATS_URL", ","],
  ["METRICS_PORT", "0"],
  ["METRICS_PORT", "x"],
  ["DRAIN_SECONDS", "-1"],
  ["DRAIN_SECONDS", "ten"],
  ["PING_INTERVAL_MS", "0"],
  ["PING_TIMEOUT_MS", "1e3"],
  ["MAX_PAYLOAD_BYTES", "100"],
  ["MAX_BACKPRESSURE_BYTES", "1MiB"],
  ["MAX_ROOMS_PER_SOCKET", "0"],
  ["CORS_ORIGIN", "app.example.com"],
  ["CORS_ORIGIN", "https://app.example.com/path"],
  ["CORS_ORIGIN", "*,https://a.example"],
  ["ALLOW_UWS_FALLBACK", "yes"],
  ["CONSOLE_ENABLED", "TRUE"],
];

t.test("each variable's validation message names it, the problem and the fix", async (t) => {
  for (const [name, value] of BAD_VALUES) {
    const err = failure({ [name]: value });
    t.equal(err.reasons.length, 1, `${name}=${value}: one reason`);
    t.match(err.message, new RegExp(`^${name} must be .+; set ${name}=`), `${name}=${value}`);
  }
});

t.test("NATS variables need their files and NATS_URL", async (t) => {
  const natsUrl = "nats://127.0.0.1:4222";
  const env = { NATS_URL: natsUrl };
  for (const name of ["NATS_CREDS_FILE", "NATS_TLS_CA", "NATS_TLS_CERT", "NATS_TLS_KEY"]) {
    t.match(failure({ ...env, [name]: join(dir, "missing.pem") }).message, `${name} must be`);
  }
  for (const [name, value] of [
    ["NATS_NKEY_SEED", "SUABC"],
    ["NATS_NKEY_SEED", "UABCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFGHIJKLMNOPQRSTUVW"],
  ] as const) {
    t.match(failure({ ...env, [name]: value }).message, `${name} must be`);
  }
});

t.test("secrets are never echoed", async (t) => {
  const err = failure({ JWT_SECRET: "hunter2-hunter2" });
  t.equal(
    err.message,
    'JWT_SECRET must be at least 32 bytes long (got 15 bytes); set JWT_SECRET="$(openssl rand -base64 48)"',
  );
  t.notMatch(failure({ NATS_URL: "nats://a", NATS_NKEY_SEED: "SUsecret" }).message, "SUsecret");
});

t.test("a private key is not a JWT_PUBLIC_KEY", async (t) => {
  const pem = await exportPKCS8(privateKey);
  t.match(failure({ JWT_PUBLIC_KEY: pem }).message, /^JWT_PUBLIC_KEY must be .*not a private key/);
});

t.test("production without a key refuses to start", async (t) => {
  t.equal(
    failure({ NODE_ENV: "production" }).message,
    "NODE_ENV=production needs a token key and none is configured; set JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL",
  );
  const config = parseConfig({ NODE_ENV: "production", JWT_SECRET: TEST_SECRET });
  t.match(config, { production: true, devMode: false });
  t.match(parseConfig({ NODE_ENV: "development" }), { production: false, devMode: true });
});

t.test("more than one key refuses", async (t) => {
  t.match(
    failure({ JWT_SECRET: TEST_SECRET, JWT_JWKS_URL: "https://a.example/jwks" }).message,
    "JWT_SECRET, JWT_PUBLIC_KEY and JWT_JWKS_URL are alternatives (got JWT_SECRET and JWT_JWKS_URL); set only one",
  );
  t.match(
    failure({ JWT_SECRET: TEST_SECRET, JWT_PUBLIC_KEY: publicPem, JWT_JWKS_URL: "https://a/j" })
      .message,
    "(got JWT_SECRET and JWT_PUBLIC_KEY and JWT_JWKS_URL)",
  );
});

t.test("NATS_URL list parsing", async (t) => {
  t.same(parseConfig({ NATS_URL: "nats://127.0.0.1:4222" }).nats, {
    servers: ["nats://127.0.0.1:4222"],
  });
  t.same(
    parseConfig({ NATS_URL: " nats://n0:4222, tls://n1.example.com:4443 ,,nats://n2" }).nats
      ?.servers,
    ["nats://n0:4222", "tls://n1.example.com:4443", "nats://n2"],
    "trimmed, empty items dropped, order kept, port optional",
  );
  t.same(
    parseConfig({ NATS_URL: "nats://user:pass@n0:4222" }).nats?.servers,
    ["nats://user:pass@n0:4222"],
    "credentials in the URL are allowed",
  );
  const ca = file("ca.pem");
  const cert = file("cert.pem");
  const key = file("key.pem");
  t.same(
    parseConfig({
      NATS_URL: "tls://n0:4222",
      NATS_USER: "edge",
      NATS_PASSWORD: "pw",
      NATS_TLS_CA: ca,
      NATS_TLS_CERT: cert,
      NATS_TLS_KEY: key,
    }).nats,
    {
      servers: ["tls://n0:4222"],
      user: "edge",
      password: "pw",
      tls: { ca, cert, key },
    },
  );
  const seed = `SU${"A".repeat(56)}`;
  t.equal(parseConfig({ NATS_URL: "nats://n0", NATS_NKEY_SEED: seed }).nats?.nkeySeed, seed);
  t.equal(parseConfig({ NATS_URL: "nats://n0", NATS_TOKEN: "tok" }).nats?.token, "tok");
  t.equal(
    parseConfig({ NATS_URL: "nats://n0", NATS_CREDS_FILE: file("edge.creds") }).nats?.credsFile,
    join(dir, "edge.creds"),
  );
});

t.test("cross-variable rules", async (t) => {
  t.match(failure({ NATS_TOKEN: "tok" }).message, /^NATS_TOKEN has no effect without NATS_URL/);
  t.match(
    failure({ NATS_URL: "nats://n0", NATS_TOKEN: "tok", NATS_USER: "u", NATS_PASSWORD: "p" })
      .message,
    /NATS credentials are alternatives \(got NATS_TOKEN and NATS_USER\/NATS_PASSWORD\)/,
  );
  t.match(
    failure({ NATS_URL: "nats://n0", NATS_USER: "u" }).message,
    "NATS_USER and NATS_PASSWORD go together",
  );
  t.match(
    failure({ NATS_URL: "nats://n0", NATS_TLS_CERT: file("c.pem") }).message,
    "NATS_TLS_CERT and NATS_TLS_KEY go together",
  );
  t.match(failure({ PORT: "9000", METRICS_PORT: "9000" }).message, /^METRICS_PORT must differ/);
  t.match(failure({ METRICS_PORT: "8080" }).message, /^METRICS_PORT must differ/, "default PORT");
});

t.test("several problems are reported together", async (t) => {
  const err = failure({ PORT: "x", LOG_LEVEL: "loud", NODE_ENV: "production" });
  t.equal(err.reasons.length, 2, "field errors; cross-field rules wait for valid fields");
  t.match(
    err.message,
    /^invalid configuration:\n {2}- PORT must be[^\n]*\n {2}- LOG_LEVEL must be/,
  );
});

t.test("ENV_TABLE documents every variable, --help and the README come from it", async (t) => {
  const names = ENV_TABLE.map((v) => v.name);
  for (const name of [
    "PORT",
    "HOST",
    "NODE_ID",
    "LOG_LEVEL",
    "JWT_SECRET",
    "JWT_PUBLIC_KEY",
    "JWT_JWKS_URL",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_CLOCK_TOLERANCE",
    "NATS_URL",
    "NATS_TOKEN",
    "NATS_USER",
    "NATS_PASSWORD",
    "NATS_NKEY_SEED",
    "NATS_CREDS_FILE",
    "NATS_TLS_CA",
    "NATS_TLS_CERT",
    "NATS_TLS_KEY",
    "METRICS_PORT",
    "DRAIN_SECONDS",
    "PING_INTERVAL_MS",
    "PING_TIMEOUT_MS",
    "MAX_PAYLOAD_BYTES",
    "MAX_BACKPRESSURE_BYTES",
    "MAX_ROOMS_PER_SOCKET",
    "CORS_ORIGIN",
    "ALLOW_UWS_FALLBACK",
    "CONSOLE_ENABLED",
  ]) {
    t.ok(names.includes(name), `${name} documented`);
  }
  t.equal(new Set(names).size, names.length, "no duplicates");
  for (const v of ENV_TABLE) t.ok(v.description.length > 0 && v.option.length > 0, v.name);
  t.equal(ENV_TABLE.find((v) => v.name === "PORT")?.default, "8080");
  const help = formatHelp();
  for (const name of names) t.match(help, new RegExp(`^ {2}${name} `, "m"));
  t.match(help, /PORT\s+.*\(default: 8080\)/);
  const markdown = formatEnvMarkdown();
  t.equal(markdown.trim().split("\n").length, names.length + 2, "a row per variable");
  t.match(markdown, "| `PORT` | `8080` |");
});
