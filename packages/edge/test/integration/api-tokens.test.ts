/**
 * Tokens end to end: a table of bad tokens, each tried over a raw WebSocket
 * (close 4001) and over Socket.IO (connect_error data.code 4001); expiry of a
 * live connection; `refresh` with a fresh token, and refused refreshes.
 */
import { base64url, exportPKCS8, exportSPKI, generateKeyPair, importPKCS8 } from "jose";
import { TEST_SECRET, delay, makeRawUnsignedToken, makeToken } from "@calcbridge/testing";
import t from "tap";
import {
  WAIT_MS,
  jobPath,
  rawClient,
  rawOpen,
  sioConnect,
  sioRefused,
  sioSocket,
  startNode,
  tokenFor,
  within,
  type Closed,
} from "../api-helpers.js";

const ISSUER = "https://auth.calcbridge.test";
const AUDIENCE = "calcbridge-realtime";
const OTHER_SECRET = "another-secret-that-is-also-long-enough-0123456789";

/** Replaces a compact JWS's header or payload, keeping its signature. */
function splice(token: string, part: 0 | 1, value: object): string {
  const parts = token.split(".");
  parts[part] = base64url.encode(JSON.stringify(value));
  return parts.join(".");
}

interface Row {
  what: string;
  token: string | undefined;
  /** A control row: the token is good and must connect. */
  good?: boolean;
}

interface Outcome {
  raw: string;
  rawReason: string;
  sio: string;
  sioReason: string;
}

/** Tries one token over both protocols. */
async function attempt(t: Tap, port: number, token: string | undefined): Promise<Outcome> {
  const raw = rawClient(t, port, "/ws", token === undefined ? {} : { token });
  const closed = await within(raw.closed, 400);
  let rawResult: Closed | undefined = closed;
  if (closed === undefined) {
    // Still open: a good token. Show that it is served, then close it.
    const pong = await raw.request({ type: "ping" });
    raw.ws.close();
    rawResult = undefined;
    if (pong.type !== "pong") throw new Error("open but not served");
  }
  const socket = sioSocket(t, port, token === undefined ? {} : { token });
  const sio = await new Promise<{ code: string; reason: string }>((resolve) => {
    socket.once("connect", () => resolve({ code: "connected", reason: "" }));
    socket.once("connect_error", (err: Error & { data?: { code?: number; reason?: string } }) =>
      resolve({
        code: String(err.data?.code ?? "no code"),
        reason: err.data?.reason ?? err.message,
      }),
    );
  });
  socket.disconnect();
  return {
    raw: rawResult === undefined ? "open" : String(rawResult.code),
    rawReason: rawResult?.reason ?? "",
    sio: sio.code,
    sioReason: sio.reason,
  };
}

type Tap = Parameters<typeof rawClient>[0] & Pick<typeof t, "equal" | "comment" | "ok">;

/** Runs the rows against a node and checks and prints the outcomes. */
async function runTable(t: Tap, port: number, title: string, rows: Row[]): Promise<void> {
  const lines: string[] = [];
  for (const row of rows) {
    const got = await attempt(t, port, row.token);
    const want =
      row.good === true ? { raw: "open", sio: "connected" } : { raw: "4001", sio: "4001" };
    t.equal(got.raw, want.raw, `${row.what}: raw WebSocket ${want.raw}`);
    t.equal(got.sio, want.sio, `${row.what}: Socket.IO ${want.sio}`);
    if (row.good !== true) {
      t.ok(got.rawReason.length > 0 && got.sioReason.length > 0, `${row.what}: with a reason`);
    }
    lines.push(
      `| ${row.what.padEnd(52)} | ${got.raw.padEnd(5)} | ${got.sio.padEnd(9)} | ${got.rawReason}`,
    );
  }
  t.comment(
    [
      title,
      `| ${"token".padEnd(52)} | raw   | socket.io | reason (raw close frame)`,
      `|${"-".repeat(54)}|-------|-----------|-------------------------`,
      ...lines,
    ].join("\n"),
  );
}

t.test("bad tokens: 4001 on raw WebSockets and Socket.IO alike", async (t) => {
  t.test("HS256 node with issuer and audience", async (t) => {
    const { port } = await startNode(t, {
      auth: { secret: TEST_SECRET, issuer: ISSUER, audience: AUDIENCE },
    });
    const std = { iss: ISSUER, aud: AUDIENCE };
    const valid = await makeToken(std);
    const { privateKey } = await generateKeyPair("RS256");
    const rows: Row[] = [
      { what: "valid (control)", token: valid, good: true },
      { what: "no token", token: undefined },
      { what: "empty string", token: "" },
      { what: "alg none, no signature", token: makeRawUnsignedToken(std) },
      {
        what: "alg none, with the valid token's signature",
        token: makeRawUnsignedToken(std, { signature: valid.split(".")[2]! }),
      },
      {
        what: "alg HS256, empty signature",
        token: makeRawUnsignedToken(std, { header: { alg: "HS256", typ: "JWT" } }),
      },
      { what: "wrong secret", token: await makeToken(std, { secret: OTHER_SECRET }) },
      {
        what: "payload changed after signing (tenant_id)",
        token: splice(valid, 1, {
          sub: "user_1",
          tenant_id: "globex",
          exp: Math.floor(Date.now() / 1000) + 3600,
          ...std,
        }),
      },
      { what: "expired (1 min ago)", token: await makeToken(std, { expiresIn: -60 }) },
      {
        what: "expired 2 s ago (inside the 5 s clock tolerance)",
        token: await makeToken(std, { expiresIn: -2 }),
      },
      { what: "not yet valid (nbf in 1 min)", token: await makeToken(std, { notBefore: 60 }) },
      { what: "wrong issuer", token: await makeToken({ ...std, iss: "https://evil.test" }) },
      { what: "no issuer", token: await makeToken({ aud: AUDIENCE }) },
      { what: "wrong audience", token: await makeToken({ ...std, aud: "other-service" }) },
      { what: "no audience", token: await makeToken({ iss: ISSUER }) },
      { what: "malformed: not a JWT", token: "garbage" },
      { what: "malformed: two segments", token: "eyJhbGciOiJIUzI1NiJ9.e30" },
      { what: "malformed: four segments", token: `${valid}.x` },
      { what: "malformed: header is not base64url JSON", token: `!!!.${valid.split(".")[1]}.x` },
      {
        what: "malformed: payload is not JSON",
        token: `${valid.split(".")[0]}.${base64url.encode("not json")}.${valid.split(".")[2]}`,
      },
      { what: "missing sub", token: await makeToken({ ...std, sub: undefined }) },
      { what: "missing tenant_id", token: await makeToken({ ...std, tenant_id: undefined }) },
      { what: "missing exp", token: await makeToken(std, { expiresIn: null }) },
      { what: "sub is a number", token: await makeToken({ ...std, sub: 42 as unknown as string }) },
      { what: "tenant_id is empty", token: await makeToken({ ...std, tenant_id: "" }) },
      {
        what: "HS512 with the right secret (node allows HS256)",
        token: await makeToken(std, { alg: "HS512" }),
      },
      {
        what: "RS256 token against the HS256 node",
        token: await makeToken(std, { key: privateKey }),
      },
    ];
    await runTable(t, port, "HS256 node (issuer + audience configured):", rows);

    // The Authorization header path refuses the same way.
    const header = rawClient(t, port, "/ws", { token: "garbage", header: true });
    t.equal((await header.closed).code, 4001, "a bad Bearer header: 4001");
  });

  t.test("RS256 node (public key PEM)", async (t) => {
    const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
    const pem = await exportSPKI(publicKey);
    const other = await generateKeyPair("RS256");
    // The same RSA key, bound to RS512 (a CryptoKey is bound to one hash).
    const sameKeyRs512 = await importPKCS8(await exportPKCS8(privateKey), "RS512");
    const { port } = await startNode(t, { auth: { publicKey: pem } });
    const rows: Row[] = [
      {
        what: "valid RS256 (control)",
        token: await makeToken({}, { key: privateKey }),
        good: true,
      },
      {
        what: "HS256 signed with the public PEM as the secret",
        token: await makeToken({}, { secret: pem }),
      },
      { what: "HS256 with the test secret", token: await makeToken({}) },
      { what: "alg none", token: makeRawUnsignedToken() },
      { what: "RS256 by another key", token: await makeToken({}, { key: other.privateKey }) },
      {
        what: "RS512 with the right key (node allows RS256)",
        token: await makeToken({}, { key: sameKeyRs512, alg: "RS512" }),
      },
      {
        what: "expired RS256",
        token: await makeToken({}, { key: privateKey, expiresIn: -60 }),
      },
    ];
    await runTable(t, port, "RS256 node (JWT_PUBLIC_KEY):", rows);
  });
});

t.test("token lifetime on live connections", { jobs: 8 }, async (t) => {
  const { node, port } = await startNode(t);
  /** A token of u1@acme that expires in 2-3 s (exp is in whole seconds). */
  const shortLived = () => tokenFor("u1", "acme", { expiresIn: 3 });
  const expOf = (token: string) =>
    (JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as { exp: number }).exp *
    1000;
  /** Closed at the token's expiry: not before it, and not much after. */
  const atExpiry = (at: number, exp: number) => at >= exp - 20 && at <= exp + 1000;

  t.test("raw: the connection closes with 4001 when the token expires", async (t) => {
    const token = await shortLived();
    const c = await rawOpen(t, port, jobPath("j1"), { token });
    const closed = await c.closed;
    t.equal(closed.code, 4001);
    t.equal(closed.reason, "token expired");
    t.ok(atExpiry(closed.at, expOf(token)), `at the expiry (${closed.at - expOf(token)} ms)`);
  });

  t.test("socket.io: an error event with code 4001, then disconnect", async (t) => {
    const token = await shortLived();
    const c = await sioConnect(t, port, { token });
    const errors: unknown[] = [];
    c.socket.on("error", (e: unknown) => errors.push(e));
    const [reason, at] = await new Promise<[string, number]>((resolve) =>
      c.socket.once("disconnect", (r) => resolve([r, Date.now()])),
    );
    t.equal(reason, "io server disconnect");
    t.same(errors, [{ type: "error", code: 4001, reason: "token expired" }]);
    t.ok(atExpiry(at, expOf(token)), `at the expiry (${at - expOf(token)} ms)`);
  });

  t.test("raw: refresh before expiry keeps the connection", async (t) => {
    const token = await shortLived();
    const c = await rawOpen(t, port, jobPath("j1"), { token });
    const fresh = await tokenFor("u1", "acme", { expiresIn: 3600, scope: "rt:read" });
    const answer = await c.request({ type: "refresh", token: fresh });
    t.same(answer, { type: "refreshed", expires_at: new Date(expOf(fresh)).toISOString() });
    await delay(expOf(token) - Date.now() + 700);
    t.ok(c.isOpen, "open past the first token's expiry");
    t.same(await c.request({ type: "ping" }), { type: "pong" });
    node.publish({
      tenant_id: "acme",
      room: "job:j1",
      type: "job.started",
      payload: { job_id: "j1" },
    });
    await c.eventCount(1);
    t.match(JSON.parse(c.events[0]!), { type: "job.started", room: "job:j1" }, "still served");
  });

  t.test(
    "raw: refresh tokens of others or bad ones are refused; it closes at the expiry",
    async (t) => {
      const token = await shortLived();
      const c = await rawOpen(t, port, "/ws", { token });
      const refused: [string, string, RegExp][] = [
        ["another sub", await tokenFor("u2", "acme"), /same sub and tenant_id/],
        ["another tenant", await tokenFor("u1", "globex"), /same sub and tenant_id/],
        [
          "wrong secret",
          await makeToken({ sub: "u1", tenant_id: "acme" }, { secret: OTHER_SECRET }),
          /signature/,
        ],
        ["expired", await tokenFor("u1", "acme", { expiresIn: -60 }), /expired/],
        ["not a JWT", "garbage", /malformed/],
      ];
      for (const [what, fresh, reason] of refused) {
        t.match(
          await c.request({ type: "refresh", token: fresh }),
          { type: "error", code: 4001, request: "refresh", reason },
          `${what}: refused with 4001`,
        );
      }
      t.ok(c.isOpen, "a refused refresh does not close the connection by itself");
      // The claims did not change: u2's notifications stay forbidden.
      t.match(await c.request({ type: "subscribe", room: "notifications:u2" }), { code: 4003 });
      const closed = await c.closed;
      t.equal(closed.code, 4001);
      t.equal(closed.reason, "token expired");
      t.ok(atExpiry(closed.at, expOf(token)), "at the first token's expiry");
    },
  );

  t.test("socket.io: refresh with an ack keeps the socket", async (t) => {
    const token = await shortLived();
    const c = await sioConnect(t, port, { token });
    t.same(await c.ack("subscribe", "job:j2"), { ok: true, room: "job:j2" });
    const fresh = await tokenFor("u1", "acme", { expiresIn: 3600 });
    t.same(await c.ack("refresh", fresh), {
      ok: true,
      expires_at: new Date(expOf(fresh)).toISOString(),
    });
    await delay(expOf(token) - Date.now() + 700);
    t.equal(c.socket.connected, true, "connected past the first token's expiry");
    node.publish({
      tenant_id: "acme",
      room: "job:j2",
      type: "job.started",
      payload: { job_id: "j2" },
    });
    const [first] = await c.eventCount(1);
    t.equal(first?.[0], "job.started");
  });

  t.test("socket.io: refused refreshes, then disconnect at the expiry", async (t) => {
    const token = await shortLived();
    const c = await sioConnect(t, port, { token });
    const disconnected = new Promise<number>((resolve) =>
      c.socket.once("disconnect", () => resolve(Date.now())),
    );
    for (const [what, fresh] of [
      ["another sub", await tokenFor("u2", "acme")],
      ["another tenant", await tokenFor("u1", "globex")],
      ["wrong secret", await makeToken({ sub: "u1", tenant_id: "acme" }, { secret: OTHER_SECRET })],
    ] as const) {
      t.match(await c.ack("refresh", fresh), { ok: false, code: 4001, reason: String }, what);
    }
    t.match(await c.ack("subscribe", "notifications:u2"), { ok: false, code: 4003 });
    const at = await within(disconnected, WAIT_MS);
    t.ok(at !== undefined && atExpiry(at, expOf(token)), "disconnected at the first expiry");
  });

  t.test("a token already past exp (inside the clock tolerance) is closed at once", async (t) => {
    const token = await tokenFor("u1", "acme", { expiresIn: -2 });
    const c = rawClient(t, port, "/ws", { token });
    t.same(
      { ...(await c.closed), at: 0 },
      { code: 4001, reason: "token expired", at: 0 },
      "raw: 4001",
    );
    const err = await sioRefused(t, port, { token });
    t.equal(err.data?.code, 4001, "socket.io: connect_error 4001");
  });
});
