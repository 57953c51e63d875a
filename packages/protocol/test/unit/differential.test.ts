/**
 * Differential tests against the reference implementations: generated
 * packets must encode to the same frames as socket.io-parser's Encoder and
 * engine.io-parser's encodePacket/encodePayload, and the references'
 * encodings must decode to the same packets as their decoders give.
 *
 * Intentional differences (each excluded from the generators, see
 * codec-arbitraries.ts, and covered by the unit tests instead):
 * - reserved event names ("connect", ...) decode here; socket.io-parser refuses them;
 * - "__proto__" keys stay data here; socket.io-parser's deconstruct sets a prototype with them;
 * - text packets containing 0x1e cannot go in a polling body here; engine.io-parser writes an ambiguous body;
 * - our decoders are stricter where the references are lax (no data on EVENT/ACK, ACK without id,
 *   ack id on CONNECT, lenient base64, whitespace read as digits); those inputs never come out of
 *   the references' encoders, so the round trips below do not meet them.
 */
import assert from "node:assert/strict";
import tap from "tap";
import fc from "fast-check";
import { Decoder, Encoder, type Packet as OraclePacket } from "socket.io-parser";
import {
  decodePacket as oracleDecodePacket,
  decodePayload as oracleDecodePayload,
  encodePacket as oracleEncodePacket,
  encodePayload as oracleEncodePayload,
  type Packet as OracleEnginePacket,
  type BinaryType,
} from "engine.io-parser";
import {
  decodeEnginePacket,
  decodePollingPayload,
  encodeEnginePacket,
  encodePollingPayload,
  type EnginePacket,
} from "../../src/engineio.js";
import {
  encodeFrames,
  encodeSocketPacket,
  SocketDecoder,
  type SocketPacket,
} from "../../src/socketio.js";
import { enginePacketArb, RESERVED_EVENTS, socketPacketArb } from "./codec-arbitraries.js";

const SEED = 20260125;

/** Bytes of any binary the references hand out (Buffer, Uint8Array, ArrayBuffer, other views). */
function toU8(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value))
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw new Error(`not binary: ${String(value)}`);
}

function sameBytes(actual: unknown, expected: unknown, message: string): void {
  assert.deepEqual(Array.from(toU8(actual)), Array.from(toU8(expected)), message);
}

/** An Engine.IO packet with its binary data as a plain byte array, whatever its container. */
function normalizeEngine(packet: { type: string; data?: unknown }): {
  type: string;
  data?: string | number[];
} {
  if (packet.data === undefined) return { type: packet.type };
  if (typeof packet.data === "string") return { type: packet.type, data: packet.data };
  return { type: packet.type, data: Array.from(toU8(packet.data)) };
}

function oracleEncodeEngine(packet: EnginePacket, supportsBinary: boolean): string | Uint8Array {
  let out: unknown;
  oracleEncodePacket(packet as OracleEnginePacket, supportsBinary, (encoded) => (out = encoded));
  assert.ok(out !== undefined, "engine.io-parser encodePacket calls back synchronously");
  return out as string | Uint8Array;
}

function oracleEncodeBody(packets: EnginePacket[]): string {
  let out: string | undefined;
  oracleEncodePayload(packets as OracleEnginePacket[], (body) => (out = body));
  assert.ok(out !== undefined, "engine.io-parser encodePayload calls back synchronously");
  return out;
}

/** Feed chunks to socket.io-parser's event-based Decoder; returns the one decoded packet. */
function oracleDecodeSocket(chunks: readonly (string | Uint8Array)[]): OraclePacket {
  const decoder = new Decoder({ maxAttachments: 100 });
  const decoded: OraclePacket[] = [];
  decoder.on("decoded", (packet: OraclePacket) => decoded.push(packet));
  for (const chunk of chunks) decoder.add(chunk);
  assert.equal(decoded.length, 1, "socket.io-parser decodes exactly one packet");
  return decoded[0] as OraclePacket;
}

/** Run a fixed-seed property; its counterexample, if any, is the failure message. */
function check<T>(
  t: Pick<typeof tap, "notOk" | "equal">,
  name: string,
  arb: fc.Arbitrary<T>,
  numRuns: number,
  predicate: (value: T) => void,
): void {
  const result = fc.check(
    fc.property(arb, (value) => {
      predicate(value);
    }),
    { seed: SEED, numRuns },
  );
  t.notOk(result.failed, `${name}\n${fc.defaultReportMessage(result) ?? ""}`);
  t.equal(result.numRuns, numRuns, `${name}: ${numRuns} generated cases`);
}

tap.test("Socket.IO: encoding agrees with socket.io-parser's Encoder", async (t) => {
  const encoder = new Encoder();
  let binaryPackets = 0;
  check(t, "encode", socketPacketArb, 4000, (packet) => {
    const ours = encodeSocketPacket(packet);
    const theirs = encoder.encode(packet as OraclePacket) as unknown[];
    assert.equal(ours[0], theirs[0], "text");
    assert.equal(ours.length, theirs.length, "attachment count");
    for (let i = 1; i < ours.length; i++) {
      assert.ok(ours[i] instanceof Uint8Array, "attachments are Uint8Array");
      sameBytes(ours[i], theirs[i], `attachment ${i - 1}`);
    }
    if (ours.length > 1) binaryPackets++;
    const frames = encodeFrames(packet);
    assert.equal(frames.text, "4" + ours[0]);
    assert.equal(frames.binaries.length, ours.length - 1);
  });
  t.ok(binaryPackets > 400, `binary packets were generated (${binaryPackets})`);
});

tap.test("Socket.IO: decoding agrees with socket.io-parser's Decoder", async (t) => {
  const encoder = new Encoder();
  const decodable = socketPacketArb.filter(
    (p) => !(p.type === 2 && Array.isArray(p.data) && RESERVED_EVENTS.has(p.data[0])),
  );
  check(t, "decode", decodable, 4000, (packet) => {
    const chunks = (encoder.encode(packet as OraclePacket) as unknown[]).map((c) =>
      typeof c === "string" ? c : toU8(c),
    );
    const theirs = oracleDecodeSocket(chunks);
    const decoder = new SocketDecoder({ maxAttachments: 100, maxDepth: 100 });
    let ours: SocketPacket | null = null;
    chunks.forEach((chunk, i) => {
      ours = decoder.add(chunk);
      if (i < chunks.length - 1) assert.equal(ours, null, "null while attachments are awaited");
    });
    assert.deepStrictEqual(ours, theirs);
  });
});

tap.test("Engine.IO: WebSocket frames agree with encodePacket/decodePacket", async (t) => {
  check(t, "frames", enginePacketArb({ separator: true }), 2000, (packet) => {
    const ours = encodeEnginePacket(packet);
    const theirs = oracleEncodeEngine(packet, true);
    if (typeof theirs === "string") assert.equal(ours, theirs);
    else sameBytes(ours, theirs, "binary frame");
    const decoded = normalizeEngine(decodeEnginePacket(theirs));
    for (const binaryType of ["nodebuffer", "arraybuffer"] as BinaryType[]) {
      assert.deepStrictEqual(
        decoded,
        normalizeEngine(oracleDecodePacket(theirs, binaryType)),
        binaryType,
      );
    }
    // A client with forceBase64 sends binary as "b<base64>" in a text frame.
    const base64 = oracleEncodeEngine(packet, false);
    assert.deepStrictEqual(
      normalizeEngine(decodeEnginePacket(base64)),
      normalizeEngine(oracleDecodePacket(base64, "nodebuffer")),
    );
  });
});

tap.test("Engine.IO: polling bodies agree with encodePayload/decodePayload", async (t) => {
  const bodies = fc.array(enginePacketArb({ separator: false }), { minLength: 1, maxLength: 8 });
  check(t, "payloads", bodies, 2000, (packets) => {
    const body = encodePollingPayload(packets.map(encodeEnginePacket));
    assert.equal(body, oracleEncodeBody(packets));
    const ours = decodePollingPayload(body).map(normalizeEngine);
    for (const binaryType of ["nodebuffer", "arraybuffer"] as BinaryType[]) {
      assert.deepStrictEqual(
        ours,
        oracleDecodePayload(body, binaryType).map(normalizeEngine),
        binaryType,
      );
    }
  });
});
