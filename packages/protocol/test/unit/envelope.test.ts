import fc from "fast-check";
import { Decoder, PacketType, type Packet } from "socket.io-parser";
import t from "tap";
import {
  decodeClientMessage,
  encodeControl,
  encodeEnvelope,
  MAX_CLIENT_MESSAGE_BYTES,
  MAX_PAYLOAD_BYTES,
  socketIoEventFrame,
  validatePublish,
  type ClientMessage,
  type RoomEvent,
} from "../../src/envelope.js";
import { DecodeError, EncodeError } from "../../src/errors.js";
import { SEED } from "./arbitraries.js";

const NOW = new Date("2026-01-25T10:30:15.000Z");
const now = () => NOW;

const docEvent: RoomEvent = {
  tenantId: "t1",
  room: { kind: "job", jobId: "job_xyz789" },
  roomName: "job:job_xyz789",
  type: "job.completed",
  payload: { job_id: "job_xyz789", result: { rows_processed: 150, duration_ms: 3200 } },
  timestamp: "2026-01-25T10:30:15Z",
};

const DOC_JSON =
  '{"type":"job.completed","payload":{"job_id":"job_xyz789","result":{"rows_processed":150,"duration_ms":3200}},"timestamp":"2026-01-25T10:30:15Z","room":"job:job_xyz789"}';

/** Decodes one Socket.IO packet with the reference parser (after the Engine.IO "4" prefix). */
function decodeSocketIo(frame: string): Packet {
  if (!frame.startsWith("4")) throw new Error("not an Engine.IO message");
  const decoder = new Decoder();
  let packet: Packet | undefined;
  decoder.on("decoded", (p: Packet) => (packet = p));
  decoder.add(frame.slice(1));
  if (packet === undefined) throw new Error("no packet");
  return packet;
}

t.test("encodeEnvelope: exact bytes of the documented envelope", async (t) => {
  t.equal(encodeEnvelope(docEvent), DOC_JSON);
  t.equal(encodeEnvelope(docEvent, 42), DOC_JSON.slice(0, -1) + ',"offset":42}');
  t.equal(
    encodeEnvelope(docEvent, "1769337015-7"),
    DOC_JSON.slice(0, -1) + ',"offset":"1769337015-7"}',
  );
  t.same(Object.keys(JSON.parse(encodeEnvelope(docEvent, 1)) as object), [
    "type",
    "payload",
    "timestamp",
    "room",
    "offset",
  ]);
  // Key order does not depend on how the event object was built.
  const shuffled = {
    timestamp: docEvent.timestamp,
    payload: docEvent.payload,
    roomName: docEvent.roomName,
    room: docEvent.room,
    type: docEvent.type,
    tenantId: docEvent.tenantId,
  };
  t.equal(encodeEnvelope(shuffled), DOC_JSON);
  // Room names with quotes and unicode are JSON-escaped, not pasted.
  const odd = { ...docEvent, roomName: 'job:a"b\\c\u2028😀' };
  t.same((JSON.parse(encodeEnvelope(odd)) as { room: string }).room, 'job:a"b\\c\u2028😀');
});

t.test("encodeEnvelope refuses what JSON cannot carry", async (t) => {
  t.throws(() => encodeEnvelope({ ...docEvent, payload: { n: 1n } }), EncodeError);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  t.throws(() => encodeEnvelope({ ...docEvent, payload: cyclic }), EncodeError);
  t.throws(() => encodeEnvelope(docEvent, Number.NaN), { code: "ERR_INVALID_OFFSET" });
  t.throws(() => encodeEnvelope(docEvent, Infinity), { code: "ERR_INVALID_OFFSET" });
  t.throws(() => encodeEnvelope(docEvent, {} as unknown as string), { code: "ERR_INVALID_OFFSET" });
});

t.test("socketIoEventFrame wraps the envelope without parsing it", async (t) => {
  t.equal(socketIoEventFrame("job.completed", DOC_JSON), `42["job.completed",${DOC_JSON}]`);
  t.equal(
    socketIoEventFrame("job.completed", DOC_JSON, "/admin"),
    `42/admin,["job.completed",${DOC_JSON}]`,
  );
  t.equal(
    socketIoEventFrame("job.completed", DOC_JSON, "/", "0-12"),
    `42["job.completed",${DOC_JSON},"0-12"]`,
  );
  // The reference parser reads them as the events we mean.
  const main = decodeSocketIo(socketIoEventFrame("job.completed", DOC_JSON));
  t.equal(main.type, PacketType.EVENT);
  t.equal(main.nsp, "/");
  t.same(main.data, ["job.completed", JSON.parse(DOC_JSON)]);
  const admin = decodeSocketIo(socketIoEventFrame('we"ird', DOC_JSON, "/admin", "7"));
  t.equal(admin.nsp, "/admin");
  t.same(admin.data, ['we"ird', JSON.parse(DOC_JSON), "7"]);
  t.throws(() => socketIoEventFrame("x", "{}", "admin"), { code: "ERR_INVALID_NAMESPACE" });
  t.throws(() => socketIoEventFrame("x", "{}", "/a,b"), { code: "ERR_INVALID_NAMESPACE" });
});

t.test("encodeControl: type first, fields in order", async (t) => {
  t.equal(
    encodeControl({ type: "subscribed", room: "job:j1" }),
    '{"type":"subscribed","room":"job:j1"}',
  );
  t.equal(encodeControl({ type: "pong" }), '{"type":"pong"}');
  t.equal(
    encodeControl({
      code: 4003,
      type: "error",
      reason: "workbook belongs to another tenant",
      request: "subscribe",
    }),
    '{"type":"error","code":4003,"reason":"workbook belongs to another tenant","request":"subscribe"}',
  );
  t.equal(
    encodeControl({ type: "recovery_gap", room: "job:j1", since: "5", oldest: "9" }),
    '{"type":"recovery_gap","room":"job:j1","since":"5","oldest":"9"}',
  );
  const withProto = JSON.parse('{"type":"unsubscribed","__proto__":{"x":1}}') as {
    type: "unsubscribed";
  };
  t.equal(encodeControl(withProto), '{"type":"unsubscribed","__proto__":{"x":1}}');
  t.throws(() => encodeControl({ type: "error", n: 1n }), EncodeError);
});

t.test("validatePublish: valid events", async (t) => {
  const wb = validatePublish(
    {
      room: "workbook:t1:wb_1",
      type: "workbook.processing_progress",
      payload: { workbook_id: "wb_1", progress: 10 },
    },
    now,
  );
  t.same(wb, {
    ok: true,
    event: {
      tenantId: "t1",
      room: { kind: "workbook", tenantId: "t1", workbookId: "wb_1" },
      roomName: "workbook:t1:wb_1",
      type: "workbook.processing_progress",
      payload: { workbook_id: "wb_1", progress: 10 },
      timestamp: "2026-01-25T10:30:15.000Z",
    },
  });
  const job = validatePublish(
    {
      tenant_id: "t1",
      room: "job:j1",
      type: "job.progress",
      payload: { job_id: "j1", progress: 50 },
      timestamp: "2026-01-25T10:30:15Z",
      extra: 1,
    },
    now,
  );
  t.ok(job.ok);
  if (job.ok) {
    t.equal(job.event.tenantId, "t1");
    t.equal(job.event.timestamp, "2026-01-25T10:30:15Z", "a given timestamp is kept as given");
    t.equal(job.event.roomName, "job:j1");
  }
  const matching = validatePublish(
    {
      tenant_id: "t1",
      room: "workbook:t1:wb",
      type: "alert",
      payload: { priority: "high", message: "m" },
    },
    now,
  );
  t.ok(matching.ok, "tenant_id may repeat the room's tenant; any type may go to any room");
  const notif = validatePublish(
    { tenant_id: "t1", room: "notifications:u1", type: "notification", payload: { title: "Hi" } },
    now,
  );
  t.ok(notif.ok && notif.event.tenantId === "t1" && notif.event.room.kind === "notifications");
  // The default clock is the real one.
  const live = validatePublish({
    tenant_id: "t",
    room: "job:j",
    type: "job.started",
    payload: { job_id: "j" },
  });
  t.ok(live.ok && Math.abs(Date.parse(live.event.timestamp) - Date.now()) < 60_000);
});

t.test("validatePublish: rejections with reasons", async (t) => {
  const base = { tenant_id: "t1", room: "job:j1", type: "job.started", payload: { job_id: "j1" } };
  const cases: [string, unknown, RegExp[]][] = [
    ["not an object", "job:j1", [/an event must be an object \(got a string\)/]],
    ["null", null, [/an event must be an object \(got null\)/]],
    ["an array", [base], [/not an array/]],
    ["a batch", { events: [base] }, [/a batch .* is not a single event/]],
    ["a batch with event fields", { ...base, events: [] }, [/a batch/]],
    ["no room", { ...base, room: undefined }, [/^room is required$/]],
    ["room not a string", { ...base, room: 5 }, [/^room must be a string \(got a number\)$/]],
    [
      "bad room",
      { ...base, room: "jobs:j1" },
      [/must start with "workbook:", "job:" or "notifications:"/],
    ],
    ["empty job id", { ...base, room: "job:" }, [/room job_id must not be empty/]],
    [
      "job without tenant",
      { ...base, tenant_id: undefined },
      [/tenant_id is required for a job room/],
    ],
    [
      "notifications without tenant",
      { room: "notifications:u1", type: "notification", payload: { title: "x" } },
      [/tenant_id is required for a notifications room/],
    ],
    [
      "tenant mismatch",
      { ...base, tenant_id: "t2", room: "workbook:t1:wb" },
      [/tenant_id "t2" does not match the room's tenant "t1"/],
    ],
    ["empty tenant", { ...base, tenant_id: "" }, [/^tenant_id must not be empty$/]],
    ["tenant not a string", { ...base, tenant_id: 1 }, [/^tenant_id must be a string$/]],
    [
      "unknown type",
      { ...base, type: "job.exploded" },
      [/type "job\.exploded" is not a known event type/],
    ],
    [
      "type not a string",
      { ...base, type: ["job.started"] },
      [/type \(an array\) is not a known event type/],
    ],
    ["no type", { ...base, type: undefined }, [/^type is required$/]],
    ["no payload", { ...base, payload: undefined }, [/^payload is required$/]],
    [
      "payload not an object",
      { ...base, payload: "j1" },
      [/payload must be an object \(got a string\)/],
    ],
    [
      "payload array, unknown type",
      { ...base, type: "x", payload: [] },
      [/not a known event type/, /payload must be an object \(got an array\)/],
    ],
    ["bad payload", { ...base, payload: {} }, [/^payload\.job_id is required$/]],
    [
      "timestamp with offset",
      { ...base, timestamp: "2026-01-25T10:30:15+01:00" },
      [/timestamp must be an ISO 8601 UTC date-time/],
    ],
    ["timestamp as number", { ...base, timestamp: 1769337015 }, [/timestamp must be/]],
    ["impossible date", { ...base, timestamp: "2026-02-30T00:00:00Z" }, [/timestamp must be/]],
    [
      "non-serialisable payload",
      { ...base, payload: { job_id: "j1", n: 1n } },
      [/payload must be JSON-serialisable/],
    ],
  ];
  for (const [name, input, expected] of cases) {
    const result = validatePublish(input, now);
    t.equal(result.ok, false, name);
    const reasons = result.ok ? [] : result.reasons;
    t.equal(reasons.length, expected.length, `${name}: ${reasons.join("; ")}`);
    expected.forEach((re, i) => t.match(reasons[i], re, name));
  }
  // Everything wrong at once is reported at once.
  const all = validatePublish({ room: "job:", type: "nope", payload: 1, timestamp: "x" }, now);
  t.equal(all.ok ? 0 : all.reasons.length, 4);
});

t.test("validatePublish: payload size limit in UTF-8 bytes of JSON", async (t) => {
  const withText = (text: string) =>
    validatePublish(
      { tenant_id: "t", room: "job:j", type: "job.started", payload: { job_id: "j", text } },
      now,
    );
  const overhead = JSON.stringify({ job_id: "j", text: "" }).length;
  t.ok(withText("a".repeat(MAX_PAYLOAD_BYTES - overhead)).ok, "exactly at the limit");
  const over = withText("a".repeat(MAX_PAYLOAD_BYTES - overhead + 1));
  t.same(over.ok ? [] : over.reasons, [`payload must be at most 65536 bytes of JSON (got 65537)`]);
  // "é" is 2 bytes: 40000 of them are over the limit though the string is 40000 units.
  const multibyte = withText("é".repeat(40_000));
  t.match(multibyte.ok ? "" : multibyte.reasons.join(), /at most 65536 bytes/);
  const huge = withText("x".repeat(10 * 1024 * 1024));
  t.equal(huge.ok, false);
});

t.test("validatePublish: hostile inputs give reasons, never exceptions", async (t) => {
  // Deeper than JSON.stringify can recurse.
  let deep: Record<string, unknown> = { job_id: "j" };
  for (let i = 0; i < 200_000; i++) deep = { job_id: "j", d: deep };
  const r = validatePublish(
    { tenant_id: "t", room: "job:j", type: "job.started", payload: deep },
    now,
  );
  t.equal(r.ok, false);
  t.match(r.ok ? "" : r.reasons.join(), /JSON-serialisable/);
  // "__proto__" does not smuggle fields in, nor crash.
  const proto: unknown = JSON.parse(
    '{"__proto__":{"tenant_id":"t","room":"job:j","type":"job.started","payload":{"job_id":"j"}}}',
  );
  const p = validatePublish(proto, now);
  t.same(p.ok ? [] : p.reasons, ["room is required", "type is required", "payload is required"]);
  const runs = 5000;
  const keys = fc.constantFrom(
    "__proto__",
    "constructor",
    "tenant_id",
    "room",
    "type",
    "payload",
    "timestamp",
    "events",
  );
  const input = fc.oneof(
    fc.anything({ withNullPrototype: true, withBigInt: true, withMap: true }),
    fc.dictionary(
      keys,
      fc.oneof(
        fc.string(),
        fc.anything({ withBigInt: true }),
        fc.constantFrom("job:j", "workbook:t:w", "job.started"),
      ),
    ),
  );
  fc.assert(
    fc.property(input, (x) => {
      const result = validatePublish(x, now);
      return (
        result.ok ||
        (result.reasons.length > 0 && result.reasons.every((s) => typeof s === "string"))
      );
    }),
    { numRuns: runs, seed: SEED },
  );
  t.pass(`${runs} hostile inputs`);
});

t.test("decodeClientMessage: the four requests", async (t) => {
  const cases: [string, ClientMessage][] = [
    ['{"type":"subscribe","room":"job:j1"}', { type: "subscribe", room: "job:j1" }],
    [
      '{"type":"subscribe","room":"job:j1","since":"17"}',
      { type: "subscribe", room: "job:j1", since: "17" },
    ],
    [
      '{"type":"subscribe","room":"job:j1","since":17}',
      { type: "subscribe", room: "job:j1", since: "17" },
    ],
    ['{"type":"subscribe","room":"job:j1","since":null}', { type: "subscribe", room: "job:j1" }],
    ['{"room":"x","type":"unsubscribe","id":5}', { type: "unsubscribe", room: "x" }],
    ['{"type":"ping"}', { type: "ping" }],
    [' {"type":"ping","t":1} ', { type: "ping" }],
    ['{"type":"refresh","token":"eyJ.x.y"}', { type: "refresh", token: "eyJ.x.y" }],
  ];
  for (const [text, msg] of cases) t.same(decodeClientMessage(text), msg, text);
});

t.test("decodeClientMessage: rejections", async (t) => {
  const cases: [unknown, string, RegExp][] = [
    ["", "ERR_INVALID_REQUEST", /must be JSON/],
    ["{", "ERR_INVALID_REQUEST", /must be JSON/],
    ["null", "ERR_INVALID_REQUEST", /must be an object \(got null\)/],
    ['["subscribe"]', "ERR_INVALID_REQUEST", /must be an object \(got an array\)/],
    ['"ping"', "ERR_INVALID_REQUEST", /must be an object/],
    ["{}", "ERR_INVALID_REQUEST", /"type" must be a string/],
    ['{"type":1}', "ERR_INVALID_REQUEST", /"type" must be a string/],
    ['{"__proto__":{"type":"ping"}}', "ERR_INVALID_REQUEST", /"type" must be a string/],
    [
      '{"type":"subscribe"}',
      "ERR_INVALID_REQUEST",
      /"room" of a subscribe request must be a string/,
    ],
    ['{"type":"subscribe","room":5}', "ERR_INVALID_REQUEST", /"room"/],
    ['{"type":"subscribe","room":"r","since":-1}', "ERR_INVALID_REQUEST", /"since"/],
    ['{"type":"subscribe","room":"r","since":1.5}', "ERR_INVALID_REQUEST", /"since"/],
    ['{"type":"subscribe","room":"r","since":{}}', "ERR_INVALID_REQUEST", /"since"/],
    ['{"type":"unsubscribe"}', "ERR_INVALID_REQUEST", /"room" of a unsubscribe request/],
    ['{"type":"refresh"}', "ERR_INVALID_REQUEST", /"token" of a refresh request must be a string/],
    ['{"type":"refresh","token":""}', "ERR_INVALID_REQUEST", /must not be empty/],
    ['{"type":"publish","room":"r"}', "ERR_UNKNOWN_REQUEST", /unknown request type "publish"/],
    ['{"type":"toString"}', "ERR_UNKNOWN_REQUEST", /unknown request type/],
    ['{"type":"__proto__"}', "ERR_UNKNOWN_REQUEST", /unknown request type/],
    [42, "ERR_INVALID_REQUEST", /must be text/],
  ];
  for (const [text, code, reason] of cases) {
    t.throws(
      () => decodeClientMessage(text as string),
      { name: "DecodeError", code, message: reason },
      String(text),
    );
  }
});

t.test("decodeClientMessage: bounded before parsing", async (t) => {
  const pad = (n: number) => `{"type":"ping","pad":"${"x".repeat(n - 24)}"}`;
  t.equal(pad(MAX_CLIENT_MESSAGE_BYTES).length, MAX_CLIENT_MESSAGE_BYTES);
  t.same(decodeClientMessage(pad(MAX_CLIENT_MESSAGE_BYTES)), { type: "ping" });
  t.throws(() => decodeClientMessage(pad(MAX_CLIENT_MESSAGE_BYTES + 1)), {
    code: "ERR_INVALID_REQUEST",
    message: /at most 4096 bytes/,
  });
  // Not JSON, but too big is what is reported: the size check comes first.
  t.throws(() => decodeClientMessage("{".repeat(5000)), { message: /at most 4096 bytes/ });
  // Counted in UTF-8 bytes: 2000 "é" are 4000 bytes, plus the envelope.
  const multibyte = `{"type":"ping","pad":"${"é".repeat(2100)}"}`;
  t.ok(multibyte.length < MAX_CLIENT_MESSAGE_BYTES);
  t.throws(() => decodeClientMessage(multibyte), { message: /at most 4096 bytes/ });
  t.throws(
    () => decodeClientMessage("[".repeat(4096)),
    DecodeError,
    "deep nesting within the limit",
  );
});

t.test("fuzz: decodeClientMessage yields a message or DecodeError (20k inputs)", async (t) => {
  const seeds = [
    '{"type":"subscribe","room":"job:j1","since":"5"}',
    '{"type":"unsubscribe","room":"workbook:t:w"}',
    '{"type":"ping"}',
    '{"type":"refresh","token":"a.b.c"}',
  ];
  const mutated = fc
    .tuple(
      fc.constantFrom(...seeds),
      fc.array(
        fc.tuple(
          fc.nat(),
          fc.nat({ max: 3 }),
          fc.string({ unit: "binary", maxLength: 3 }),
          fc.constantFrom("insert", "delete", "replace"),
        ),
        { minLength: 1, maxLength: 4 },
      ),
    )
    .map(([text, edits]) => {
      for (const [at, len, s, op] of edits) {
        const i = at % (text.length + 1);
        if (op === "insert") text = text.slice(0, i) + s + text.slice(i);
        else if (op === "delete") text = text.slice(0, i) + text.slice(i + len);
        else text = text.slice(0, i) + s + text.slice(i + s.length);
      }
      return text;
    });
  const structured = fc
    .record(
      {
        type: fc.oneof(
          fc.constantFrom(
            "subscribe",
            "unsubscribe",
            "ping",
            "refresh",
            "__proto__",
            "constructor",
          ),
          fc.anything(),
        ),
        room: fc.oneof(fc.string(), fc.anything()),
        since: fc.oneof(fc.string(), fc.integer(), fc.double(), fc.anything()),
        token: fc.oneof(fc.string(), fc.anything()),
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o));
  const input = fc.oneof(
    fc.string({ unit: "binary", maxLength: 64 }),
    fc.json(),
    mutated,
    structured,
    fc.string({ unit: fc.constantFrom(...'{}[]":,ty pe0\\'), maxLength: 5000 }),
  );
  const runs = 20000;
  const seen = { message: 0, invalid: 0, unknown: 0 };
  fc.assert(
    fc.property(input, (text) => {
      let msg: ClientMessage;
      try {
        msg = decodeClientMessage(text);
      } catch (err) {
        if (!(err instanceof DecodeError)) return false;
        if (err.code === "ERR_INVALID_REQUEST") seen.invalid++;
        else if (err.code === "ERR_UNKNOWN_REQUEST") seen.unknown++;
        else return false;
        return true;
      }
      seen.message++;
      switch (msg.type) {
        case "subscribe":
          return (
            typeof msg.room === "string" &&
            (msg.since === undefined || typeof msg.since === "string")
          );
        case "unsubscribe":
          return typeof msg.room === "string";
        case "ping":
          return Object.keys(msg).length === 1;
        case "refresh":
          return typeof msg.token === "string" && msg.token.length > 0;
        default:
          return false;
      }
    }),
    { numRuns: runs, seed: SEED },
  );
  t.ok(seen.message > 100 && seen.invalid > 100 && seen.unknown > 10, JSON.stringify(seen));
});
