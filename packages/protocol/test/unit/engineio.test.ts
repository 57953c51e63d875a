import t from "tap";
import { decodeBase64, encodeBase64, encodeBase64Portable } from "../../src/base64.js";
import {
  decodeEnginePacket,
  decodePollingPayload,
  encodeEnginePacket,
  encodeOpenPacket,
  encodePollingPayload,
  ENGINE_PROTOCOL_VERSION,
  RECORD_SEPARATOR,
  type EnginePacket,
} from "../../src/engineio.js";
import { DecodeError, EncodeError } from "../../src/errors.js";

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);

/** Packets and their exact WebSocket frames (Engine.IO v4, "Packet encoding"); each decodes back to the packet. */
const FRAMES: readonly [string, EnginePacket, string | Uint8Array][] = [
  [
    "open",
    { type: "open", data: '{"sid":"lv_VI97HAXpY6yYWAAAC"}' },
    '0{"sid":"lv_VI97HAXpY6yYWAAAC"}',
  ],
  ["close", { type: "close" }, "1"],
  ["ping", { type: "ping" }, "2"],
  ["ping probe", { type: "ping", data: "probe" }, "2probe"],
  ["pong", { type: "pong" }, "3"],
  ["pong probe", { type: "pong", data: "probe" }, "3probe"],
  ["message text", { type: "message", data: "hello" }, "4hello"],
  ["message utf-8", { type: "message", data: "€€€" }, "4€€€"],
  ["message socket.io", { type: "message", data: '2["hi"]' }, '42["hi"]'],
  ["message empty", { type: "message" }, "4"],
  ["message binary", { type: "message", data: bytes(1, 2, 3) }, bytes(1, 2, 3)],
  ["message empty binary", { type: "message", data: bytes() }, bytes()],
  ["upgrade", { type: "upgrade" }, "5"],
  ["noop", { type: "noop" }, "6"],
];

t.test("ENGINE_PROTOCOL_VERSION and RECORD_SEPARATOR", async (t) => {
  t.equal(ENGINE_PROTOCOL_VERSION, 4);
  t.equal(RECORD_SEPARATOR, "\u001e");
});

t.test("golden WebSocket frames", async (t) => {
  for (const [name, packet, frame] of FRAMES) {
    t.strictSame(encodeEnginePacket(packet), frame, `encode ${name}`);
    t.strictSame(decodeEnginePacket(frame), packet, `decode ${name}`);
  }
});

t.test("a binary frame is sent and received without a copy", async (t) => {
  const data = bytes(9, 8, 7);
  t.equal(encodeEnginePacket({ type: "message", data }), data);
  t.equal(decodeEnginePacket(data).data, data);
});

t.test("a text frame may carry a base64 binary message (forceBase64 clients)", async (t) => {
  t.strictSame(decodeEnginePacket("bAQID"), { type: "message", data: bytes(1, 2, 3) });
  t.strictSame(decodeEnginePacket("b"), { type: "message", data: bytes() });
});

t.test("encoding binary as views of other kinds", async (t) => {
  const backing = bytes(0, 1, 2, 3, 4, 5);
  const view = new DataView(backing.buffer, 1, 3);
  t.strictSame(
    encodeEnginePacket({ type: "message", data: view as unknown as Uint8Array }),
    bytes(1, 2, 3),
  );
  t.strictSame(
    encodeEnginePacket({ type: "message", data: backing.buffer as unknown as Uint8Array }),
    backing,
  );
});

t.test("encoder errors", async (t) => {
  const bad: [string, unknown, string][] = [
    ["unknown type", { type: "error" }, "ERR_UNKNOWN_PACKET_TYPE"],
    ["inherited key as type", { type: "toString" }, "ERR_UNKNOWN_PACKET_TYPE"],
    ["binary ping", { type: "ping", data: bytes(1) }, "ERR_INVALID_DATA"],
    ["number data", { type: "message", data: 5 }, "ERR_INVALID_DATA"],
  ];
  for (const [name, packet, code] of bad) {
    t.throws(() => encodeEnginePacket(packet as EnginePacket), { name: "EncodeError", code }, name);
  }
});

t.test("decoder errors", async (t) => {
  const bad: [string, unknown, string][] = [
    ["empty", "", "ERR_EMPTY_PACKET"],
    ["type 7", "7", "ERR_UNKNOWN_PACKET_TYPE"],
    ["letter", "x", "ERR_UNKNOWN_PACKET_TYPE"],
    ["below digits", "/", "ERR_UNKNOWN_PACKET_TYPE"],
    ["bad base64 char", "bAQ!D", "ERR_INVALID_BASE64"],
    ["base64 lone sextet", "bAQIDB", "ERR_INVALID_BASE64"],
    ["base64 bad padding", "bAQ=", "ERR_INVALID_BASE64"],
    ["base64 whitespace", "bAQ ID", "ERR_INVALID_BASE64"],
    ["base64 non-ascii", "bAQ€D", "ERR_INVALID_BASE64"],
    ["not a frame", 42, "ERR_INVALID_FRAME"],
    ["ArrayBuffer", new ArrayBuffer(2), "ERR_INVALID_FRAME"],
  ];
  for (const [name, frame, code] of bad) {
    t.throws(() => decodeEnginePacket(frame as string), { name: "DecodeError", code }, name);
  }
});

t.test("polling payload: golden bodies", async (t) => {
  const cases: [string, EnginePacket[], string][] = [
    ["one packet", [{ type: "message", data: "hello" }], "4hello"],
    [
      "text and binary",
      [
        { type: "message", data: "hello" },
        { type: "message", data: bytes(1, 2, 3) },
      ],
      "4hello\u001ebAQID",
    ],
    [
      "control packets",
      [{ type: "ping", data: "probe" }, { type: "message", data: "test" }, { type: "close" }],
      "2probe\u001e4test\u001e1",
    ],
    ["padding", [{ type: "message", data: bytes(255) }], "b/w=="],
    ["unicode", [{ type: "message", data: "€€€" }, { type: "noop" }], "4€€€\u001e6"],
  ];
  for (const [name, packets, body] of cases) {
    t.equal(encodePollingPayload(packets.map(encodeEnginePacket)), body, `encode ${name}`);
    t.strictSame(decodePollingPayload(body), packets, `decode ${name}`);
  }
  t.equal(encodePollingPayload([]), "", "no frames, empty body");
});

t.test("polling payload: encoder refuses frames that cannot be split back", async (t) => {
  t.throws(() => encodePollingPayload(["4a\u001eb"]), {
    name: "EncodeError",
    code: "ERR_RECORD_SEPARATOR",
  });
  t.throws(() => encodePollingPayload(["4a", ""]), {
    name: "EncodeError",
    code: "ERR_EMPTY_PACKET",
  });
  t.throws(() => encodePollingPayload([5 as unknown as string]), {
    name: "EncodeError",
    code: "ERR_INVALID_FRAME",
  });
});

t.test("polling payload: decoder errors", async (t) => {
  const bad: [string, string, string][] = [
    ["empty body", "", "ERR_EMPTY_PACKET"],
    ["empty record", "4a\u001e\u001e4b", "ERR_EMPTY_PACKET"],
    ["trailing separator", "4a\u001e", "ERR_EMPTY_PACKET"],
    ["leading separator", "\u001e4a", "ERR_EMPTY_PACKET"],
    ["unknown type", "4a\u001e9", "ERR_UNKNOWN_PACKET_TYPE"],
    ["bad base64", "4a\u001eb***", "ERR_INVALID_BASE64"],
  ];
  for (const [name, body, code] of bad) {
    t.throws(() => decodePollingPayload(body), { name: "DecodeError", code }, name);
  }
  t.throws(() => decodePollingPayload(7 as unknown as string), DecodeError);
});

t.test("polling payload: maxPackets bounds the work", async (t) => {
  const body = Array.from({ length: 5 }, () => "6").join(RECORD_SEPARATOR);
  t.equal(decodePollingPayload(body, { maxPackets: 5 }).length, 5);
  t.throws(() => decodePollingPayload(body, { maxPackets: 4 }), { code: "ERR_TOO_MANY_PACKETS" });
  const huge = "6\u001e".repeat(200_000) + "6";
  t.throws(() => decodePollingPayload(huge), { code: "ERR_TOO_MANY_PACKETS" }, "default bound");
  t.throws(() => decodePollingPayload("6", { maxPackets: 0 }), { code: "ERR_INVALID_OPTION" });
});

t.test("open packet", async (t) => {
  const handshake = {
    sid: "lv_VI97HAXpY6yYWAAAC",
    upgrades: ["websocket"],
    pingInterval: 25000,
    pingTimeout: 20000,
    maxPayload: 1000000,
  };
  t.equal(
    encodeOpenPacket({ ...handshake, extra: 1 } as typeof handshake),
    '0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}',
  );
  t.throws(() => encodeOpenPacket({ ...handshake, sid: "" }), EncodeError);
  t.throws(() => encodeOpenPacket({ ...handshake, pingInterval: -1 }), EncodeError);
  t.throws(() => encodeOpenPacket({ ...handshake, maxPayload: 1.5 }), EncodeError);
  t.throws(
    () => encodeOpenPacket({ ...handshake, upgrades: [1 as unknown as string] }),
    EncodeError,
  );
});

t.test("base64: portable encoder and strict decoder agree with Buffer", async (t) => {
  for (let length = 0; length < 70; length++) {
    const data = new Uint8Array(length);
    for (let i = 0; i < length; i++) data[i] = (i * 97 + length * 13) & 0xff;
    const expected = Buffer.from(data).toString("base64");
    t.equal(encodeBase64Portable(data), expected, `portable, ${length} bytes`);
    t.equal(encodeBase64(data.subarray(0)), expected);
    t.strictSame(decodeBase64(expected), data, `decode padded, ${length} bytes`);
    t.strictSame(
      decodeBase64(expected.replace(/=+$/, "")),
      data,
      `decode unpadded, ${length} bytes`,
    );
  }
  const big = new Uint8Array(50_000).map((_, i) => i * 31);
  t.equal(encodeBase64Portable(big), Buffer.from(big).toString("base64"), "long input");
  const offset = bytes(9, 1, 2, 3, 9).subarray(1, 4);
  t.equal(encodeBase64(offset), "AQID", "respects byteOffset");
});
