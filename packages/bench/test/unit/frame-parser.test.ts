import t from "tap";
import {
  FrameParser,
  OPCODE_PING,
  OPCODE_TEXT,
  clientFrame,
  type FrameHandler,
} from "../../src/client/frame-parser.js";
import { readSendTime } from "../../src/client/latency.js";
import {
  BENCH_ROOM,
  BENCH_TYPE,
  benchRequest,
  padFor,
  validated,
} from "../../src/publisher/payload.js";
import { encodeEnvelope, socketIoEventFrame } from "@calcbridge/protocol";

/** An unmasked server frame (RFC 6455 §5.2). */
function serverFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const head =
    len < 126
      ? Buffer.from([0x80 | opcode, len])
      : len < 65536
        ? Buffer.from([0x80 | opcode, 126, len >> 8, len & 0xff])
        : (() => {
            const b = Buffer.alloc(10);
            b[0] = 0x80 | opcode;
            b[1] = 127;
            b.writeBigUInt64BE(BigInt(len), 2);
            return b;
          })();
  return Buffer.concat([head, payload]);
}

function collector() {
  const seen = { events: 0, times: [] as number[], messages: [] as string[], split: 0 };
  const handler: FrameHandler = {
    onEvent(buf, start, length, whole) {
      seen.events++;
      if (whole) seen.times.push(readSendTime(buf, start, start + length));
      else seen.split++;
    },
    onMessage(opcode, payload) {
      seen.messages.push(`${opcode}:${payload.toString("utf8")}`);
    },
  };
  return { seen, handler };
}

const pad = padFor(200);
const event = (ts: number) =>
  Buffer.from(
    socketIoEventFrame(BENCH_TYPE, encodeEnvelope(validated(benchRequest(BENCH_ROOM, 7, ts, pad)))),
  );

t.test("a bench event frame is about 200 bytes", async (t) => {
  const len = event(1732900000123.456).length;
  t.ok(len >= 195 && len <= 205, `frame is ${len} bytes`);
});

t.test("counts events and reads their send time, whatever the chunking", async (t) => {
  const stream = Buffer.concat([
    serverFrame(OPCODE_TEXT, event(1732900000123.456)),
    serverFrame(OPCODE_TEXT, Buffer.from("2")),
    serverFrame(OPCODE_PING, Buffer.from("hi")),
    serverFrame(OPCODE_TEXT, event(1732900000200.5)),
    serverFrame(OPCODE_TEXT, Buffer.alloc(70000, 0x61)),
    serverFrame(OPCODE_TEXT, event(1732900000300)),
  ]);
  for (const chunk of [1, 2, 3, 7, 64, 1000, stream.length]) {
    const { seen, handler } = collector();
    const parser = new FrameParser(handler, 120);
    parser.capturing = false;
    for (let i = 0; i < stream.length; i += chunk) {
      const piece = Buffer.from(stream.subarray(i, Math.min(stream.length, i + chunk)));
      parser.push(piece, 0, piece.length);
    }
    t.equal(seen.events, 4, `4 data frames of >= 120 bytes with chunks of ${chunk}`);
    t.same(seen.messages, ["1:2", "9:hi"], `small frames copied out with chunks of ${chunk}`);
    if (chunk === stream.length)
      t.same(seen.times.slice(0, 2), [1732900000123.456, 1732900000200.5]);
  }
});

t.test("while capturing, every frame is handed over whole", async (t) => {
  const { seen, handler } = collector();
  const parser = new FrameParser(handler, 120);
  const f = serverFrame(OPCODE_TEXT, Buffer.from('0{"sid":"x","pingInterval":25000}'));
  parser.push(f, 0, f.length);
  t.same(seen.messages, ['1:0{"sid":"x","pingInterval":25000}']);
  t.equal(seen.events, 0);
});

t.test("client frames are masked and decode back", async (t) => {
  const f = clientFrame(OPCODE_TEXT, '40{"token":"abc"}');
  t.equal(f[0], 0x81);
  t.equal(f[1]! & 0x80, 0x80, "mask bit set");
  const len = f[1]! & 0x7f;
  const mask = f.subarray(2, 6);
  const body = Buffer.from(f.subarray(6, 6 + len).map((b, i) => b ^ mask[i % 4]!));
  t.equal(body.toString(), '40{"token":"abc"}');
});

t.test("readSendTime finds nothing outside the frame", async (t) => {
  const b = Buffer.from('{"a":1}{"ts":5}');
  t.ok(Number.isNaN(readSendTime(b, 0, 7)));
  t.equal(readSendTime(b, 0, b.length), 5);
});
