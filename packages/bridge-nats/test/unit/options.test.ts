import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nkeys } from "@nats-io/transport-node";
import t, { type Test } from "tap";
import { toConnectionOptions } from "../../src/connection-options.js";
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_MAX_RECONNECT_ATTEMPTS,
  DEFAULT_PING_INTERVAL_MS,
  DEFAULT_RECONNECT_JITTER_MS,
  DEFAULT_RECONNECT_TIME_WAIT_MS,
  NatsBus,
  NatsOptionsError,
  natsBusOptionsFromConfig,
  parseNatsBusOptions,
  type NatsBusOptions,
} from "../../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "calcbridge-bridge-nats-unit-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content = "x"): string => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

function reasonsOf(options: unknown): string[] {
  try {
    parseNatsBusOptions(options as NatsBusOptions);
  } catch (err) {
    if (err instanceof NatsOptionsError) return [...err.reasons];
    throw err;
  }
  return [];
}

/** Exactly these reasons, in this order. */
function refused(t: Test, options: unknown, patterns: RegExp[]): void {
  const reasons = reasonsOf(options);
  t.equal(reasons.length, patterns.length, `${patterns.length} reason(s): ${reasons.join(" | ")}`);
  patterns.forEach((pattern, i) => t.match(reasons[i], pattern));
}

t.test("defaults are filled in and the result is frozen", async (t) => {
  const parsed = parseNatsBusOptions({ servers: ["nats://127.0.0.1:4222"] });
  t.same(parsed, {
    servers: ["nats://127.0.0.1:4222"],
    name: undefined,
    token: undefined,
    user: undefined,
    password: undefined,
    nkeySeed: undefined,
    credsFile: undefined,
    tls: undefined,
    reconnectTimeWaitMs: DEFAULT_RECONNECT_TIME_WAIT_MS,
    reconnectJitterMs: DEFAULT_RECONNECT_JITTER_MS,
    maxReconnectAttempts: DEFAULT_MAX_RECONNECT_ATTEMPTS,
    pingIntervalMs: DEFAULT_PING_INTERVAL_MS,
    connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
    noRandomize: false,
  });
  t.equal(DEFAULT_RECONNECT_TIME_WAIT_MS, 2000);
  t.equal(DEFAULT_RECONNECT_JITTER_MS, 500);
  t.equal(DEFAULT_MAX_RECONNECT_ATTEMPTS, -1);
  t.ok(Object.isFrozen(parsed));
  t.ok(Object.isFrozen(parsed.servers));
});

t.test("natsBusOptionsFromConfig maps the edge's NatsConfig", async (t) => {
  const servers = ["nats://a:4222", "tls://b:4222"];
  const options = natsBusOptionsFromConfig({
    servers,
    user: "u",
    password: "p",
    tls: { ca: "/ca.pem", cert: "/c.pem", key: "/k.pem" },
  });
  t.same(options, {
    servers,
    user: "u",
    password: "p",
    tls: { ca: "/ca.pem", cert: "/c.pem", key: "/k.pem" },
  });
  t.not(options.servers, servers, "a copy of the list");
  t.notOk("token" in options, "no undefined keys");
  t.same(natsBusOptionsFromConfig({ servers: ["nats://a:4222"], token: "tok" }), {
    servers: ["nats://a:4222"],
    token: "tok",
  });
  const seed = new TextDecoder().decode(nkeys.createUser().getSeed());
  t.same(natsBusOptionsFromConfig({ servers: ["nats://a:4222"], nkeySeed: seed }).nkeySeed, seed);
  t.same(natsBusOptionsFromConfig({ servers: ["nats://a:4222"], credsFile: "/x.creds" }), {
    servers: ["nats://a:4222"],
    credsFile: "/x.creds",
  });
});

t.test("bad options are refused with every reason, each naming its field", async (t) => {
  refused(t, { servers: [] }, [/^servers:/]);
  refused(t, { servers: ["nats://a:1", "has space"] }, [/^servers\[1\]:/]);
  refused(t, { servers: ["nats://a:1"], token: "t", user: "u", password: "p" }, [
    /^credentials: use one of token, user\/password/,
  ]);
  refused(t, { servers: ["nats://a:1"], user: "u" }, [/^password: required with user/]);
  refused(t, { servers: ["nats://a:1"], nkeySeed: "SUNOTASEED" }, [/^nkeySeed:/]);
  const accountSeed = new TextDecoder().decode(nkeys.createAccount().getSeed());
  refused(t, { servers: ["nats://a:1"], nkeySeed: accountSeed }, [/^nkeySeed:.*user seed/]);
  refused(t, { servers: ["nats://a:1"], credsFile: join(dir, "missing.creds") }, [
    /^credsFile: cannot read .*ENOENT/,
  ]);
  refused(t, { servers: ["nats://a:1"], tls: { cert: file("c.pem") } }, [
    /^tls\.key: required with tls\.cert/,
  ]);
  refused(t, { servers: ["nats://a:1"], tls: { ca: dir } }, [/^tls\.ca: cannot read .*EISDIR/]);
  refused(
    t,
    {
      servers: ["nats://a:1"],
      reconnectTimeWaitMs: -1,
      reconnectJitterMs: 1.5,
      maxReconnectAttempts: -2,
      pingIntervalMs: 0,
      connectTimeoutMs: "5000",
      noRandomize: "yes",
    },
    [
      /^reconnectTimeWaitMs: expected an integer >= 0/,
      /^reconnectJitterMs:/,
      /^maxReconnectAttempts: expected an integer >= -1/,
      /^pingIntervalMs: expected an integer >= 1/,
      /^connectTimeoutMs:/,
      /^noRandomize:/,
    ],
  );
  const err = await NatsBus.start({ servers: [] }).catch((e: unknown) => e);
  t.ok(err instanceof NatsOptionsError, "start rejects unusable options (and only those)");
  t.equal((err as NatsOptionsError).code, "ERR_NATS_OPTIONS");
});

t.test("nats.js connection options", async (t) => {
  const creds = file("edge.creds", "creds");
  const parsed = parseNatsBusOptions({
    servers: ["nats://a:4222", "nats://b:4222"],
    name: "node-1",
    credsFile: creds,
    tls: { ca: file("ca.pem"), cert: file("cert.pem"), key: file("key.pem") },
    reconnectTimeWaitMs: 100,
    reconnectJitterMs: 10,
    maxReconnectAttempts: 5,
    pingIntervalMs: 1000,
    connectTimeoutMs: 900,
    noRandomize: true,
  });
  const options = toConnectionOptions(parsed);
  t.match(options, {
    servers: ["nats://a:4222", "nats://b:4222"],
    name: "node-1",
    tls: {
      caFile: join(dir, "ca.pem"),
      certFile: join(dir, "cert.pem"),
      keyFile: join(dir, "key.pem"),
    },
    reconnect: true,
    waitOnFirstConnect: false,
    maxReconnectAttempts: 5,
    reconnectTimeWait: 100,
    reconnectJitter: 10,
    reconnectJitterTLS: 10,
    pingInterval: 1000,
    timeout: 900,
    noRandomize: true,
    ignoreAuthErrorAbort: true,
  });
  t.equal(typeof options.authenticator, "function", "creds file becomes an authenticator");
  t.not(toConnectionOptions(parsed).servers, options.servers, "a fresh object per attempt");

  const userPass = toConnectionOptions(
    parseNatsBusOptions({ servers: ["nats://a:1"], user: "u", password: "p" }),
  );
  t.match(userPass, { user: "u", pass: "p" });
  t.notOk("tls" in userPass, "no TLS unless asked for");
  t.match(toConnectionOptions(parseNatsBusOptions({ servers: ["nats://a:1"], token: "tk" })), {
    token: "tk",
  });
});
