import { createHmac } from "node:crypto";
import { SignJWT, jwtVerify } from "jose";
import t from "tap";
import { verifyHmacFast, type FastPathRules } from "../../src/auth/hmac-fast-path.js";

// The fast path may only accept what jose accepts: for every token below,
// an acceptance by the fast path must be an acceptance by jose with the same
// payload. It must also really take the common case.
const secret = new TextEncoder().encode("s".repeat(40));
const other = new TextEncoder().encode("o".repeat(40));
const now = Math.floor(Date.now() / 1000);

const rules: FastPathRules = {
  secret,
  algorithms: ["HS256"],
  clockToleranceSec: 5,
  issuer: "https://issuer.example",
  audience: ["calcbridge"],
};

async function sign(
  claims: Record<string, unknown>,
  header: Record<string, unknown> = { alg: "HS256" },
  key = secret,
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(key);
}

/** A token signed by hand (jose refuses to sign some of these headers). */
function manual(header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const input = `${Buffer.from(JSON.stringify(header)).toString("base64url")}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

const base = {
  sub: "u1",
  tenant_id: "t1",
  iss: "https://issuer.example",
  aud: "calcbridge",
  exp: now + 60,
};

t.test("fast path acceptances are jose acceptances", async (t) => {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const valid = await sign(base);
  const cases: [string, string][] = [
    ["valid", valid],
    ["aud array", await sign({ ...base, aud: ["x", "calcbridge"] })],
    ["expired", await sign({ ...base, exp: now - 60 })],
    ["expired within tolerance", await sign({ ...base, exp: now - 2 })],
    ["no exp", await sign({ sub: "u1", tenant_id: "t1", iss: base.iss, aud: base.aud })],
    ["exp string", await sign({ ...base, exp: String(now + 60) })],
    ["nbf future", await sign({ ...base, nbf: now + 60 })],
    ["nbf within tolerance", await sign({ ...base, nbf: now + 2 })],
    ["iat string", await sign({ ...base, iat: "x" })],
    ["wrong iss", await sign({ ...base, iss: "other" })],
    ["wrong aud", await sign({ ...base, aud: "other" })],
    ["wrong key", await sign(base, { alg: "HS256" }, other)],
    ["HS384 not allowed", await sign(base, { alg: "HS384" })],
    ["crit header", manual({ alg: "HS256", crit: ["x"], x: 1 }, base)],
    ["alg none", `${b64({ alg: "none" })}.${b64(base)}.`],
    [
      "tampered payload",
      `${valid.split(".")[0]}.${b64({ ...base, tenant_id: "t2" })}.${valid.split(".")[2]}`,
    ],
    ["two parts", valid.split(".").slice(0, 2).join(".")],
    ["four parts", `${valid}.x`],
    [
      "array payload",
      await new SignJWT({})
        .setProtectedHeader({ alg: "HS256" })
        .sign(secret)
        .then(() => {
          const h = b64({ alg: "HS256" });
          return `${h}.${Buffer.from("[1]").toString("base64url")}.x`;
        }),
    ],
  ];
  let fastAccepted = 0;
  for (const [name, token] of cases) {
    const fast = verifyHmacFast(token, rules);
    let jose: unknown;
    try {
      jose = (
        await jwtVerify(token, secret, {
          algorithms: ["HS256"],
          clockTolerance: 5,
          issuer: rules.issuer!,
          audience: [...rules.audience!],
          requiredClaims: ["exp"],
        })
      ).payload;
    } catch {
      jose = undefined;
    }
    if (fast !== undefined) {
      fastAccepted++;
      t.same(jose, fast, `${name}: jose accepts it too, with the same payload`);
    } else {
      t.pass(`${name}: left to jose`);
    }
  }
  t.ok(verifyHmacFast(valid, rules), "the common case takes the fast path");
  t.ok(fastAccepted >= 4, `the fast path accepted ${fastAccepted} valid variants`);
  t.notOk(
    verifyHmacFast(await sign({ ...base, exp: now - 60 }), rules),
    "an expired token is never fast-accepted",
  );
});

t.test("the header parse kept between tokens follows each token's own header", async (t) => {
  // The fast path keeps the last header segment's parse; alternating headers
  // must each be judged on their own.
  const valid = await sign(base);
  const crit = manual({ alg: "HS256", crit: ["x"], x: 1 }, base);
  const hs384 = await sign(base, { alg: "HS384" });
  for (let round = 0; round < 3; round++) {
    t.ok(verifyHmacFast(valid, rules), `round ${round}: the HS256 token is fast-accepted`);
    t.ok(verifyHmacFast(valid, rules), `round ${round}: again, from the kept parse`);
    t.equal(verifyHmacFast(crit, rules), undefined, `round ${round}: crit is left to jose`);
    t.equal(verifyHmacFast(hs384, rules), undefined, `round ${round}: HS384 is not allowed`);
  }
  t.same(
    verifyHmacFast(await sign({ ...base, sub: "u2" }), rules),
    { ...base, sub: "u2" },
    "another payload under the same header: its own claims",
  );
});
