import fc from "fast-check";
import t from "tap";
import {
  encodeEventMessage,
  decodeBusMessage,
  encodeBusMessage,
  MAX_BUS_HEADER_BYTES,
  type BusHeader,
} from "../../src/bus.js";
import { encodeEnvelope, socketIoEventFrame, validatePublish } from "../../src/envelope.js";
import { DecodeError, EncodeError } from "../../src/errors.js";
import { SEED } from "./arbitraries.js";

const text = new TextDecoder();
const bytes = (s: string) => new TextEncoder().encode(s);

const eventHeader: BusHeader = {
  v: 1,
  kind: "event",
  node: "edge-1",
  tenant: "t1",
  room: "job:j1",
  type: "job.progress",
};

t.test("round trip with a string body: exact layout", async (t) => {
  const body = '{"type":"job.progress","payload":{"job_id":"j1","progress":50}}';
  const data = encodeBusMessage(eventHeader, body);
  t.equal(
    text.decode(data),
    '{"v":1,"kind":"event","node":"edge-1","tenant":"t1","room":"job:j1","type":"job.progress"}\n' +
      body,
  );
  const { header, body: out } = decodeBusMessage(data);
  t.same(header, eventHeader);
  t.equal(text.decode(out), body);
});

t.test("round trip with a byte body, newlines and unicode", async (t) => {
  const header: BusHeader = {
    v: 1,
    kind: "broadcast",
    node: "line\nbreak 😀",
    nsp: "/admin",
    rooms: ["a", "b\n"],
    except: ["sid1"],
    flags: { volatile: true, local: false },
    extra: { future: [1, 2] },
  };
  const body = new Uint8Array([0x0a, 0x00, 0xff, 0x0a, 0x34, 0x32]);
  const { header: h, body: b } = decodeBusMessage(encodeBusMessage(header, body));
  t.same(h, header);
  t.same([...b], [...body], "the body's own newlines are the body's");
  const empty = decodeBusMessage(encodeBusMessage(eventHeader, ""));
  t.equal(empty.body.length, 0);
});

t.test("the body is a view, not a copy", async (t) => {
  const data = encodeBusMessage(eventHeader, "0123456789");
  const { body } = decodeBusMessage(data);
  t.equal(body.buffer, data.buffer, "same ArrayBuffer");
  t.equal(body.byteOffset, data.indexOf(0x0a) + 1);
  t.equal(body.byteLength, 10);
  data[data.length - 1] = 0x21;
  t.equal(body[body.length - 1], 0x21, "a write to the message shows in the body");
  // A Buffer (a Uint8Array) at an offset in a larger pool works the same way.
  const pool = Buffer.alloc(data.length + 20);
  pool.set(data, 7);
  const slice = pool.subarray(7, 7 + data.length);
  const fromBuffer = decodeBusMessage(slice);
  t.equal(fromBuffer.body.buffer, pool.buffer);
  t.equal(text.decode(fromBuffer.body), "012345678!");
});

t.test("encode once: envelope -> bus -> Socket.IO frame without re-parsing the body", async (t) => {
  const result = validatePublish(
    {
      tenant_id: "t1",
      room: "job:j1",
      type: "job.progress",
      payload: { job_id: "j1", progress: 5 },
    },
    () => new Date("2026-01-25T10:30:15Z"),
  );
  if (!result.ok) throw new Error(result.reasons.join());
  const envelope = encodeEnvelope(result.event, 3);
  const data = encodeBusMessage(
    {
      v: 1,
      kind: "event",
      tenant: result.event.tenantId,
      room: result.event.roomName,
      type: result.event.type,
    },
    envelope,
  );
  const { header, body } = decodeBusMessage(data);
  const raw = text.decode(body);
  t.equal(raw, envelope, "the raw frame is the body, byte for byte");
  t.equal(socketIoEventFrame(header.type ?? "", raw), `42["job.progress",${envelope}]`);
});

t.test("encode refuses headers a decoder would reject", async (t) => {
  const bad: unknown[] = [
    { ...eventHeader, v: 2 },
    { ...eventHeader, kind: "other" },
    { v: 1, kind: "event", tenant: "t", room: "job:j" },
    { v: 1, kind: "event", tenant: "", room: "job:j", type: "x" },
    { v: 1, kind: "broadcast" },
    { v: 1, kind: "broadcast", nsp: "/", rooms: "a" },
    { v: 1, kind: "broadcast", nsp: "/", except: [1] },
    { v: 1, kind: "broadcast", nsp: "/", flags: { volatile: "yes" } },
    { v: 1, kind: "broadcast", nsp: "/", flags: [] },
    { ...eventHeader, node: 5 },
    { ...eventHeader, big: 1n },
    null,
  ];
  for (const header of bad) {
    t.throws(
      () => encodeBusMessage(header as BusHeader, "x"),
      EncodeError,
      String(JSON.stringify(header, (_k, v: unknown) => (typeof v === "bigint" ? "1n" : v))),
    );
  }
});

t.test("garbage input throws DecodeError", async (t) => {
  const cases: [unknown, RegExp][] = [
    [new Uint8Array(0), /no header end/],
    [bytes('{"v":1,"kind":"event"}'), /no header end/],
    [bytes("\n"), /not UTF-8 JSON/],
    [bytes("not json\nbody"), /not UTF-8 JSON/],
    [new Uint8Array([0xff, 0xfe, 0x0a]), /not UTF-8 JSON/],
    [new Uint8Array([0x22, 0xc3, 0x22, 0x0a]), /not UTF-8 JSON/],
    [bytes("\ufeff" + JSON.stringify(eventHeader) + "\n"), /not UTF-8 JSON/],
    [bytes("[1]\n"), /header must be an object/],
    [bytes('{"v":2,"kind":"event","tenant":"t","room":"r","type":"x"}\n'), /header\.v must be 1/],
    [bytes('{"v":1}\n'), /header\.kind must be/],
    [
      bytes('{"v":1,"kind":"event","tenant":"t","room":"r"}\n'),
      /header\.type must be a non-empty string/,
    ],
    [bytes('{"__proto__":{"v":1,"kind":"broadcast","nsp":"/"}}\n'), /header\.v must be 1/],
    [
      bytes("a".repeat(MAX_BUS_HEADER_BYTES + 10) + "\n"),
      /no header end \("\\n"\) within 65536 bytes/,
    ],
    ["{}\n", /must be a Uint8Array \(got a string\)/],
    [new ArrayBuffer(4), /must be a Uint8Array/],
    [null, /must be a Uint8Array \(got null\)/],
  ];
  for (const [data, reason] of cases) {
    t.throws(() => decodeBusMessage(data as Uint8Array), {
      name: "DecodeError",
      code: "ERR_INVALID_BUS_MESSAGE",
      message: reason,
    });
  }
  // Exactly at the header limit still decodes.
  const padded = { ...eventHeader, pad: "" };
  const overhead = JSON.stringify(padded).length;
  const atLimit = encodeBusMessage(
    { ...padded, pad: "x".repeat(MAX_BUS_HEADER_BYTES - overhead) },
    "b",
  );
  t.equal(atLimit.indexOf(0x0a), MAX_BUS_HEADER_BYTES);
  t.equal(text.decode(decodeBusMessage(atLimit).body), "b");
});

t.test("property: any valid header round-trips with any body", async (t) => {
  const str = fc.string({ unit: "binary", maxLength: 12 });
  const header: fc.Arbitrary<BusHeader> = fc.oneof(
    fc.record(
      {
        v: fc.constant(1 as const),
        kind: fc.constant("event" as const),
        node: str,
        tenant: str.filter((s) => s.length > 0),
        room: str.filter((s) => s.length > 0),
        type: str.filter((s) => s.length > 0),
        offset: fc.oneof(str, fc.nat()),
      },
      { requiredKeys: ["v", "kind", "tenant", "room", "type"] },
    ),
    fc.record(
      {
        v: fc.constant(1 as const),
        kind: fc.constant("broadcast" as const),
        node: str,
        nsp: str,
        rooms: fc.array(str, { maxLength: 4 }),
        except: fc.array(str, { maxLength: 4 }),
        flags: fc.record({ volatile: fc.boolean(), local: fc.boolean() }, { requiredKeys: [] }),
      },
      { requiredKeys: ["v", "kind", "nsp"] },
    ),
  );
  const body = fc.oneof(fc.string({ unit: "binary" }), fc.uint8Array({ maxLength: 64 }));
  const runs = 5000;
  fc.assert(
    fc.property(header, body, (h, b) => {
      const decoded = decodeBusMessage(encodeBusMessage(h, b));
      const expected = typeof b === "string" ? bytes(b) : b;
      return (
        // JSON.stringify makes lone surrogates well-formed escapes: compare through JSON.
        JSON.stringify(decoded.header) === JSON.stringify(h) &&
        decoded.body.length === expected.length &&
        decoded.body.every((x, i) => x === expected[i])
      );
    }),
    { numRuns: runs, seed: SEED },
  );
  t.pass(`${runs} messages`);
});

t.test("fuzz: random and mutated bytes decode or throw DecodeError", async (t) => {
  const valid = [
    encodeBusMessage(eventHeader, '{"type":"job.progress"}'),
    encodeBusMessage(
      { v: 1, kind: "broadcast", nsp: "/", rooms: ["r"], flags: { local: true } },
      "42[]",
    ),
  ];
  const mutated = fc
    .tuple(
      fc.constantFrom(...valid),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      }),
      fc.nat(),
    )
    .map(([data, flips, cut]) => {
      // Keep the whole message two times in three, so many mutants still decode.
      const copy = cut % 3 === 0 ? data.slice(0, 1 + (cut % data.length)) : data.slice();
      for (const [at, value] of flips) copy[at % copy.length] = value;
      return copy;
    });
  const input = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    mutated,
    fc.json().map((j) => bytes(`${j}\n`)),
  );
  const runs = 10000;
  let decoded = 0;
  fc.assert(
    fc.property(input, (data) => {
      try {
        const { header, body } = decodeBusMessage(data);
        decoded++;
        return header.v === 1 && body.buffer === data.buffer;
      } catch (err) {
        return err instanceof DecodeError && err.code === "ERR_INVALID_BUS_MESSAGE";
      }
    }),
    { numRuns: runs, seed: SEED },
  );
  t.ok(decoded > 0, `${decoded} of ${runs} decoded`);
});

t.test(
  "encodeEventMessage: the event header a receiver needs, then the envelope untouched",
  async (t) => {
    const envelope =
      '{"type":"job.progress","payload":{"job_id":"j1","progress":5},"timestamp":"2026-01-25T10:30:15Z","room":"job:j1"}';
    const event = { tenantId: "acme", roomName: "job:j1", type: "job.progress" };
    const plain = decodeBusMessage(encodeEventMessage(event, envelope, { now: 1234 }));
    t.same(plain.header, {
      v: 1,
      kind: "event",
      tenant: "acme",
      room: "job:j1",
      type: "job.progress",
      t: 1234,
    });
    t.equal(new TextDecoder().decode(plain.body), envelope);
    const withOffset = decodeBusMessage(
      encodeEventMessage(event, envelope, { offset: "42", now: 1 }),
    );
    t.equal(withOffset.header["o"], "42");
  },
);
