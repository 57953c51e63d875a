import fc from "fast-check";
import t from "tap";
import { ValidationError } from "../../src/errors.js";
import {
  formatRoom,
  isRoomName,
  MAX_ID_LENGTH,
  parseRoom,
  roomProblems,
  type Room,
} from "../../src/rooms.js";
import { anyString, SEED, validRoom } from "./arbitraries.js";

function reasonsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError && err.code === "ERR_INVALID_ROOM") return err.reasons;
    throw err;
  }
  throw new Error("expected a ValidationError");
}

t.test("parses the three public room names", async (t) => {
  const cases: [string, Room][] = [
    ["workbook:acme:wb_1", { kind: "workbook", tenantId: "acme", workbookId: "wb_1" }],
    ["job:job_xyz789", { kind: "job", jobId: "job_xyz789" }],
    ["notifications:user_42", { kind: "notifications", userId: "user_42" }],
    // The tenant ends at the first ":" after "workbook:"; the workbook id keeps the rest.
    ["workbook:t1:a:b", { kind: "workbook", tenantId: "t1", workbookId: "a:b" }],
    ["workbook:t1::", { kind: "workbook", tenantId: "t1", workbookId: ":" }],
    ["job:a:b", { kind: "job", jobId: "a:b" }],
    ["job:job:", { kind: "job", jobId: "job:" }],
    ["notifications:x:y", { kind: "notifications", userId: "x:y" }],
    // Characters that are special elsewhere are plain id characters here.
    ["job:a.b*c>d e", { kind: "job", jobId: "a.b*c>d e" }],
    ["workbook:ténant 😀:wb.*>", { kind: "workbook", tenantId: "ténant 😀", workbookId: "wb.*>" }],
    ["notifications:~7E", { kind: "notifications", userId: "~7E" }],
    ["job:" + "x".repeat(MAX_ID_LENGTH), { kind: "job", jobId: "x".repeat(MAX_ID_LENGTH) }],
  ];
  for (const [name, room] of cases) {
    t.same(parseRoom(name), room, name);
    t.equal(formatRoom(room), name, `format ${name}`);
    t.ok(isRoomName(name), `isRoomName ${name}`);
  }
});

t.test("rejects bad names with a reason naming the problem", async (t) => {
  const cases: [string, RegExp][] = [
    ["", /must start with "workbook:", "job:" or "notifications:"/],
    ["room:x", /must start with/],
    ["Job:x", /must start with/],
    [" job:x", /must start with/],
    ["job", /must start with/],
    ["jobs:x", /must start with/],
    ["notification:u1", /must start with/],
    ["job:", /room job_id must not be empty/],
    ["notifications:", /room user_id must not be empty/],
    ["workbook:", /must have the form "workbook:\{tenant_id\}:\{workbook_id\}"/],
    ["workbook:acme", /must have the form/],
    ["workbook::wb", /room tenant_id must not be empty/],
    ["workbook:acme:", /room workbook_id must not be empty/],
    ["job:a\u0000b", /room job_id must not contain control characters/],
    ["job:a\nb", /room job_id must not contain control characters/],
    ["job:\u007f", /control characters/],
    ["job:\u0085", /control characters/],
    ["notifications:u\t1", /room user_id must not contain control characters/],
    ["workbook:ac\u0001me:wb", /room tenant_id must not contain control characters/],
    [
      "job:" + "x".repeat(MAX_ID_LENGTH + 1),
      /room job_id must be at most 128 characters \(got 129\)/,
    ],
    ["workbook:acme:" + "x".repeat(1000), /room workbook_id must be at most 128/],
    ["workbook:" + "x".repeat(200) + ":wb", /room tenant_id must be at most 128/],
  ];
  for (const [name, reason] of cases) {
    const reasons = reasonsOf(() => parseRoom(name));
    t.match(reasons.join("\n"), reason, JSON.stringify(name.slice(0, 40)));
    t.notOk(isRoomName(name), `isRoomName ${JSON.stringify(name.slice(0, 40))}`);
  }
  // Both ids of a workbook room are reported at once.
  t.equal(reasonsOf(() => parseRoom("workbook::")).length, 2);
});

t.test("rejects non-strings without throwing anything else", async (t) => {
  for (const value of [undefined, null, 42, {}, ["job:x"], Symbol("job:x")]) {
    t.same(
      reasonsOf(() => parseRoom(value as string)),
      ["room must be a string"],
    );
    t.notOk(isRoomName(value));
  }
});

t.test("formatRoom rejects rooms it could not parse back", async (t) => {
  const bad: [unknown, RegExp][] = [
    [{ kind: "workbook", tenantId: "a:b", workbookId: "wb" }, /must not contain ":"/],
    [{ kind: "workbook", tenantId: "", workbookId: "wb" }, /tenantId must not be empty/],
    [{ kind: "workbook", tenantId: "t" }, /workbookId must be a string/],
    [{ kind: "job", jobId: "x".repeat(129) }, /jobId must be at most 128/],
    [{ kind: "notifications", userId: "u\r" }, /userId must not contain control/],
    [{ kind: "team", id: "x" }, /kind must be/],
    [null, /room must be an object/],
    // An inherited kind is not the room's own.
    [Object.create({ kind: "job", jobId: "j" }), /kind must be/],
  ];
  for (const [room, reason] of bad) {
    t.match(reasonsOf(() => formatRoom(room as Room)).join("\n"), reason);
    t.not(roomProblems(room).length, 0);
  }
});

t.test("property: formatRoom and parseRoom are inverses", async (t) => {
  const runs = 5000;
  fc.assert(
    fc.property(validRoom, (room) => {
      const name = formatRoom(room);
      return isRoomName(name) && JSON.stringify(parseRoom(name)) === JSON.stringify(room);
    }),
    { numRuns: runs, seed: SEED },
  );
  t.pass(`${runs} rooms round-trip`);
});

t.test(
  "property: any string either parses and round-trips or fails with ValidationError",
  async (t) => {
    const runs = 10000;
    const prefixed = fc.oneof(
      anyString,
      fc
        .tuple(fc.constantFrom("workbook:", "job:", "notifications:"), anyString)
        .map(([p, s]) => p + s),
      fc.tuple(anyString, anyString).map(([a, b]) => `workbook:${a}:${b}`),
    );
    let valid = 0;
    fc.assert(
      fc.property(prefixed, (name) => {
        let room: Room;
        try {
          room = parseRoom(name);
        } catch (err) {
          return err instanceof ValidationError && !isRoomName(name) && err.reasons.length > 0;
        }
        valid++;
        return isRoomName(name) && formatRoom(room) === name;
      }),
      { numRuns: runs, seed: SEED },
    );
    t.ok(valid > runs / 10, `a good share parsed (${valid})`);
  },
);
