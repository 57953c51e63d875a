import t from "tap";
import { DecodeError, EncodeError } from "../../src/errors.js";
import {
  connectReplyText,
  decodeSocketPacket,
  encodeFrames,
  encodeSocketPacket,
  hasBinary,
  MAX_ENCODE_DEPTH,
  SocketDecoder,
  SocketPacketType,
  type SocketPacket,
} from "../../src/socketio.js";

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);
const P = SocketPacketType;

/** Text packets of the Socket.IO v5 spec ("Packet encoding" and its examples); each round-trips. */
const TEXT: readonly [string, SocketPacket, string][] = [
  ["CONNECT main", { type: P.CONNECT, nsp: "/" }, "0"],
  [
    "CONNECT with auth",
    { type: P.CONNECT, nsp: "/admin", data: { token: "x" } },
    '0/admin,{"token":"x"}',
  ],
  ["CONNECT without auth", { type: P.CONNECT, nsp: "/admin" }, "0/admin,"],
  [
    "CONNECT answer",
    { type: P.CONNECT, nsp: "/", data: { sid: "oSO0OpakMV_3jnilAAAA" } },
    '0{"sid":"oSO0OpakMV_3jnilAAAA"}',
  ],
  ["DISCONNECT main", { type: P.DISCONNECT, nsp: "/" }, "1"],
  ["DISCONNECT admin", { type: P.DISCONNECT, nsp: "/admin" }, "1/admin,"],
  ["EVENT", { type: P.EVENT, nsp: "/", data: ["hello", 1] }, '2["hello",1]'],
  ["EVENT numeric name", { type: P.EVENT, nsp: "/", data: [7] }, "2[7]"],
  ["EVENT with ack id", { type: P.EVENT, nsp: "/nsp", id: 12, data: ["a"] }, '2/nsp,12["a"]'],
  ["EVENT ack id main nsp", { type: P.EVENT, nsp: "/", id: 0, data: ["a"] }, '20["a"]'],
  [
    "EVENT envelope",
    {
      type: P.EVENT,
      nsp: "/",
      data: ["job.completed", { type: "job.completed", payload: { job_id: "j" } }],
    },
    '2["job.completed",{"type":"job.completed","payload":{"job_id":"j"}}]',
  ],
  ["ACK", { type: P.ACK, nsp: "/admin", id: 456, data: [] }, "3/admin,456[]"],
  [
    "ACK main",
    { type: P.ACK, nsp: "/", id: 12, data: ["b", { ok: true }] },
    '312["b",{"ok":true}]',
  ],
  [
    "CONNECT_ERROR object",
    { type: P.CONNECT_ERROR, nsp: "/", data: { message: "Not authorized" } },
    '4{"message":"Not authorized"}',
  ],
  [
    "CONNECT_ERROR string",
    { type: P.CONNECT_ERROR, nsp: "/admin", data: "Invalid namespace" },
    '4/admin,"Invalid namespace"',
  ],
];

t.test("golden text packets", async (t) => {
  for (const [name, packet, text] of TEXT) {
    t.strictSame(encodeSocketPacket(packet), [text], `encode ${name}`);
    t.strictSame(encodeFrames(packet), { text: "4" + text, binaries: [] }, `frames ${name}`);
    t.strictSame(decodeSocketPacket(text), packet, `decode ${name}`);
    t.strictSame(new SocketDecoder().add(text), packet, `decoder ${name}`);
  }
});

t.test("golden binary packets", async (t) => {
  const one = bytes(1, 2, 3);
  const two = bytes(4);
  const cases: [string, SocketPacket, string, Uint8Array[]][] = [
    [
      "BINARY_EVENT",
      { type: P.EVENT, nsp: "/", data: ["x", one] },
      '51-["x",{"_placeholder":true,"num":0}]',
      [one],
    ],
    [
      "BINARY_EVENT nested, two attachments, ack id",
      { type: P.EVENT, nsp: "/admin", id: 9, data: ["up", { a: one, b: [two] }] },
      '52-/admin,9["up",{"a":{"_placeholder":true,"num":0},"b":[{"_placeholder":true,"num":1}]}]',
      [one, two],
    ],
    [
      "BINARY_ACK",
      { type: P.ACK, nsp: "/admin", id: 456, data: [one] },
      '61-/admin,456[{"_placeholder":true,"num":0}]',
      [one],
    ],
  ];
  for (const [name, packet, text, attachments] of cases) {
    t.strictSame(encodeSocketPacket(packet), [text, ...attachments], `encode ${name}`);
    const frames = encodeFrames(packet);
    t.equal(frames.text, "4" + text);
    t.equal(frames.binaries.length, attachments.length);
    frames.binaries.forEach((b, i) => t.equal(b, attachments[i], "attachment is not copied"));
    const decoder = new SocketDecoder();
    t.equal(decoder.add(text), null, `${name}: text alone is not a packet`);
    t.ok(decoder.awaitingAttachments);
    let decoded: SocketPacket | null = null;
    for (const [i, a] of attachments.entries()) {
      decoded = decoder.add(a);
      if (i < attachments.length - 1) t.equal(decoded, null);
    }
    t.strictSame(decoded, packet, `decode ${name}`);
    t.notOk(decoder.awaitingAttachments);
  }
});

t.test("BINARY_EVENT/BINARY_ACK given to the encoder are sent by content", async (t) => {
  t.strictSame(encodeSocketPacket({ type: P.BINARY_EVENT, nsp: "/", data: ["a"] }), ['2["a"]']);
  t.strictSame(encodeSocketPacket({ type: P.BINARY_ACK, nsp: "/", id: 1, data: [bytes(1)] }), [
    '61-1[{"_placeholder":true,"num":0}]',
    bytes(1),
  ]);
});

t.test("every kind of binary becomes a Uint8Array attachment of the same bytes", async (t) => {
  const backing = bytes(0, 1, 2, 3, 4, 5, 6, 7);
  const values: [string, unknown][] = [
    ["Buffer", Buffer.from([1, 2])],
    ["Uint8Array", bytes(1, 2)],
    ["ArrayBuffer", bytes(1, 2).buffer],
    ["DataView", new DataView(backing.buffer, 1, 2)],
    ["Int16Array", new Int16Array(backing.buffer, 2, 1)],
    ["Float64Array", new Float64Array(backing.buffer, 0, 1)],
  ];
  for (const [name, value] of values) {
    t.ok(hasBinary(["x", value]), `hasBinary ${name}`);
    const [text, attachment, ...rest] = encodeSocketPacket({
      type: P.EVENT,
      nsp: "/",
      data: ["x", value],
    });
    t.equal(text, '51-["x",{"_placeholder":true,"num":0}]', name);
    t.equal(rest.length, 0);
    t.ok(attachment instanceof Uint8Array);
    const view = value instanceof ArrayBuffer ? new Uint8Array(value) : (value as ArrayBufferView);
    t.strictSame(
      Array.from(attachment ?? []),
      Array.from(
        new Uint8Array(
          view instanceof Uint8Array
            ? view
            : new Uint8Array(view.buffer, view.byteOffset, view.byteLength),
        ),
      ),
      `${name} bytes`,
    );
  }
});

t.test("hasBinary", async (t) => {
  t.equal(hasBinary(null), false);
  t.equal(hasBinary("str"), false);
  t.equal(hasBinary({ a: [1, { b: "c" }] }), false);
  t.equal(hasBinary({ a: [1, { b: bytes() }] }), true);
  t.equal(hasBinary(new Date()), false);
  t.equal(hasBinary({ toJSON: () => ({ x: bytes(1) }) }), true, "follows toJSON");
  let deep: unknown = bytes(1);
  for (let i = 0; i < MAX_ENCODE_DEPTH + 5; i++) deep = [deep];
  t.throws(() => hasBinary(deep), { name: "EncodeError", code: "ERR_TOO_DEEP" });
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  t.throws(() => hasBinary(cyclic), { code: "ERR_TOO_DEEP" }, "a cycle ends at the depth bound");
});

t.test("encoder validation", async (t) => {
  const cyclic: unknown[] = ["a"];
  cyclic.push(cyclic);
  const bad: [string, unknown, string][] = [
    ["unknown type", { type: 7, nsp: "/" }, "ERR_UNKNOWN_PACKET_TYPE"],
    ["string type", { type: "2", nsp: "/", data: ["a"] }, "ERR_UNKNOWN_PACKET_TYPE"],
    ["empty namespace", { type: 0, nsp: "" }, "ERR_INVALID_NAMESPACE"],
    ["namespace without slash", { type: 0, nsp: "admin" }, "ERR_INVALID_NAMESPACE"],
    ["namespace with comma", { type: 0, nsp: "/a,b" }, "ERR_INVALID_NAMESPACE"],
    ["negative ack id", { type: 2, nsp: "/", id: -1, data: ["a"] }, "ERR_INVALID_ACK_ID"],
    ["fractional ack id", { type: 2, nsp: "/", id: 1.5, data: ["a"] }, "ERR_INVALID_ACK_ID"],
    ["unsafe ack id", { type: 2, nsp: "/", id: 2 ** 53, data: ["a"] }, "ERR_INVALID_ACK_ID"],
    ["ACK without id", { type: 3, nsp: "/", data: [] }, "ERR_INVALID_ACK_ID"],
    ["CONNECT with id", { type: 0, nsp: "/", id: 1 }, "ERR_INVALID_ACK_ID"],
    ["CONNECT array", { type: 0, nsp: "/", data: [] }, "ERR_INVALID_PAYLOAD"],
    ["CONNECT null", { type: 0, nsp: "/", data: null }, "ERR_INVALID_PAYLOAD"],
    ["CONNECT binary", { type: 0, nsp: "/", data: { b: bytes(1) } }, "ERR_INVALID_PAYLOAD"],
    ["DISCONNECT data", { type: 1, nsp: "/", data: {} }, "ERR_INVALID_PAYLOAD"],
    ["EVENT empty", { type: 2, nsp: "/", data: [] }, "ERR_INVALID_PAYLOAD"],
    ["EVENT object name", { type: 2, nsp: "/", data: [{}] }, "ERR_INVALID_PAYLOAD"],
    ["EVENT no data", { type: 2, nsp: "/" }, "ERR_INVALID_PAYLOAD"],
    ["ACK object", { type: 3, nsp: "/", id: 1, data: {} }, "ERR_INVALID_PAYLOAD"],
    ["CONNECT_ERROR number", { type: 4, nsp: "/", data: 5 }, "ERR_INVALID_PAYLOAD"],
    ["cycle", { type: 2, nsp: "/", data: cyclic }, "ERR_TOO_DEEP"],
    ["BigInt", { type: 2, nsp: "/", data: ["a", 1n] }, "ERR_NOT_SERIALIZABLE"],
    [
      "throwing toJSON",
      {
        type: 2,
        nsp: "/",
        data: [
          "a",
          {
            toJSON: () => {
              throw new Error("x");
            },
          },
        ],
      },
      "ERR_NOT_SERIALIZABLE",
    ],
    [
      "toJSON to undefined",
      { type: 4, nsp: "/", data: { toJSON: () => undefined } },
      "ERR_NOT_SERIALIZABLE",
    ],
  ];
  for (const [name, packet, code] of bad) {
    t.throws(() => encodeSocketPacket(packet as SocketPacket), { name: "EncodeError", code }, name);
    t.throws(() => encodeFrames(packet as SocketPacket), EncodeError, name);
  }
});

t.test("encoder keeps a __proto__ key as data and touches no prototype", async (t) => {
  const data = JSON.parse('["e",{"__proto__":{"polluted":1},"b":"B"}]') as unknown[];
  (data[1] as Record<string, unknown>).bin = bytes(1);
  const [text] = encodeSocketPacket({ type: P.EVENT, nsp: "/", data });
  t.equal(
    text,
    '51-["e",{"__proto__":{"polluted":1},"b":"B","bin":{"_placeholder":true,"num":0}}]',
  );
  t.equal(({} as Record<string, unknown>).polluted, undefined);
});

t.test("decoder: malformed text is a DecodeError with a stable code", async (t) => {
  const deepOk = '2["a",' + "[".repeat(30) + "]".repeat(30) + "]";
  const deepBad = '2["a",' + "[".repeat(32) + "]".repeat(32) + "]";
  t.strictSame(decodeSocketPacket(deepOk).type, P.EVENT, "31 levels pass the default maxDepth 32");
  const bad: [string, string, string][] = [
    ["empty", "", "ERR_EMPTY_PACKET"],
    ["type 7", "7", "ERR_UNKNOWN_PACKET_TYPE"],
    ["type letter", 'a["x"]', "ERR_UNKNOWN_PACKET_TYPE"],
    ["leading space", ' 0{"a":1}', "ERR_UNKNOWN_PACKET_TYPE"],
    ["EVENT without data", "2", "ERR_INVALID_PAYLOAD"],
    ["EVENT on nsp without comma", '2/admin["a"]', "ERR_INVALID_PAYLOAD"],
    ["EVENT empty array", "2[]", "ERR_INVALID_PAYLOAD"],
    ["EVENT object", '2{"a":1}', "ERR_INVALID_PAYLOAD"],
    ["EVENT bad name", "2[null]", "ERR_INVALID_PAYLOAD"],
    ["EVENT truncated JSON", '2["a",', "ERR_INVALID_PAYLOAD"],
    ["EVENT trailing garbage", '2["a"]x', "ERR_INVALID_PAYLOAD"],
    ["EVENT whitespace before JSON", '2 ["a"]', "ERR_INVALID_PAYLOAD"],
    ["ACK without id", "3[]", "ERR_INVALID_ACK_ID"],
    ["ACK object", '31{"a":1}', "ERR_INVALID_PAYLOAD"],
    ["ACK without data", "31", "ERR_INVALID_PAYLOAD"],
    ["CONNECT array", "0[]", "ERR_INVALID_PAYLOAD"],
    ["CONNECT string", '0"a"', "ERR_INVALID_PAYLOAD"],
    ["CONNECT null", "0null", "ERR_INVALID_PAYLOAD"],
    ["CONNECT with id", "0/a,5{}", "ERR_INVALID_ACK_ID"],
    ["DISCONNECT data", "1{}", "ERR_INVALID_PAYLOAD"],
    ["CONNECT_ERROR number", "45", "ERR_INVALID_ACK_ID"],
    ["CONNECT_ERROR array", "4[]", "ERR_INVALID_PAYLOAD"],
    ["huge ack id", '29007199254740993["a"]', "ERR_INVALID_ACK_ID"],
    ["enormous ack id", "2" + "9".repeat(400) + '["a"]', "ERR_INVALID_ACK_ID"],
    ["100k open brackets", "2" + "[".repeat(100_000), "ERR_INVALID_PAYLOAD"],
    [
      "100k nested arrays",
      '2["a",' + "[".repeat(100_000) + "]".repeat(100_000) + "]",
      "ERR_TOO_DEEP",
    ],
    [
      "100k nested objects",
      '2["a",' + '{"a":'.repeat(100_000) + "1" + "}".repeat(100_000) + "]",
      "ERR_TOO_DEEP",
    ],
    ["too deep for maxDepth", deepBad, "ERR_TOO_DEEP"],
    ["binary without count", '5-["a"]', "ERR_INVALID_ATTACHMENTS"],
    ["binary without dash", '51["a"]', "ERR_INVALID_ATTACHMENTS"],
    ["binary zero attachments", '50-["a"]', "ERR_INVALID_ATTACHMENTS"],
    ["binary 11 attachments", '511-["a"]', "ERR_TOO_MANY_ATTACHMENTS"],
    ["binary huge attachments", "5" + "9".repeat(400) + '-["a"]', "ERR_TOO_MANY_ATTACHMENTS"],
  ];
  for (const [name, text, code] of bad) {
    t.throws(() => decodeSocketPacket(text), { name: "DecodeError", code }, name);
    t.throws(() => new SocketDecoder().add(text), DecodeError, `${name} (SocketDecoder)`);
  }
  t.throws(() => decodeSocketPacket(5 as unknown as string), { code: "ERR_INVALID_CHUNK" });
  t.throws(() => decodeSocketPacket('51-["a",{"_placeholder":true,"num":0}]'), {
    name: "DecodeError",
    code: "ERR_UNEXPECTED_BINARY_PACKET",
  });
});

t.test("decoder: odd but valid text", async (t) => {
  t.strictSame(
    decodeSocketPacket('2007["a"]'),
    { type: 2, nsp: "/", id: 7, data: ["a"] },
    "leading zeros in an ack id",
  );
  t.strictSame(decodeSocketPacket("0/admin"), { type: 0, nsp: "/admin" }, "namespace to the end");
  t.strictSame(
    decodeSocketPacket('2/,["a"]'),
    { type: 2, nsp: "/", data: ["a"] },
    "explicit main namespace",
  );
  t.strictSame(
    decodeSocketPacket('2["connect"]'),
    { type: 2, nsp: "/", data: ["connect"] },
    "reserved names pass",
  );
  t.strictSame(
    decodeSocketPacket('2["a",{"_placeholder":true,"num":0}]'),
    { type: 2, nsp: "/", data: ["a", { _placeholder: true, num: 0 }] },
    "a placeholder in a non-binary packet is plain data",
  );
  t.strictSame(
    decodeSocketPacket("2" + String(Number.MAX_SAFE_INTEGER) + '["a"]').id,
    Number.MAX_SAFE_INTEGER,
  );
  t.equal(
    decodeSocketPacket('2["a",1e999]').data instanceof Array,
    true,
    "1e999 parses to Infinity",
  );
});

t.test("decoder: placeholders are validated when the text arrives", async (t) => {
  const bad: [string, string][] = [
    ["num too large", '51-["a",{"_placeholder":true,"num":1}]'],
    ["num negative", '51-["a",{"_placeholder":true,"num":-1}]'],
    ["num fractional", '51-["a",{"_placeholder":true,"num":0.5}]'],
    ["num string", '51-["a",{"_placeholder":true,"num":"0"}]'],
    ["num missing", '51-["a",{"_placeholder":true}]'],
    ["num huge", '51-["a",{"_placeholder":true,"num":1e308}]'],
    ["num object", '51-["a",{"_placeholder":true,"num":{}}]'],
  ];
  for (const [name, text] of bad) {
    const decoder = new SocketDecoder();
    t.throws(
      () => decoder.add(text),
      { name: "DecodeError", code: "ERR_INVALID_PLACEHOLDER" },
      name,
    );
    t.notOk(decoder.awaitingAttachments, `${name}: reset`);
  }
  // Not placeholders (socket.io-parser requires `_placeholder === true`): left as data.
  const decoder = new SocketDecoder();
  t.equal(
    decoder.add('51-["a",{"_placeholder":"true","num":0},[{"_placeholder":1}],"_placeholder"]'),
    null,
  );
  t.strictSame(decoder.add(bytes(1)), {
    type: 2,
    nsp: "/",
    data: ["a", { _placeholder: "true", num: 0 }, [{ _placeholder: 1 }], "_placeholder"],
  });
});

t.test("decoder: reconstruction is in place and never touches a prototype", async (t) => {
  const decoder = new SocketDecoder();
  const a = bytes(1);
  const b = bytes(2);
  t.equal(
    decoder.add(
      '52-["e",{"__proto__":{"_placeholder":true,"num":0},"constructor":{"_placeholder":true,"num":1},"x":[{"_placeholder":true,"num":0}]}]',
    ),
    null,
  );
  t.equal(decoder.add(a), null);
  const packet = decoder.add(b);
  const arg = (packet?.data as unknown[])[1] as Record<string, unknown>;
  t.equal(Object.getPrototypeOf(arg), Object.prototype, "prototype unchanged");
  t.ok(Object.hasOwn(arg, "__proto__"), "__proto__ stays an own key");
  t.equal(Object.getOwnPropertyDescriptor(arg, "__proto__")?.value, a);
  t.equal(arg.constructor, b);
  t.equal((arg.x as unknown[])[0], a, "the same attachment may be referenced twice");
  t.equal(({} as Record<string, unknown>).polluted, undefined);
});

t.test("decoder: state machine", async (t) => {
  const decoder = new SocketDecoder();
  t.throws(() => decoder.add(bytes(1)), { code: "ERR_UNEXPECTED_ATTACHMENT" });
  t.equal(
    decoder.add('52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'),
    null,
  );
  t.equal(decoder.add(bytes(1)), null);
  t.throws(
    () => decoder.add('2["b"]'),
    { code: "ERR_EXPECTED_ATTACHMENT" },
    "text while attachments are awaited",
  );
  t.notOk(decoder.awaitingAttachments, "reset after the error");
  t.strictSame(
    decoder.add('2["b"]'),
    { type: 2, nsp: "/", data: ["b"] },
    "reusable after an error",
  );
  t.throws(() => decoder.add({} as unknown as string), { code: "ERR_INVALID_CHUNK" });
  t.equal(decoder.add('61-3[{"_placeholder":true,"num":0}]'), null);
  decoder.reset();
  t.throws(
    () => decoder.add(bytes(1)),
    { code: "ERR_UNEXPECTED_ATTACHMENT" },
    "reset drops the pending packet",
  );
});

t.test("decoder options", async (t) => {
  const text = '52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]';
  t.throws(() => new SocketDecoder({ maxAttachments: 1 }).add(text), {
    code: "ERR_TOO_MANY_ATTACHMENTS",
  });
  t.equal(new SocketDecoder({ maxAttachments: 2 }).add(text), null);
  t.throws(() => new SocketDecoder({ maxAttachments: 0 }).add('51-["a"]'), {
    code: "ERR_TOO_MANY_ATTACHMENTS",
  });
  t.throws(() => decodeSocketPacket('2["a",[]]', { maxDepth: 1 }), { code: "ERR_TOO_DEEP" });
  t.strictSame(decodeSocketPacket('2["a",[]]', { maxDepth: 2 }).data, ["a", []]);
  t.throws(() => new SocketDecoder({ maxAttachments: -1 }), {
    name: "ProtocolError",
    code: "ERR_INVALID_OPTION",
  });
  t.throws(() => new SocketDecoder({ maxDepth: 0 }), { code: "ERR_INVALID_OPTION" });
  t.throws(() => decodeSocketPacket("0", { maxDepth: 1.5 }), { code: "ERR_INVALID_OPTION" });
});

t.test("connectReplyText is encodeFrames' text for a CONNECT reply", async (t) => {
  const ids = ["AbC-_09xyzAbC-_09xyz", "", 'q"uote\\back', "é\u2028"];
  // Labels name the ids by index: a raw U+2028 in a TAP line breaks the line.
  for (const nsp of ["/", "/admin", "/a-b.c"]) {
    for (const [i, sid] of ids.entries()) {
      for (const [j, pid] of [undefined, ...ids].entries()) {
        const data: Record<string, string> = { sid };
        if (pid !== undefined) data["pid"] = pid;
        t.equal(
          connectReplyText(nsp, sid, pid),
          encodeFrames({ type: P.CONNECT, nsp, data }).text,
          `${nsp} sid #${i} pid ${pid === undefined ? "none" : `#${j - 1}`}`,
        );
      }
    }
  }
  t.same(
    decodeSocketPacket(connectReplyText("/admin", "s1", "p1").slice(1)),
    { type: P.CONNECT, nsp: "/admin", data: { sid: "s1", pid: "p1" } },
    "and it decodes to that packet",
  );
});
