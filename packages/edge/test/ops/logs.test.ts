/**
 * Logs never carry a secret: an in-process node logging at `trace` into a
 * capture stream, then the `calcbridge-edge` process at `LOG_LEVEL=trace`,
 * are put through everything that handles a token (raw `?token=` and
 * `Authorization: Bearer`, Socket.IO `auth`, refresh, HTTP publish, good and
 * bad, config errors). No line may hold a token, the JWT secret or an
 * Authorization value; every line is pino JSON with `level` and `node`, and
 * connection lines carry the connection id.
 */
import { createHmac, randomBytes } from "node:crypto";
import { TEST_SECRET, freePort, makeToken, waitFor } from "@calcbridge/testing";
import t, { type Test } from "tap";
import { ConfigError, parseConfig } from "../../src/config.js";
import { REDACT_PATHS, createLogger, redactUrl } from "../../src/logger.js";
import {
  httpPublish,
  rawClient,
  rawOpen,
  samplePayload,
  sioConnect,
  sioRefused,
  startNode,
} from "../api-helpers.js";
import { LineCapture, jsonLines, runCli, startCli } from "../ops-helpers.js";

const TENANT = "tenant-logs";
const USER = "user-logs";
const ROOM = `job:job-logs`;

/** Tokens of one secret: what a node must accept or refuse without logging any. */
interface TokenSet {
  good: string;
  /** Same sub and tenant: a valid refresh. */
  fresh: string;
  /** Signed with another secret. */
  forged: string;
  expired: string;
  publish: string;
  /** A valid token without the publish scope. */
  unscoped: string;
}

async function tokenSet(secret: string): Promise<TokenSet> {
  const other = `${secret}-but-not-quite`;
  const claims = { sub: USER, tenant_id: TENANT };
  return {
    good: await makeToken(claims, { secret }),
    fresh: await makeToken(claims, { secret, expiresIn: "2h" }),
    forged: await makeToken(claims, { secret: other }),
    expired: await makeToken(claims, { secret, expiresIn: -3600 }),
    publish: await makeToken({ sub: "svc", tenant_id: TENANT, scope: "rt:publish" }, { secret }),
    unscoped: await makeToken({ sub: "svc", tenant_id: TENANT }, { secret }),
  };
}

/** Everything that handles a token, against the node on `port`. */
async function exercise(t: Test, port: number, tokens: TokenSet): Promise<void> {
  // Raw: ?token= and Authorization: Bearer, subscribe, refresh good and bad.
  const byQuery = await rawOpen(t, port, "/ws", { token: tokens.good });
  t.same(await byQuery.request({ type: "subscribe", room: ROOM }), {
    type: "subscribed",
    room: ROOM,
  });
  t.match(await byQuery.request({ type: "refresh", token: tokens.fresh }), { type: "refreshed" });
  t.match(await byQuery.request({ type: "refresh", token: tokens.forged }), {
    type: "error",
    code: 4001,
  });
  const byHeader = await rawOpen(t, port, "/ws/notifications", {
    token: tokens.good,
    header: true,
  });
  for (const [token, header] of [
    [tokens.forged, false],
    [tokens.forged, true],
    [tokens.expired, false],
    ["garbage.token.value", true],
  ] as const) {
    t.equal((await rawClient(t, port, "/ws", { token, header }).closed).code, 4001);
  }

  // Socket.IO: auth good and bad, refresh good and bad, both transports.
  for (const transports of [["websocket"], ["polling"]] as const) {
    const sio = await sioConnect(t, port, { token: tokens.good, transports: [...transports] });
    t.match(await sio.ack("subscribe", ROOM), { ok: true });
    t.match(await sio.ack("refresh", tokens.fresh), { ok: true });
    t.match(await sio.ack("refresh", tokens.forged), { ok: false, code: 4001 });
    sio.socket.disconnect();
  }
  for (const token of [tokens.forged, tokens.expired]) {
    t.equal((await sioRefused(t, port, { token })).data?.code, 4001);
  }

  // HTTP publish with Bearer tokens: good (202), forged (401), unscoped (403).
  const event = {
    tenant_id: TENANT,
    room: ROOM,
    type: "job.progress",
    payload: samplePayload("job.progress", "logs"),
  };
  t.equal((await httpPublish(port, event, { token: tokens.publish })).status, 202);
  t.equal((await httpPublish(port, event, { token: tokens.forged })).status, 401);
  t.equal((await httpPublish(port, event, { token: tokens.unscoped })).status, 403);
  await byQuery.eventCount(1);

  byQuery.ws.close(1000);
  byHeader.ws.close(1000);
  await Promise.all([byQuery.closed, byHeader.closed]);
}

/**
 * Asserts that no line holds a secret and that every line is pino JSON of
 * `nodeId`; returns the parsed lines.
 */
function checkLines(
  t: Test,
  lines: readonly string[],
  secrets: readonly string[],
  nodeId: string,
): Record<string, unknown>[] {
  const leaks: string[] = [];
  for (const line of lines) {
    for (const secret of secrets) if (line.includes(secret)) leaks.push(line);
    if (/Bearer\s+\S{8,}/i.test(line)) leaks.push(line);
  }
  t.strictSame(leaks, [], "no line holds a token, the secret or an Authorization value");
  const parsed: Record<string, unknown>[] = [];
  const notJson: string[] = [];
  for (const line of lines) {
    if (line.trim() === "") continue;
    try {
      parsed.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      notJson.push(line);
    }
  }
  t.strictSame(notJson, [], "every line is JSON");
  t.ok(parsed.length > 0, "something was logged");
  const malformed = parsed.filter(
    (l) => typeof l["level"] !== "number" || l["node"] !== nodeId || typeof l["msg"] !== "string",
  );
  t.strictSame(malformed, [], "every line is JSON with a numeric level, the node id and a msg");
  return parsed;
}

/** Connection lines carry `conn`; both protocols were seen connecting and leaving. */
function checkConnectionLines(t: Test, parsed: readonly Record<string, unknown>[]): void {
  const connLines = parsed.filter((l) => l["msg"] === "connected" || l["msg"] === "disconnected");
  const seen = new Set(connLines.map((l) => `${String(l["protocol"])} ${String(l["msg"])}`));
  t.strictSame(
    [...seen].sort(),
    ["raw connected", "raw disconnected", "socketio connected", "socketio disconnected"],
    "connects and disconnects of both protocols are logged",
  );
  const without = connLines.filter((l) => typeof l["conn"] !== "string" || l["conn"] === "");
  t.strictSame(without, [], "every connection line carries a connection id (conn)");
  t.ok(
    parsed.some((l) => l["msg"] === "token refused" && l["code"] === 4001),
    "refused tokens are logged (code and reason only)",
  );
}

t.test("an in-process node at trace level logs no secret", async (t) => {
  const capture = new LineCapture();
  const nodeId = "ops-logs";
  const log = createLogger({ level: "trace", nodeId }, capture);
  const { port } = await startNode(t, { nodeId, logger: log });
  const tokens = await tokenSet(TEST_SECRET);
  await exercise(t, port, tokens);

  // A config error, logged the way an embedding application would.
  const badSecret = "short-jwt-secret-zq9";
  const natsPassword = "nats-password-zq9";
  let configError: unknown;
  try {
    parseConfig({ JWT_SECRET: badSecret, NATS_USER: "edge", NATS_PASSWORD: natsPassword });
  } catch (err) {
    configError = err;
  }
  t.type(configError, ConfigError);
  t.match((configError as ConfigError).message, /JWT_SECRET/);
  log.error({ err: configError }, "invalid configuration");

  // What a future log call might carry: the documented redaction paths hold.
  const bearer = `Bearer ${tokens.good}`;
  log.info({ token: tokens.good }, "token field");
  log.info({ auth: { token: tokens.good } }, "auth.token");
  log.info(
    { handshake: { auth: { token: tokens.good }, headers: { authorization: bearer } } },
    "h",
  );
  log.info({ socket: { handshake: { auth: { token: tokens.good } } } }, "socket.handshake.auth");
  log.info({ req: { headers: { authorization: bearer }, query: { token: tokens.good } } }, "req");
  log.info({ headers: { authorization: bearer } }, "headers.authorization");
  log.info({ secret: TEST_SECRET, nats: { password: natsPassword } }, "secret, password");
  log.info({ url: redactUrl(`/ws/jobs/j?since=3&token=${tokens.good}&x=1`) }, "url");
  t.equal(
    redactUrl(`/ws?access_token=${tokens.good}#f`),
    "/ws?access_token=[Redacted]#f",
    "redactUrl also hides access_token",
  );
  t.ok(REDACT_PATHS.includes("*.headers.authorization"));

  await waitFor(() => capture.lines.some((l) => l.includes('"url"')), { timeout: 1000 });
  const parsed = checkLines(
    t,
    capture.lines,
    [...Object.values(tokens), TEST_SECRET, badSecret, natsPassword],
    nodeId,
  );
  checkConnectionLines(t, parsed);
  const redacted = parsed.filter((l) => JSON.stringify(l).includes("[Redacted]"));
  t.equal(redacted.length, 8, "each planted secret was censored in place");
  const configLine = parsed.find((l) => l["msg"] === "invalid configuration");
  t.match(configLine, { level: 50, err: { type: "ConfigError", message: /JWT_SECRET/ } });
});

t.test("the CLI at LOG_LEVEL=trace logs no secret", async (t) => {
  const secret = randomBytes(36).toString("base64url");
  const nodeId = "ops-logs-cli";
  const port = await freePort();
  const cli = await startCli(t, {
    PORT: String(port),
    HOST: "127.0.0.1",
    NODE_ID: nodeId,
    JWT_SECRET: secret,
    LOG_LEVEL: "trace",
    DRAIN_SECONDS: "0",
  });
  const tokens = await tokenSet(secret);
  await exercise(t, port, tokens);
  cli.signal("SIGTERM");
  const exit = await cli.exited;
  t.equal(exit.code, 0);
  t.equal(cli.stderr(), "", "nothing on stderr");
  const lines = cli
    .stdout()
    .split("\n")
    .filter((l) => l !== "");
  const parsed = checkLines(t, lines, [...Object.values(tokens), secret], nodeId);
  checkConnectionLines(t, parsed);
  t.ok(parsed.some((l) => l["msg"] === "edge node listening"));
  // Every line reaches stdout before the exit, in the order it was logged.
  t.strictSame(
    parsed.map((l) => l["msg"]).filter((m) => m === "draining" || m === "drained; exiting"),
    ["draining", "drained; exiting"],
    "the shutdown lines are all there, in order",
  );
  const times = parsed.map((l) => Date.parse(String(l["time"])));
  t.ok(
    times.every((time, i) => i === 0 || time >= times[i - 1]!),
    "lines are in time order",
  );
});

t.test("the CLI's config errors never echo a secret value", async (t) => {
  const cases: [Record<string, string>, string, string][] = [
    [{ JWT_SECRET: "too-short-secret-zq9" }, "JWT_SECRET", "too-short-secret-zq9"],
    [{ CONSOLE_TOKEN: "console-zq9" }, "CONSOLE_TOKEN", "console-zq9"],
    [{ NATS_USER: "edge", NATS_PASSWORD: "nats-pw-zq9" }, "NATS_PASSWORD", "nats-pw-zq9"],
  ];
  await Promise.all(
    cases.map(async ([env, name, value]) => {
      const run = await runCli([], { ...env, LOG_LEVEL: "trace" });
      t.equal(run.code, 2, `${name}: exit code 2`, { stderr: run.stderr, stdout: run.stdout });
      t.match(run.stderr, new RegExp(name), `${name}: the message names it`);
      t.notOk(run.stderr.includes(value) || run.stdout.includes(value), `${name}: value not shown`);
    }),
  );
});

t.test("dev mode prints its token, never the generated secret", async (t) => {
  const port = await freePort();
  const nodeId = "ops-logs-dev";
  const cli = await startCli(t, {
    PORT: String(port),
    HOST: "127.0.0.1",
    NODE_ID: nodeId,
    LOG_LEVEL: "trace",
    DRAIN_SECONDS: "0",
  });
  const token = await waitFor(() => /^ {2}(eyJ[\w-]+\.[\w-]+\.[\w-]+)$/m.exec(cli.stdout())?.[1], {
    timeout: 5000,
    message: "the dev token on stdout",
  });
  // Use it: a raw client, a Socket.IO client and an HTTP publish (dev-tenant, rt:publish).
  const raw = await rawOpen(t, port, "/ws", { token });
  t.same(await raw.request({ type: "ping" }), { type: "pong" });
  const sio = await sioConnect(t, port, { token });
  sio.socket.disconnect();
  const published = await httpPublish(
    port,
    {
      tenant_id: "dev-tenant",
      room: "job:job_1",
      type: "job.progress",
      payload: samplePayload("job.progress", "dev"),
    },
    { token },
  );
  t.equal(published.status, 202, "the printed token works");
  cli.signal("SIGTERM");
  t.equal((await cli.exited).code, 0);

  const output = `${cli.stdout()}\n${cli.stderr()}`;
  t.same(secretCandidates(output, token), [], "the dev secret appears nowhere in the output");
  // The detector finds a secret when there is one (it is not vacuous).
  const planted = randomBytes(32).toString("base64url");
  const plantedToken = await makeToken({}, { secret: planted });
  t.same(secretCandidates(`x ${planted}, y`, plantedToken), [planted], "the detector works");

  const logLines = cli
    .stdout()
    .split("\n")
    .filter((l) => l.startsWith("{"));
  const parsed = checkLines(t, logLines, [token], nodeId);
  t.ok(parsed.some((l) => l["msg"] === "connected" && typeof l["conn"] === "string"));
  t.ok(
    jsonLines(cli.stdout()).some((l) => /dev mode/.test(String(l["msg"]))),
    "dev mode warned",
  );
});

/**
 * Every 43-character base64url run in `text` (the form of a generated dev
 * secret) that is the HS256 key of `token`: a leaked secret, found without
 * knowing it.
 */
function secretCandidates(text: string, token: string): string[] {
  const [header, payload, signature] = token.split(".");
  const found = new Set<string>();
  for (const run of text.match(/[A-Za-z0-9_-]{43,}/g) ?? []) {
    for (let i = 0; i + 43 <= run.length; i++) {
      const key = run.slice(i, i + 43);
      const mac = createHmac("sha256", key).update(`${header}.${payload}`).digest("base64url");
      if (mac === signature) found.add(key);
    }
  }
  return [...found];
}
