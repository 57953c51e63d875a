/**
 * fast-check arbitraries shared by the rooms and tenancy tests: ids full of
 * the characters that could break a room name or a subject token.
 */
import fc from "fast-check";
import type { Room } from "../../src/rooms.js";

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Whether `s` has a control character (Unicode Cc), which ids may not contain. */
export function hasControl(s: string): boolean {
  return CONTROL.test(s);
}

/** Characters that matter: subject syntax, our separators, the escape char, whitespace, non-BMP, lone surrogates. */
export const TRICKY = [
  ".",
  "*",
  ">",
  ":",
  "~",
  " ",
  "\t",
  "\n",
  "\u0000",
  "\u0085",
  "\u00a0",
  "\u2028",
  "\ufeff",
  "\ufffd",
  "é",
  "😀",
  "\ud800",
  "\udbff",
  "\udc00",
  "\udfff",
  "%",
  "/",
  "\\",
  '"',
  "_",
  "-",
  "a",
  "Z",
  "0",
] as const;

/** One "character" (1 or 2 UTF-16 units) from anywhere, tricky ones often. */
export const anyChar: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...TRICKY), weight: 4 },
  { arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }), weight: 2 },
  { arbitrary: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), weight: 2 },
  { arbitrary: fc.constantFrom(..."abcxyzABC0129_-~"), weight: 2 },
);

/** Any string, including control characters and lone surrogates. */
export const anyString: fc.Arbitrary<string> = fc.string({ unit: anyChar, maxLength: 40 });

const idChar = anyChar.filter((c) => !CONTROL.test(c));

/** A valid id: non-empty, at most 128 UTF-16 units, no control characters. */
export const validId: fc.Arbitrary<string> = fc
  .oneof(
    { arbitrary: fc.string({ unit: idChar, minLength: 1, maxLength: 30 }), weight: 8 },
    // Near the length limit (each unit here is one UTF-16 code unit).
    {
      arbitrary: fc.string({ unit: "binary-ascii", minLength: 120, maxLength: 128 }),
      weight: 1,
    },
  )
  .filter((s) => s.length > 0 && s.length <= 128 && !CONTROL.test(s));

/** A valid tenant id of a workbook room (no ":"). */
export const workbookTenantId: fc.Arbitrary<string> = validId.filter((s) => !s.includes(":"));

/** Any valid room. */
export const validRoom: fc.Arbitrary<Room> = fc.oneof(
  fc.record({
    kind: fc.constant("workbook" as const),
    tenantId: workbookTenantId,
    workbookId: validId,
  }),
  fc.record({ kind: fc.constant("job" as const), jobId: validId }),
  fc.record({ kind: fc.constant("notifications" as const), userId: validId }),
);

/** A valid (tenant, room) pair: a workbook room's tenant is the pair's tenant. */
export const tenantRoom: fc.Arbitrary<{ tenantId: string; room: Room }> = fc.oneof(
  workbookTenantId.chain((tenantId) =>
    validId.map((workbookId) => ({
      tenantId,
      room: { kind: "workbook" as const, tenantId, workbookId },
    })),
  ),
  fc.record({
    tenantId: validId,
    room: fc.record({ kind: fc.constant("job" as const), jobId: validId }),
  }),
  fc.record({
    tenantId: validId,
    room: fc.record({ kind: fc.constant("notifications" as const), userId: validId }),
  }),
);

/** Deterministic seed for every property test. */
export const SEED = 20260125;
