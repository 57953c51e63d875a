/**
 * Fuzzing every decoder with random and mutated input (fixed seed, so a
 * failure reproduces). Each input must give a well-formed packet or a
 * DecodeError: no other error, no hang, no prototype touched. Whatever we
 * accept, the reference parsers must accept too and decode the same way.
 */
import assert from "node:assert/strict";
import tap from "tap";
import fc from "fast-check";
import { Decoder } from "socket.io-parser";
import {
  decodePacket as oracleDecodePacket,
  decodePayload as oracleDecodePayload,
} from "engine.io-parser";
import { DecodeError } from "../../src/errors.js";
import {
  decodeEnginePacket,
  decodePollingPayload,
  encodeEnginePacket,
  encodePollingPayload,
  type EnginePacket,
} from "../../src/engineio.js";
import {
  decodeSocketPacket,
  DEFAULT_MAX_DEPTH,
  encodeSocketPacket,
  SocketDecoder,
  type SocketPacket,
} from "../../src/socketio.js";
import { enginePacketArb, RESERVED_EVENTS, socketPacketArb } from "./codec-arbitraries.js";

const SEED = 0x5eed1e;
const INPUTS = 100_000;

/** mulberry32: small, fast, deterministic. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(SEED);
const int = (n: number): number => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;

// ------------------------------------------------------------------ corpus

const socketCorpus: (readonly [string, ...Uint8Array[]])[] = fc
  .sample(socketPacketArb, { seed: SEED, numRuns: 400 })
  .map((packet) => encodeSocketPacket(packet));
socketCorpus.push(
  ["0"],
  ['0/admin,{"token":"x"}'],
  ['2/nsp,12["a"]'],
  ['51-["x",{"_placeholder":true,"num":0}]', new Uint8Array([1])],
  [
    '62-/admin,456[{"_placeholder":true,"num":0},{"a":{"_placeholder":true,"num":1}}]',
    new Uint8Array(0),
    new Uint8Array(2),
  ],
  ['4{"message":"Not authorized"}'],
);
const engineFrames = fc
  .sample(enginePacketArb({ separator: true }), { seed: SEED, numRuns: 200 })
  .map((packet) => encodeEnginePacket(packet));
const pollingBodies = fc
  .sample(fc.array(enginePacketArb({ separator: false }), { minLength: 1, maxLength: 6 }), {
    seed: SEED,
    numRuns: 200,
  })
  .map((packets) => encodePollingPayload(packets.map(encodeEnginePacket)));
const textCorpus: string[] = [
  ...socketCorpus.map((frames) => frames[0]),
  ...socketCorpus.map((frames) => "4" + frames[0]),
  ...engineFrames.filter((f): f is string => typeof f === "string"),
  ...pollingBodies,
  "2probe",
  "4hello\u001ebAQID",
];

// --------------------------------------------------------------- mutations

const TOKENS = [
  ...'[]{}",:-/0123456789b=\u001e \\',
  "null",
  "true",
  "-1",
  "0.5",
  "1e999",
  "9".repeat(30),
  String(Number.MAX_SAFE_INTEGER + 2),
  '{"_placeholder":true,"num":',
  '{"_placeholder":true}',
  '"_placeholder"',
  '"__proto__":',
  '{"__proto__":{"polluted":1}}',
  '"constructor":{"prototype":{"polluted":1}}',
  "\ud800",
  "😀",
  "\u0000",
];
const WEIRD_NUMS = [
  "-1",
  "0.5",
  "1e308",
  "1e999",
  '"0"',
  "null",
  "[]",
  "{}",
  "true",
  "10",
  "4294967296",
  "-0",
  "9".repeat(40),
];

function randomChar(): string {
  return random() < 0.5 ? pick(TOKENS) : String.fromCharCode(int(0x10000));
}

function mutate(input: string): string {
  let s = input;
  const steps = 1 + int(3);
  for (let k = 0; k < steps; k++) {
    const at = int(s.length + 1);
    switch (int(11)) {
      case 0: // truncate
        s = s.slice(0, at);
        break;
      case 1: // flip one code unit
        s = s.slice(0, at) + String.fromCharCode(int(0x10000)) + s.slice(at + 1);
        break;
      case 2: // insert a token
        s = s.slice(0, at) + randomChar() + s.slice(at);
        break;
      case 3: // delete a range
        s = s.slice(0, at) + s.slice(at + 1 + int(8));
        break;
      case 4: // duplicate a range
        s = s.slice(0, at) + s.slice(at, at + 1 + int(16)) + s.slice(at);
        break;
      case 5: {
        // deep nesting: mostly modest, now and then 100k brackets
        const depth = random() < 0.02 ? 100_000 : 1 + int(200);
        const open = random() < 0.5 ? "[" : '{"a":';
        const close = random() < 0.7 ? (open === "[" ? "]" : "}").repeat(depth) : "";
        s = s.slice(0, at) + open.repeat(depth) + "1" + close + s.slice(at);
        break;
      }
      case 6: // huge / odd numbers in place of a digit run
        s = s.replace(/\d+/, pick(WEIRD_NUMS));
        break;
      case 7: // tamper with a placeholder
        s =
          random() < 0.5
            ? s.replace(/"num":\d+/, `"num":${pick(WEIRD_NUMS)}`)
            : s.replace(/\{"_placeholder":true,"num":\d+\}/, pick(WEIRD_NUMS));
        break;
      case 8: // splice two inputs
        s = s.slice(0, at) + pick(textCorpus).slice(int(8));
        break;
      case 9: // change the attachment count
        s = s.replace(
          /^([56])\d*-/,
          `$1${pick(["0", "1", "2", "11", "", "99999999999999999999", "1e1", " 1"])}-`,
        );
        break;
      default: // a prefix the decoders dispatch on
        s = pick(["", "4", "b", "5", "6", "2/", "0/a,", "\u001e"]) + s;
    }
  }
  return s;
}

function randomString(): string {
  let s = "";
  const length = int(48);
  for (let i = 0; i < length; i++) s += randomChar();
  return s;
}

function randomBytes(): Uint8Array {
  const bytes = new Uint8Array(int(32));
  for (let i = 0; i < bytes.length; i++) bytes[i] = int(256);
  return bytes;
}

// ---------------------------------------------------------------- checks

const ENGINE_TYPES = new Set(["open", "close", "ping", "pong", "message", "upgrade", "noop"]);

function checkEngine(packet: EnginePacket): void {
  assert.ok(ENGINE_TYPES.has(packet.type), "engine type");
  assert.ok(
    packet.data === undefined ||
      typeof packet.data === "string" ||
      packet.data instanceof Uint8Array,
  );
  assert.ok(Object.keys(packet).every((k) => k === "type" || k === "data"));
}

function depthOf(value: unknown, limit: number): number {
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return 0;
  if (limit === 0) return Infinity;
  let deepest = 0;
  for (const child of Object.values(value)) deepest = Math.max(deepest, depthOf(child, limit - 1));
  return 1 + deepest;
}

function hasPlaceholder(value: unknown): boolean {
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return false;
  if (
    Object.hasOwn(value, "_placeholder") &&
    (value as { _placeholder: unknown })._placeholder === true
  )
    return true;
  return Object.values(value).some(hasPlaceholder);
}

const isPlainObject = (v: unknown): boolean =>
  Object.prototype.toString.call(v) === "[object Object]";

/** An independent statement of what a decoded packet may look like. */
function checkSocket(packet: SocketPacket, reconstructed: boolean): void {
  const { type, nsp, id, data } = packet;
  assert.ok(type === 0 || type === 1 || type === 2 || type === 3 || type === 4, "socket type");
  assert.ok(typeof nsp === "string" && nsp.startsWith("/"), "namespace");
  if (id !== undefined)
    assert.ok((type === 2 || type === 3) && Number.isSafeInteger(id) && id >= 0, "ack id");
  if (type === 3) assert.ok(id !== undefined, "ACK has an id");
  if (type === 0) assert.ok(data === undefined || isPlainObject(data), "CONNECT data");
  if (type === 1) assert.equal(data, undefined, "DISCONNECT data");
  if (type === 2)
    assert.ok(Array.isArray(data) && ["string", "number"].includes(typeof data[0]), "EVENT data");
  if (type === 3) assert.ok(Array.isArray(data), "ACK data");
  if (type === 4) assert.ok(typeof data === "string" || isPlainObject(data), "CONNECT_ERROR data");
  assert.ok(depthOf(data, DEFAULT_MAX_DEPTH + 1) <= DEFAULT_MAX_DEPTH, "depth bound");
  if (reconstructed) assert.ok(!hasPlaceholder(data), "every placeholder replaced");
}

function oracleSocket(text: string): unknown {
  const decoder = new Decoder();
  let out: unknown;
  decoder.on("decoded", (packet: unknown) => (out = packet));
  decoder.add(text);
  return out;
}

function normalizeEngine(packet: { type: string; data?: unknown }): unknown {
  const { type, data } = packet;
  if (data === undefined || typeof data === "string")
    return data === undefined ? { type } : { type, data };
  return { type, data: Array.from(data as Uint8Array) };
}

// ------------------------------------------------------------------ run

tap.test(`${INPUTS} random and mutated inputs to every decoder`, async (t) => {
  const protoKeys = Object.getOwnPropertyNames(Object.prototype).join();
  const failures: string[] = [];
  const counts = { inputs: 0, accepted: 0, rejected: 0, reconstructed: 0, oracleChecked: 0 };
  const decoder = new SocketDecoder();
  let slowest = 0;
  const started = Date.now();

  /** Run one decoder call: a result is checked, a DecodeError counted, anything else is a failure. */
  function run<T>(
    label: string,
    input: unknown,
    call: () => T,
    check: (value: T) => void,
  ): T | undefined {
    try {
      const value = call();
      check(value);
      counts.accepted++;
      return value;
    } catch (error) {
      if (error instanceof DecodeError) {
        counts.rejected++;
        return undefined;
      }
      if (failures.length < 10) {
        const shown =
          typeof input === "string" ? JSON.stringify(input.slice(0, 200)) : String(input);
        failures.push(`${label} on ${shown}: ${String(error)}`);
      }
      return undefined;
    }
  }

  function agree(label: string, input: string, ours: unknown, theirs: () => unknown): void {
    counts.oracleChecked++;
    try {
      assert.deepStrictEqual(ours, theirs());
    } catch (error) {
      if (failures.length < 10)
        failures.push(
          `${label} disagrees with the reference on ${JSON.stringify(input.slice(0, 200))}: ${String(error).slice(0, 300)}`,
        );
    }
  }

  function feedDecoder(chunk: string | Uint8Array): void {
    const binary = chunk instanceof Uint8Array;
    run(
      "SocketDecoder.add",
      chunk,
      () => decoder.add(chunk),
      (packet) => {
        if (packet !== null) {
          checkSocket(packet, binary);
          if (binary) counts.reconstructed++;
        } else assert.ok(decoder.awaitingAttachments, "null only while attachments are awaited");
      },
    );
  }

  for (let n = 0; n < INPUTS; n++) {
    const before = Date.now();
    counts.inputs++;
    const roll = random();
    if (roll < 0.08) {
      const bytes = randomBytes();
      run("decodeEnginePacket", bytes, () => decodeEnginePacket(bytes), checkEngine);
      feedDecoder(bytes);
      continue;
    }
    let text: string;
    let attachments: Uint8Array[] = [];
    if (roll < 0.18) {
      text = randomString();
    } else if (roll < 0.6) {
      const [socketText, ...rest] = pick(socketCorpus);
      text = random() < 0.15 ? socketText : mutate(socketText);
      attachments = rest;
    } else {
      text = mutate(pick(textCorpus));
    }

    const engine = run("decodeEnginePacket", text, () => decodeEnginePacket(text), checkEngine);
    if (engine !== undefined && n % 4 === 0) {
      agree("decodeEnginePacket", text, normalizeEngine(engine), () =>
        normalizeEngine(oracleDecodePacket(text)),
      );
    }
    const body = run(
      "decodePollingPayload",
      text,
      () => decodePollingPayload(text),
      (packets) => packets.forEach(checkEngine),
    );
    if (body !== undefined && n % 4 === 0) {
      agree("decodePollingPayload", text, body.map(normalizeEngine), () =>
        oracleDecodePayload(text).map(normalizeEngine),
      );
    }
    const socket = run(
      "decodeSocketPacket",
      text,
      () => decodeSocketPacket(text),
      (p) => checkSocket(p, false),
    );
    if (
      socket !== undefined &&
      n % 4 === 0 &&
      !(Array.isArray(socket.data) && socket.type === 2 && RESERVED_EVENTS.has(socket.data[0]))
    ) {
      agree("decodeSocketPacket", text, socket, () => oracleSocket(text));
    }

    // The stateful decoder gets sequences: the text, then 0..3 attachments
    // (the right ones, random ones or too many), then whatever comes next.
    feedDecoder(text);
    const extra = int(4);
    for (let i = 0; i < extra; i++) {
      const attachment = attachments[i];
      feedDecoder(attachment !== undefined && random() < 0.7 ? attachment : randomBytes());
    }
    if (random() < 0.1) decoder.reset();
    slowest = Math.max(slowest, Date.now() - before);
  }

  const elapsed = Date.now() - started;
  t.comment(`${JSON.stringify(counts)}; slowest input ${slowest} ms; total ${elapsed} ms`);
  t.strictSame(failures, [], "only packets or DecodeErrors, agreeing with the references");
  t.equal(counts.inputs, INPUTS);
  t.ok(counts.accepted > INPUTS / 10, "a fair share of inputs decode to packets");
  t.ok(counts.rejected > INPUTS / 2, "most inputs are rejected");
  t.ok(
    counts.oracleChecked > 5000,
    `accepted inputs were checked against the references (${counts.oracleChecked})`,
  );
  t.ok(counts.reconstructed > 1000, `binary packets were reassembled (${counts.reconstructed})`);
  t.ok(slowest < 2000, "no input takes more than 2 s");
  t.equal(
    Object.getOwnPropertyNames(Object.prototype).join(),
    protoKeys,
    "Object.prototype unchanged",
  );
  t.equal(({} as Record<string, unknown>).polluted, undefined);
  // The shared decoder still works after 100k inputs and many errors.
  decoder.reset();
  t.strictSame(decoder.add('2["still",1]'), { type: 2, nsp: "/", data: ["still", 1] });
});
