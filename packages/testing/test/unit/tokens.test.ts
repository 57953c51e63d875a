import { decodeJwt, decodeProtectedHeader, generateKeyPair, jwtVerify } from "jose";
import t from "tap";
import { TEST_SECRET, makeRawUnsignedToken, makeToken } from "../../src/index.js";

const secret = new TextEncoder().encode(TEST_SECRET);

t.test("TEST_SECRET is at least 32 bytes", async (t) => {
  t.ok(secret.byteLength >= 32);
});

t.test("makeToken signs HS256 with defaults", async (t) => {
  const token = await makeToken({ scope: "rt:publish" });
  const { payload, protectedHeader } = await jwtVerify(token, secret);
  t.equal(protectedHeader.alg, "HS256");
  t.match(payload, { sub: "user_1", tenant_id: "tenant_1", scope: "rt:publish" });
  t.ok(payload.exp! - Math.floor(Date.now() / 1000) > 3500, "one hour");
  t.type(payload.iat, "number");
});

t.test(
  "makeToken leaves out claims given as undefined and exp when expiresIn is null",
  async (t) => {
    const payload = decodeJwt(await makeToken({ sub: undefined }, { expiresIn: null }));
    t.notOk("sub" in payload);
    t.notOk("exp" in payload);
    t.equal(payload["tenant_id"], "tenant_1");
  },
);

t.test("makeToken: numeric expiresIn and notBefore are relative seconds", async (t) => {
  const now = Math.floor(Date.now() / 1000);
  const payload = decodeJwt(await makeToken({}, { expiresIn: -10, notBefore: 60 }));
  t.ok(Math.abs(payload.exp! - (now - 10)) <= 1);
  t.ok(Math.abs(payload.nbf! - (now + 60)) <= 1);
});

t.test("makeToken with a key pair derives alg and passes header fields", async (t) => {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const token = await makeToken({}, { key: privateKey, header: { kid: "k1" } });
  t.match(decodeProtectedHeader(token), { alg: "ES256", kid: "k1", typ: "JWT" });
  await jwtVerify(token, publicKey);
});

t.test("makeRawUnsignedToken builds alg none", async (t) => {
  const token = makeRawUnsignedToken({ tenant_id: "t9" });
  const parts = token.split(".");
  t.equal(parts.length, 3);
  t.equal(parts[2], "");
  t.same(decodeProtectedHeader(token), { alg: "none", typ: "JWT" });
  t.match(decodeJwt(token), { sub: "user_1", tenant_id: "t9", exp: Number });
});
