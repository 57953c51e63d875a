import fc from "fast-check";
import t from "tap";
import { DecodeError, ValidationError } from "../../src/errors.js";
import type { Room } from "../../src/rooms.js";
import {
  escapeToken,
  parseSubject,
  subjectFor,
  subjectWildcard,
  unescapeToken,
} from "../../src/tenancy.js";
import { anyString, hasControl, SEED, TRICKY, tenantRoom } from "./arbitraries.js";

// What NATS accepts in a subject we publish to: non-empty "."-separated tokens,
// no wildcards, no whitespace; ours are narrower still.
const OUR_SUBJECT = /^[A-Za-z0-9_~-]+(?:\.[A-Za-z0-9_~-]+)+$/;

function isValidNatsSubject(subject: string): boolean {
  if (!OUR_SUBJECT.test(subject)) return false;
  return subject
    .split(".")
    .every((tok) => tok.length > 0 && tok !== "*" && tok !== ">" && !/[\s*>]/.test(tok));
}

function key(pair: { tenantId: string; room: Room }): string {
  // JSON.stringify escapes lone surrogates, so distinct strings give distinct keys.
  return JSON.stringify([pair.tenantId, pair.room]);
}

t.test("escapeToken golden values", async (t) => {
  const cases: [string, string][] = [
    ["abc_XYZ-09", "abc_XYZ-09"],
    ["", "~"],
    ["~", "~7E"],
    ["a.b", "a~2Eb"],
    ["*", "~2A"],
    [">", "~3E"],
    [":", "~3A"],
    [" ", "~20"],
    ["é", "~C3~A9"],
    ["€", "~E2~82~AC"],
    ["😀", "~F0~9F~98~80"],
    ["\ud800", "~ED~A0~80"],
    ["\udfff", "~ED~BF~BF"],
    ["\ufffd", "~EF~BF~BD"],
    ["\ud83d\ude00", "~F0~9F~98~80"],
    ["\ude00\ud83d", "~ED~B8~80~ED~A0~BD"],
    ["~7E", "~7E7E"],
  ];
  for (const [id, token] of cases) {
    t.equal(escapeToken(id), token, JSON.stringify(id));
    t.equal(unescapeToken(token), id, `unescape ${token}`);
  }
});

t.test("unescapeToken accepts only canonical tokens", async (t) => {
  const bad = [
    "",
    "~7e", // lowercase hex
    "~41", // an escaped safe character
    "~C0~80", // overlong NUL
    "~E0~80~AE", // overlong "."
    "~ED~A0~BD~ED~B8~80", // a surrogate pair written as two 3-byte sequences
    "~F4~90~80~80", // past U+10FFFF
    "~F8~80~80~80",
    "~C3", // truncated
    "~C3A9",
    "~80", // lone continuation byte
    "~C3~C3",
    "a.b",
    "a b",
    "a*",
    ">",
    "~G0",
    "~~",
    "~7",
    "é",
  ];
  for (const token of bad) {
    t.throws(() => unescapeToken(token), DecodeError, JSON.stringify(token));
  }
  t.throws(() => unescapeToken(undefined as unknown as string), DecodeError);
});

t.test("property: escapeToken gives safe tokens that unescape to the input", async (t) => {
  const runs = 10000;
  fc.assert(
    fc.property(anyString, (id) => {
      const token = escapeToken(id);
      return /^[A-Za-z0-9_~-]+$/.test(token) && unescapeToken(token) === id;
    }),
    { numRuns: runs, seed: SEED },
  );
  t.pass(`${runs} ids`);
});

t.test(
  "property: unescapeToken on random tokens returns a preimage or throws DecodeError",
  async (t) => {
    const runs = 10000;
    const tokenish = fc.string({
      unit: fc.constantFrom(..."~~~0123456789ABCDEFaf_-.Gz"),
      maxLength: 24,
    });
    let decoded = 0;
    fc.assert(
      fc.property(tokenish, (token) => {
        let id: string;
        try {
          id = unescapeToken(token);
        } catch (err) {
          return err instanceof DecodeError && err.code === "ERR_INVALID_TOKEN_ESCAPE";
        }
        decoded++;
        return escapeToken(id) === token;
      }),
      { numRuns: runs, seed: SEED },
    );
    t.ok(decoded > 0, `some random tokens were valid (${decoded})`);
  },
);

t.test("property: subjects are valid, invertible and never collide", async (t) => {
  const runs = 10000;
  const seen = new Map<string, string>();
  fc.assert(
    fc.property(tenantRoom, (pair) => {
      const subject = subjectFor(pair.tenantId, pair.room);
      const k = key(pair);
      const prior = seen.get(subject);
      if (prior !== undefined && prior !== k) return false;
      seen.set(subject, k);
      const back = parseSubject(subject);
      return (
        isValidNatsSubject(subject) &&
        subject.startsWith("rt.") &&
        subject.split(".").length === 4 &&
        back !== null &&
        key(back) === k
      );
    }),
    { numRuns: runs, seed: SEED },
  );
  t.ok(seen.size > runs / 2, `${seen.size} distinct pairs, no two on one subject`);
});

t.test("property: two different pairs never share a subject", async (t) => {
  const runs = 10000;
  fc.assert(
    fc.property(tenantRoom, tenantRoom, (a, b) => {
      return (
        (subjectFor(a.tenantId, a.room) === subjectFor(b.tenantId, b.room)) === (key(a) === key(b))
      );
    }),
    { numRuns: runs, seed: SEED },
  );
  t.pass(`${runs} pairs of pairs`);
});

t.test("exhaustive: tricky ids in every position give distinct subjects", async (t) => {
  const ids = new Set([
    ...TRICKY.filter((c) => !hasControl(c)),
    "a.b",
    "a~2Eb",
    "a~2eb",
    "a:b",
    "a b",
    "a*b",
    "a>b",
    "a.*",
    "job",
    "user",
    "workbook",
    "rt",
    "\ud83d\ude00",
    "\ud83d",
    "\ude00",
    "\ude00\ud83d",
    "~ED~A0~BD",
  ]);
  const seen = new Map<string, string>();
  let count = 0;
  for (const tenantId of ids) {
    for (const id of ids) {
      const pairs: { tenantId: string; room: Room }[] = [
        { tenantId, room: { kind: "job", jobId: id } },
        { tenantId, room: { kind: "notifications", userId: id } },
      ];
      if (!tenantId.includes(":")) {
        pairs.push({ tenantId, room: { kind: "workbook", tenantId, workbookId: id } });
      }
      for (const pair of pairs) {
        const subject = subjectFor(pair.tenantId, pair.room);
        const k = key(pair);
        const prior = seen.get(subject);
        if (prior !== undefined && prior !== k) t.fail(`${subject} is both ${prior} and ${k}`);
        seen.set(subject, k);
        if (!isValidNatsSubject(subject)) t.fail(`invalid subject ${subject}`);
        if (
          key(parseSubject(subject) ?? { tenantId: "", room: { kind: "job", jobId: "" } }) !== k
        ) {
          t.fail(`parseSubject does not invert ${subject}`);
        }
        count++;
      }
    }
  }
  t.equal(seen.size, count, `${count} pairs, ${seen.size} subjects`);
});

t.test("subjectFor golden values and tenant scoping", async (t) => {
  t.equal(
    subjectFor("acme", { kind: "workbook", tenantId: "acme", workbookId: "wb_1" }),
    "rt.acme.workbook.wb_1",
  );
  t.equal(subjectFor("acme", { kind: "job", jobId: "j.1" }), "rt.acme.job.j~2E1");
  t.equal(subjectFor("acme", { kind: "notifications", userId: "u*" }), "rt.acme.user.u~2A");
  t.equal(subjectFor("a.b", { kind: "job", jobId: ">" }), "rt.a~2Eb.job.~3E");
  t.equal(subjectFor("acme", { kind: "job", jobId: "j1" }, "prod.rt"), "prod.rt.acme.job.j1");
  // The same public job room of two tenants is two subjects.
  t.not(
    subjectFor("tenant_a", { kind: "job", jobId: "xyz" }),
    subjectFor("tenant_b", { kind: "job", jobId: "xyz" }),
  );
  t.equal(subjectWildcard(), "rt.>");
  t.equal(subjectWildcard("prod.rt"), "prod.rt.>");
});

t.test("subjectFor refuses what would break tenancy or syntax", async (t) => {
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      return err instanceof ValidationError ? err.code : `not a ValidationError: ${String(err)}`;
    }
    return "did not throw";
  };
  const wb = { kind: "workbook", tenantId: "acme", workbookId: "wb" } as const;
  t.equal(
    code(() => subjectFor("other", wb)),
    "ERR_INVALID_TENANT",
    "workbook of another tenant",
  );
  t.equal(
    code(() => subjectFor("", { kind: "job", jobId: "j" })),
    "ERR_INVALID_TENANT",
  );
  t.equal(
    code(() => subjectFor("a\nb", { kind: "job", jobId: "j" })),
    "ERR_INVALID_TENANT",
  );
  t.equal(
    code(() => subjectFor("x".repeat(129), { kind: "job", jobId: "j" })),
    "ERR_INVALID_TENANT",
  );
  t.equal(
    code(() => subjectFor("acme", { kind: "job", jobId: "" })),
    "ERR_INVALID_ROOM",
  );
  t.equal(
    code(() => subjectFor("a:b", { kind: "workbook", tenantId: "a:b", workbookId: "w" })),
    "ERR_INVALID_ROOM",
  );
  t.equal(
    code(() => subjectFor("acme", { kind: "team" } as unknown as Room)),
    "ERR_INVALID_ROOM",
  );
  for (const prefix of ["", "rt.", ".rt", "r*", "r>", "a..b", "r t", "rt.>"]) {
    t.equal(
      code(() => subjectFor("acme", { kind: "job", jobId: "j" }, prefix)),
      "ERR_INVALID_SUBJECT_PREFIX",
      `prefix ${JSON.stringify(prefix)}`,
    );
    t.equal(
      code(() => subjectWildcard(prefix)),
      "ERR_INVALID_SUBJECT_PREFIX",
    );
  }
});

t.test("parseSubject returns null for subjects that are not ours", async (t) => {
  const notOurs = [
    "",
    "rt",
    "rt.",
    "rt.>",
    "rtx.acme.job.j1",
    "xx.acme.job.j1",
    "rt.acme.job",
    "rt.acme.job.j1.extra",
    "rt.acme.team.x",
    "rt.acme.JOB.x",
    "rt..job.x",
    "rt.acme.job.",
    "rt.acme.job.~41", // non-canonical escape
    "rt.acme.job.~", // empty id
    "rt.~.job.j1", // empty tenant
    "rt.acme.job.~00", // control character in the id
    "rt.a~3Ab.workbook.w", // a workbook tenant with ":"
    "rt.acme.job.*",
    "rt.acme.job.a b",
  ];
  for (const subject of notOurs) t.equal(parseSubject(subject), null, JSON.stringify(subject));
  t.equal(parseSubject("prod.rt.acme.job.j1"), null, "other prefix");
  t.same(parseSubject("prod.rt.acme.job.j1", "prod.rt"), {
    tenantId: "acme",
    room: { kind: "job", jobId: "j1" },
  });
  t.equal(parseSubject("rt.acme.job.j1", "bad prefix"), null);
  t.equal(parseSubject(42 as unknown as string), null);
});

t.test("property: parseSubject never throws", async (t) => {
  const runs = 5000;
  const subjectish = fc.oneof(
    anyString,
    fc
      .array(fc.string({ unit: fc.constantFrom(..."~~0123ABCDEF.ab*> "), maxLength: 8 }), {
        maxLength: 5,
      })
      .map((tokens) => ["rt", ...tokens].join(".")),
  );
  fc.assert(
    fc.property(subjectish, (subject) => {
      const parsed = parseSubject(subject);
      return parsed === null || subjectFor(parsed.tenantId, parsed.room) === subject;
    }),
    { numRuns: runs, seed: SEED },
  );
  t.pass(`${runs} subjects`);
});
