import t from "tap";
import { HandshakeInfo, parseQuery } from "../../src/engine/handshake.js";
import { LiteEmitter } from "../../src/socketio/lite-emitter.js";
import { TokenLease } from "../../src/api/credentials.js";
import { createTokenVerifier } from "../../src/auth/verifier.js";
import { SignJWT } from "jose";

// The per-connection state is kept compact (a header string parsed on
// demand, a listener table made on first use, small-integer times); these
// tests hold each compact form to the behaviour of what it replaced.

t.test("parseQuery reads every query as URLSearchParams does", (t) => {
  // Random queries over the characters that matter (a fixed seed: repeatable).
  const alphabet = ["a", "b", "=", "&", "%", "+", "2", "0", "é", " ", "x", "%2", "%20"];
  let seed = 0x2545f491;
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x100000000;
  };
  let mismatches = 0;
  for (let run = 0; run < 5000; run++) {
    let raw = "";
    const length = Math.floor(next() * 12);
    for (let i = 0; i < length; i++) raw += alphabet[Math.floor(next() * alphabet.length)]!;
    const expected: Record<string, string> = {};
    for (const [k, v] of new URLSearchParams(raw)) expected[k] = v;
    const got = { ...parseQuery(raw) };
    if (JSON.stringify(got) !== JSON.stringify(expected)) {
      mismatches++;
      t.same(got, expected, `query ${JSON.stringify(raw)}`);
    }
  }
  t.equal(mismatches, 0, "5000 random queries read alike");
  t.same(
    { ...parseQuery("EIO=4&transport=websocket&sid=abc") },
    {
      EIO: "4",
      transport: "websocket",
      sid: "abc",
    },
  );
  t.same({ ...parseQuery("") }, {});
  t.end();
});

t.test("HandshakeInfo: headers, one header, query and url from the compact copy", (t) => {
  const info = new HandshakeInfo(
    ["host", "127.0.0.1:3000", "origin", "https://app.example", "x-empty", ""].join("\n"),
    "EIO=4&transport=websocket&room=a%20b",
    "/socket.io/",
    "127.0.0.1",
    false,
    1_700_000_000_123,
  );
  t.equal(info.header("origin"), "https://app.example");
  t.equal(info.header("x-empty"), "");
  t.equal(info.header("host"), "127.0.0.1:3000");
  t.equal(info.header("missing"), undefined);
  t.equal(info.header("hos"), undefined, "a prefix of a name is not the name");
  t.same(
    { ...info.headers },
    {
      host: "127.0.0.1:3000",
      origin: "https://app.example",
      "x-empty": "",
    },
  );
  t.equal(info.headers, info.headers, "parsed once, then kept");
  t.equal(info.header("origin"), "https://app.example", "after parsing too");
  t.same({ ...info.query }, { EIO: "4", transport: "websocket", room: "a b" });
  t.equal(info.url, "/socket.io/?EIO=4&transport=websocket&room=a%20b");
  t.equal(info.issued, 1_700_000_000_123, "the time survives being kept relative");
  const bare = new HandshakeInfo("", "", "/socket.io/", "::1", true);
  t.same({ ...bare.headers }, {});
  t.equal(bare.url, "/socket.io/");
  t.ok(Math.abs(bare.issued - Date.now()) < 5000);
  t.end();
});

t.test("LiteEmitter behaves as node's EventEmitter for what a socket offers", (t) => {
  const e = new LiteEmitter() as LiteEmitter & { fire(event: string, ...args: unknown[]): boolean };
  (e as unknown as { fire: (event: string, ...args: unknown[]) => boolean }).fire = function (
    this: LiteEmitter & { emitLocal(ev: string, args: unknown[]): boolean },
    event: string,
    ...args: unknown[]
  ) {
    return this.emitLocal(event, args);
  };
  const seen: string[] = [];
  t.equal(e.fire("x"), false, "no listener: false");
  t.same(e.eventNames(), []);
  const a = (v: unknown) => seen.push(`a${String(v)}`);
  const b = (v: unknown) => seen.push(`b${String(v)}`);
  const once = (v: unknown) => seen.push(`once${String(v)}`);
  e.on("x", a)
    .on("x", b)
    .once("x", once)
    .prependListener("x", (v: unknown) => seen.push(`p${String(v)}`));
  t.equal(e.listenerCount("x"), 4);
  t.equal(e.listeners("x")[3], once, "listeners() unwraps once");
  t.equal(e.fire("x", 1), true);
  t.equal(e.fire("x", 2), true);
  t.same(seen, ["p1", "a1", "b1", "once1", "p2", "a2", "b2"]);
  seen.length = 0;
  e.off("x", a);
  e.fire("x", 3);
  t.same(seen, ["p3", "b3"]);
  // once removed by its original before it fires
  const later = (v: unknown) => seen.push(`later${String(v)}`);
  e.once("y", later);
  e.off("y", later);
  t.equal(e.fire("y", 4), false);
  // a listener removing another during emit does not change that emit
  seen.length = 0;
  const c = () => {
    seen.push("c");
    e.off("z", d);
  };
  const d = () => seen.push("d");
  e.on("z", c).on("z", d);
  e.fire("z");
  e.fire("z");
  t.same(seen, ["c", "d", "c"]);
  e.removeAllListeners("x");
  t.equal(e.listenerCount("x"), 0);
  t.same(e.eventNames(), ["z"]);
  e.removeAllListeners();
  t.same(e.eventNames(), []);
  t.end();
});

t.test(
  "verifyNow accepts what verify accepts, with the same claims, and defers the rest",
  async (t) => {
    const secret = "k".repeat(40);
    const verifier = await createTokenVerifier({ secret });
    const key = new TextEncoder().encode(secret);
    const exp = Math.floor(Date.now() / 1000) + 600;
    const good = await new SignJWT({ sub: "u1", tenant_id: "t1", exp })
      .setProtectedHeader({ alg: "HS256" })
      .sign(key);
    const now = verifier.verifyNow?.(good);
    t.ok(now, "the common case is synchronous");
    t.same(now, await verifier.verify(good));
    const wrongKey = await new SignJWT({ sub: "u1", tenant_id: "t1", exp })
      .setProtectedHeader({ alg: "HS256" })
      .sign(new TextEncoder().encode("w".repeat(40)));
    t.equal(verifier.verifyNow?.(wrongKey), undefined);
    await t.rejects(verifier.verify(wrongKey), { code: "ERR_TOKEN_INVALID" });
    const badClaims = await new SignJWT({ sub: "", tenant_id: "t1", exp })
      .setProtectedHeader({ alg: "HS256" })
      .sign(key);
    t.equal(verifier.verifyNow?.(badClaims), undefined, "invalid claims: verify names the reason");
    await t.rejects(verifier.verify(badClaims), { code: "ERR_TOKEN_CLAIMS" });
    t.equal(verifier.verifyNow?.(""), undefined);
    // Tenant ids are shared between connections of one tenant.
    const other = await new SignJWT({ sub: "u2", tenant_id: "t1", exp })
      .setProtectedHeader({ alg: "HS256" })
      .sign(key);
    t.equal(verifier.verifyNow?.(other)?.claims.tenant_id, "t1");
  },
);

t.test("TokenLease: expiry and clear, with times kept as small integers", async (t) => {
  const fired: string[] = [];
  const claims = { sub: "u", tenant_id: "t", exp: 0 };
  const lease = new TokenLease(claims, Date.now() + 150, (who: string) => fired.push(who), "a");
  t.ok(Math.abs(lease.expires - (Date.now() + 150)) < 50);
  const cleared = new TokenLease(claims, Date.now() + 100, (who: string) => fired.push(who), "b");
  cleared.clear();
  await new Promise((r) => setTimeout(r, 450));
  t.same(fired, ["a"], "the lease fired once, the cleared one never");
  const past = new TokenLease(claims, Date.now() - 1, (who: string) => fired.push(who), "c");
  await new Promise((r) => setTimeout(r, 10));
  t.same(fired, ["a", "c"], "an expired lease fires at once");
  past.clear();
});
