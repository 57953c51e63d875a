import fc from "fast-check";
import t from "tap";
import {
  ALERT_PRIORITIES,
  EVENT_TYPES,
  isEventType,
  isIsoUtcTimestamp,
  validatePayload,
  type EventType,
} from "../../src/events.js";
import { SEED } from "./arbitraries.js";

const err = { code: "FORMULA_ERROR", message: "Circular reference in Sheet1!B2" };

// Per type: valid payloads, then invalid ones with the reason they must give.
const TABLE: Record<EventType, { valid: object[]; invalid: [unknown, RegExp][] }> = {
  "workbook.status_changed": {
    valid: [
      { workbook_id: "wb_1", status: "ready" },
      { workbook_id: "wb_1", status: "ready", previous_status: "processing", extra: { a: 1 } },
    ],
    invalid: [
      [{ status: "ready" }, /^payload\.workbook_id is required$/],
      [{ workbook_id: "wb_1" }, /^payload\.status is required$/],
      [{ workbook_id: "wb_1", status: "" }, /payload\.status must be a non-empty string/],
      [
        { workbook_id: "wb_1", status: "x", previous_status: 1 },
        /payload\.previous_status must be a string/,
      ],
    ],
  },
  "workbook.processing_started": {
    valid: [{ workbook_id: "wb_1" }, { workbook_id: "wb_1", job_id: "job_1" }],
    invalid: [
      [{ workbook_id: "" }, /payload\.workbook_id must not be empty/],
      [{ workbook_id: "wb_1", job_id: 3 }, /payload\.job_id must be a string/],
    ],
  },
  "workbook.processing_progress": {
    valid: [
      { workbook_id: "wb_1", progress: 0 },
      { workbook_id: "wb_1", progress: 100, stage: "calculating", message: "almost" },
      { workbook_id: "wb_1", progress: 42.5 },
    ],
    invalid: [
      [{ workbook_id: "wb_1" }, /^payload\.progress must be a number from 0 to 100$/],
      [{ workbook_id: "wb_1", progress: 101 }, /payload\.progress must be a number from 0 to 100/],
      [{ workbook_id: "wb_1", progress: -0.1 }, /payload\.progress/],
      [{ workbook_id: "wb_1", progress: "50" }, /payload\.progress/],
      [{ workbook_id: "wb_1", progress: Number.NaN }, /payload\.progress/],
      [{ workbook_id: "wb_1", progress: 5, stage: 2 }, /payload\.stage must be a string/],
    ],
  },
  "workbook.processing_completed": {
    valid: [
      { workbook_id: "wb_1" },
      { workbook_id: "wb_1", sheets: ["Sheet1", "Data"], duration_ms: 3200 },
      { workbook_id: "wb_1", sheets: [], duration_ms: 0 },
    ],
    invalid: [
      [{ workbook_id: "wb_1", sheets: 3 }, /payload\.sheets must be an array of sheet names/],
      [{ workbook_id: "wb_1", sheets: ["a", 1] }, /payload\.sheets/],
      [{ workbook_id: "wb_1", duration_ms: -1 }, /payload\.duration_ms must be a number >= 0/],
      [{ workbook_id: "wb_1", duration_ms: "3s" }, /payload\.duration_ms/],
    ],
  },
  "workbook.processing_failed": {
    valid: [
      { workbook_id: "wb_1", error: err },
      { workbook_id: "wb_1", error: { message: "boom", details: [1] } },
    ],
    invalid: [
      [{ workbook_id: "wb_1" }, /payload\.error must be an object with a "message"/],
      [{ workbook_id: "wb_1", error: "boom" }, /payload\.error must be an object/],
      [{ workbook_id: "wb_1", error: {} }, /payload\.error\.message must be a non-empty string/],
      [
        { workbook_id: "wb_1", error: { message: "x", code: 500 } },
        /payload\.error\.code must be a string/,
      ],
    ],
  },
  "sheet.data_updated": {
    valid: [
      { workbook_id: "wb_1", sheet: "Sheet1" },
      {
        workbook_id: "wb_1",
        sheet: "Sheet1",
        range: "A1:C10",
        changes: [{ cell: "B2", value: 42 }],
      },
    ],
    invalid: [
      [{ workbook_id: "wb_1" }, /^payload\.sheet is required$/],
      [{ workbook_id: "wb_1", sheet: "S", range: ["A1"] }, /payload\.range must be a string/],
      [
        { workbook_id: "wb_1", sheet: "S", changes: {} },
        /payload\.changes must be an array of objects/,
      ],
      [{ workbook_id: "wb_1", sheet: "S", changes: [1] }, /payload\.changes/],
    ],
  },
  "job.started": {
    valid: [{ job_id: "job_1" }, { job_id: "job_1", workbook_id: "wb_1", kind: "import" }],
    invalid: [
      [{}, /^payload\.job_id is required$/],
      [{ job_id: "j".repeat(129) }, /payload\.job_id must be at most 128 characters/],
      [{ job_id: "j\n1" }, /payload\.job_id must not contain control characters/],
    ],
  },
  "job.progress": {
    valid: [{ job_id: "job_1", progress: 50, message: "half" }],
    invalid: [
      [{ job_id: "job_1", progress: Infinity }, /payload\.progress must be a number from 0 to 100/],
      [{ job_id: "job_1", progress: null }, /payload\.progress/],
      [{ progress: 50 }, /payload\.job_id is required/],
    ],
  },
  "job.completed": {
    valid: [
      { job_id: "job_xyz789", result: { rows_processed: 150, duration_ms: 3200 } },
      { job_id: "job_xyz789" },
    ],
    invalid: [
      [{ job_id: "job_1", result: [1] }, /payload\.result must be an object/],
      [{ job_id: "job_1", result: "done" }, /payload\.result must be an object/],
    ],
  },
  "job.failed": {
    valid: [{ job_id: "job_1", error: err }],
    invalid: [[{ job_id: "job_1", error: { code: "X" } }, /payload\.error\.message/]],
  },
  "job.cancelled": {
    valid: [{ job_id: "job_1" }, { job_id: "job_1", reason: "user request" }],
    invalid: [[{ job_id: "job_1", reason: false }, /payload\.reason must be a string/]],
  },
  "job.retrying": {
    valid: [
      { job_id: "job_1", attempt: 2 },
      { job_id: "job_1", attempt: 3, next_retry_at: "2026-01-25T10:31:00Z", error: err },
    ],
    invalid: [
      [{ job_id: "job_1" }, /payload\.attempt must be an integer >= 1/],
      [{ job_id: "job_1", attempt: 0 }, /payload\.attempt/],
      [{ job_id: "job_1", attempt: 1.5 }, /payload\.attempt/],
      [
        { job_id: "job_1", attempt: 2, next_retry_at: "tomorrow" },
        /payload\.next_retry_at must be an ISO 8601 UTC date-time/,
      ],
      [{ job_id: "job_1", attempt: 2, error: "x" }, /payload\.error must be an object/],
    ],
  },
  notification: {
    valid: [
      { title: "Export ready" },
      { id: "n_1", title: "Export ready", body: "Your export is ready.", message: "ready" },
    ],
    invalid: [
      [{ body: "no title" }, /^payload\.title is required$/],
      [{ title: "" }, /payload\.title must be a non-empty string/],
      [{ title: "T", body: 1 }, /payload\.body must be a string/],
      [{ title: "T", id: "" }, /payload\.id must not be empty/],
    ],
  },
  alert: {
    valid: [
      { priority: "critical", message: "Disk almost full" },
      { priority: "low", message: "m", title: "t", id: "a1" },
    ],
    invalid: [
      [{ message: "m" }, /payload\.priority must be one of "low", "normal", "high", "critical"/],
      [{ priority: "urgent", message: "m" }, /payload\.priority must be one of/],
      [{ priority: "HIGH", message: "m" }, /payload\.priority/],
      [{ priority: "high" }, /^payload\.message is required$/],
    ],
  },
};

t.test("EVENT_TYPES lists the public API's event types", async (t) => {
  t.same([...EVENT_TYPES].sort(), [
    "alert",
    "job.cancelled",
    "job.completed",
    "job.failed",
    "job.progress",
    "job.retrying",
    "job.started",
    "notification",
    "sheet.data_updated",
    "workbook.processing_completed",
    "workbook.processing_failed",
    "workbook.processing_progress",
    "workbook.processing_started",
    "workbook.status_changed",
  ]);
  t.same(Object.keys(TABLE).sort(), [...EVENT_TYPES].sort(), "the table covers every type");
  t.ok(Object.isFrozen(EVENT_TYPES));
  t.same(ALERT_PRIORITIES, ["low", "normal", "high", "critical"]);
  for (const type of EVENT_TYPES) t.ok(isEventType(type), type);
  for (const x of [
    "",
    "job",
    "job.*",
    "Job.started",
    "__proto__",
    "toString",
    "constructor",
    1,
    null,
  ]) {
    t.notOk(isEventType(x), String(x));
  }
});

t.test("every event type: valid and invalid payloads", async (t) => {
  for (const type of EVENT_TYPES) {
    const { valid, invalid } = TABLE[type];
    for (const payload of valid)
      t.same(validatePayload(type, payload), [], `${type} ${JSON.stringify(payload)}`);
    for (const [payload, reason] of invalid) {
      const reasons = validatePayload(type, payload);
      t.equal(reasons.length, 1, `${type} ${JSON.stringify(payload)}: ${reasons.join("; ")}`);
      t.match(reasons[0], reason);
    }
    t.same(validatePayload(type, null), ["payload must be an object (got null)"]);
    t.same(validatePayload(type, [valid[0]]), ["payload must be an object (got an array)"]);
    t.same(validatePayload(type, "x"), ["payload must be an object (got a string)"]);
  }
});

t.test("all problems are reported at once", async (t) => {
  t.same(validatePayload("job.retrying", { attempt: 0, next_retry_at: 5 }), [
    "payload.job_id is required",
    "payload.attempt must be an integer >= 1",
    "payload.next_retry_at must be an ISO 8601 UTC date-time",
  ]);
});

t.test("only own fields count: __proto__ and prototypes do not supply fields", async (t) => {
  const payload: unknown = JSON.parse('{"__proto__":{"job_id":"j1"}}');
  t.same(validatePayload("job.started", payload), ["payload.job_id is required"]);
  t.same(validatePayload("job.started", JSON.parse('{"job_id":"j1","__proto__":{"x":1}}')), []);
  t.same(validatePayload("job.started", Object.create({ job_id: "j1" })), [
    "payload must be an object (got an object)",
  ]);
  t.same(validatePayload("job.started", new Date()), ["payload must be an object (got an object)"]);
  t.same(validatePayload("bogus" as EventType, { job_id: "j1" }), [
    "type must be a known event type",
  ]);
});

t.test("ISO 8601 UTC timestamps", async (t) => {
  const good = [
    "2026-01-25T10:30:15Z",
    "2026-01-25T10:30:15.1Z",
    "2026-01-25T10:30:15.123Z",
    "2026-01-25T10:30:15.123456789Z",
    "2024-02-29T00:00:00Z",
    "2000-02-29T23:59:59Z",
    "0000-02-29T00:00:00Z",
    new Date(0).toISOString(),
  ];
  const bad = [
    "2026-01-25T10:30:15",
    "2026-01-25T10:30:15+00:00",
    "2026-01-25T10:30:15.Z",
    "2026-01-25 10:30:15Z",
    "2026-01-25t10:30:15z",
    "2026-1-25T10:30:15Z",
    "2026-13-01T00:00:00Z",
    "2026-00-01T00:00:00Z",
    "2026-02-29T00:00:00Z",
    "1900-02-29T00:00:00Z",
    "2026-04-31T00:00:00Z",
    "2026-01-00T00:00:00Z",
    "2026-01-25T24:00:00Z",
    "2026-01-25T10:60:00Z",
    "2026-01-25T10:30:60Z",
    "2026-01-25T10:30:15.1234567890Z",
    "+02026-01-25T10:30:15Z",
    "",
    1769337015000,
    null,
  ];
  for (const x of good) t.ok(isIsoUtcTimestamp(x), x);
  for (const x of bad) t.notOk(isIsoUtcTimestamp(x), String(x));
});

t.test("property: validatePayload is total", async (t) => {
  const runs = 5000;
  const keys = fc.constantFrom(
    "__proto__",
    "constructor",
    "job_id",
    "workbook_id",
    "progress",
    "error",
    "priority",
    "message",
    "title",
    "sheet",
    "changes",
    "result",
    "attempt",
    "next_retry_at",
  );
  const payload = fc.oneof(
    fc.anything(),
    fc.dictionary(keys, fc.anything({ withNullPrototype: true, withMap: true, withBigInt: true })),
  );
  fc.assert(
    fc.property(fc.constantFrom(...EVENT_TYPES), payload, (type, p) => {
      const reasons = validatePayload(type, p);
      return Array.isArray(reasons) && reasons.every((r) => typeof r === "string" && r.length > 0);
    }),
    { numRuns: runs, seed: SEED },
  );
  t.pass(`${runs} payloads`);
});
