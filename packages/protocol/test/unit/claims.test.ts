import fc from "fast-check";
import t from "tap";
import {
  authorizeRoom,
  hasScope,
  parseClaims,
  PUBLISH_SCOPE,
  type Claims,
} from "../../src/claims.js";
import { CloseCode, closeReason, isCloseCode } from "../../src/close-codes.js";
import { ValidationError } from "../../src/errors.js";
import { parseRoom } from "../../src/rooms.js";
import { SEED } from "./arbitraries.js";

function claimsReasons(payload: unknown): readonly string[] {
  try {
    parseClaims(payload);
  } catch (err) {
    if (err instanceof ValidationError && err.code === "ERR_INVALID_CLAIMS") return err.reasons;
    throw err;
  }
  return [];
}

const alice: Claims = { sub: "alice", tenant_id: "tenant_a", exp: 2_000_000_000 };

t.test("parseClaims accepts valid claims and keeps other claims", async (t) => {
  const payload = {
    sub: "alice",
    tenant_id: "tenant_a",
    exp: 2_000_000_000,
    iat: 1_700_000_000,
    nbf: 1_700_000_000,
    iss: "calcbridge",
    aud: ["rt", "api"],
    scope: "rt:publish read",
    role: "admin",
  };
  const claims = parseClaims(payload);
  t.same(claims, payload);
  t.not(claims, payload, "a copy");
  t.same(parseClaims({ sub: "u", tenant_id: "t", exp: 0, aud: "rt" }).aud, "rt");
});

t.test("parseClaims does not let __proto__ set a prototype", async (t) => {
  const payload: unknown = JSON.parse(
    '{"sub":"u","tenant_id":"t","exp":1,"__proto__":{"tenant_id":"other","admin":true}}',
  );
  const claims = parseClaims(payload);
  t.equal(Object.getPrototypeOf(claims), Object.prototype);
  t.equal(claims.tenant_id, "t");
  t.equal((claims as { admin?: unknown }).admin, undefined);
  t.ok(Object.hasOwn(claims, "__proto__"));
  // Inherited claims are not claims.
  t.ok(claimsReasons(Object.create({ sub: "u", tenant_id: "t", exp: 1 })).length > 0);
});

t.test("parseClaims rejects bad shapes with one reason per claim", async (t) => {
  const cases: [unknown, RegExp[]][] = [
    [null, [/claims must be an object \(got null\)/]],
    [[], [/claims must be an object \(got an array\)/]],
    ["token", [/claims must be an object \(got a string\)/]],
    [{}, [/^sub must be a string$/, /^tenant_id must be a string$/, /^exp must be a number$/]],
    [{ sub: "", tenant_id: "t", exp: 1 }, [/sub must not be empty/]],
    [{ sub: "u", tenant_id: "", exp: 1 }, [/tenant_id must not be empty/]],
    [{ sub: "u".repeat(129), tenant_id: "t", exp: 1 }, [/sub must be at most 128 characters/]],
    [{ sub: "u", tenant_id: "t\u0000", exp: 1 }, [/tenant_id must not contain control/]],
    [{ sub: 7, tenant_id: "t", exp: 1 }, [/sub must be a string/]],
    [{ sub: "u", tenant_id: "t", exp: "1" }, [/exp must be a number/]],
    [{ sub: "u", tenant_id: "t", exp: Number.NaN }, [/exp must be a number/]],
    [{ sub: "u", tenant_id: "t", exp: 1, iat: "x" }, [/iat must be a number/]],
    [{ sub: "u", tenant_id: "t", exp: 1, nbf: null }, [/nbf must be a number/]],
    [{ sub: "u", tenant_id: "t", exp: 1, scope: ["rt:publish"] }, [/scope must be a string/]],
    [{ sub: "u", tenant_id: "t", exp: 1, iss: 1 }, [/iss must be a string/]],
    [{ sub: "u", tenant_id: "t", exp: 1, aud: [1] }, [/aud must be a string or an array/]],
  ];
  for (const [payload, expected] of cases) {
    const reasons = claimsReasons(payload);
    t.equal(reasons.length, expected.length, JSON.stringify(payload));
    expected.forEach((re, i) => t.match(reasons[i], re));
  }
});

t.test("property: parseClaims throws only ValidationError", async (t) => {
  const runs = 5000;
  const claimish = fc.oneof(
    fc.anything(),
    fc.record(
      {
        sub: fc.oneof(fc.string(), fc.anything()),
        tenant_id: fc.oneof(fc.string(), fc.anything()),
        exp: fc.oneof(fc.double(), fc.anything()),
        aud: fc.anything(),
      },
      { requiredKeys: [] },
    ),
  );
  fc.assert(
    fc.property(claimish, (payload) => {
      try {
        parseClaims(payload);
        return true;
      } catch (err) {
        return err instanceof ValidationError && err.reasons.length > 0;
      }
    }),
    { numRuns: runs, seed: SEED },
  );
  t.pass(`${runs} payloads`);
});

t.test("hasScope matches whole space-separated entries", async (t) => {
  const cases: [string | undefined, string, boolean][] = [
    ["rt:publish", PUBLISH_SCOPE, true],
    ["read rt:publish write", PUBLISH_SCOPE, true],
    ["read  rt:publish", PUBLISH_SCOPE, true],
    ["rt:publisher", PUBLISH_SCOPE, false],
    ["rt:publish:all", PUBLISH_SCOPE, false],
    ["xrt:publish", PUBLISH_SCOPE, false],
    ["RT:PUBLISH", PUBLISH_SCOPE, false],
    ["", PUBLISH_SCOPE, false],
    [undefined, PUBLISH_SCOPE, false],
    ["read  write", "", false],
  ];
  for (const [scope, wanted, expected] of cases) {
    const claims: Claims = scope === undefined ? { ...alice } : { ...alice, scope };
    t.equal(hasScope(claims, wanted), expected, `${JSON.stringify(scope)} has ${wanted}`);
  }
  t.equal(hasScope({ ...alice, scope: 5 as unknown as string }, PUBLISH_SCOPE), false);
});

t.test("authorizeRoom: the one rule", async (t) => {
  const bob: Claims = { sub: "bob", tenant_id: "tenant_b", exp: 2_000_000_000 };
  const rows: [string, Claims, string, false | string][] = [
    ["own tenant's workbook", alice, "workbook:tenant_a:wb1", "tenant_a"],
    ["another tenant's workbook", alice, "workbook:tenant_b:wb1", false],
    ["tenant B's workbook from B", bob, "workbook:tenant_b:wb1", "tenant_b"],
    ["a workbook of a tenant prefix", alice, "workbook:tenant:a:wb1", false],
    ["a workbook of a tenant with a different case", alice, "workbook:TENANT_A:wb1", false],
    ["a job room of A", alice, "job:xyz", "tenant_a"],
    ["the same job name from B is B's", bob, "job:xyz", "tenant_b"],
    ["own notifications", alice, "notifications:alice", "tenant_a"],
    ["another user's notifications", alice, "notifications:bob", false],
    ["a user-id prefix", alice, "notifications:alic", false],
    ["bob's notifications by bob", bob, "notifications:bob", "tenant_b"],
  ];
  for (const [name, claims, roomName, tenant] of rows) {
    const room = parseRoom(roomName);
    const result = authorizeRoom(claims, room);
    if (tenant === false) {
      t.same(result, { ok: false, code: 4003, reason: result.ok ? "" : result.reason }, name);
      t.equal(result.ok ? 0 : result.code, CloseCode.FORBIDDEN, name);
      t.match(result.ok ? "" : result.reason, /another (tenant|user)/, name);
    } else {
      t.same(result, { ok: true, tenantId: tenant, room }, name);
    }
  }
});

t.test("close codes", async (t) => {
  t.same(CloseCode, {
    NORMAL: 1000,
    GOING_AWAY: 1001,
    POLICY: 1008,
    TOO_BIG: 1009,
    INVALID_TOKEN: 4001,
    FORBIDDEN: 4003,
    HEARTBEAT_TIMEOUT: 4008,
  });
  t.equal(closeReason(4001), "invalid or expired token");
  t.equal(closeReason(4003), "insufficient permissions for the requested room");
  t.equal(closeReason(4008), "no heartbeat within the timeout");
  t.equal(closeReason(1001), "server going away");
  t.equal(closeReason(4999), "closed");
  for (const code of Object.values(CloseCode)) {
    t.ok(isCloseCode(code));
    t.ok(new TextEncoder().encode(closeReason(code)).length <= 123, `reason of ${code} fits`);
  }
  t.notOk(isCloseCode(4002));
  t.notOk(isCloseCode("4001"));
});
