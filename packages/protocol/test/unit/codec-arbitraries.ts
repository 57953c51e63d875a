/**
 * fast-check arbitraries for the Engine.IO / Socket.IO codec tests: packets
 * that both our codec and the reference parsers (engine.io-parser 5,
 * socket.io-parser 4) accept. What is left out, and why, is said at each
 * exclusion; each is an intentional difference documented in the sources.
 */
import fc from "fast-check";
import type { EnginePacket, EnginePacketType } from "../../src/engineio.js";
import type { SocketPacket } from "../../src/socketio.js";

/** socket.io-parser refuses these event names on decode; we leave them to the server. */
export const RESERVED_EVENTS: ReadonlySet<unknown> = new Set([
  "connect",
  "connect_error",
  "disconnect",
  "disconnecting",
  "newListener",
  "removeListener",
]);

const SPECIAL = [
  ...'\u001e\u0000\n"\\,/-[]{}0123456789b=_',
  "\u2028",
  "😀",
  "\ud800",
  "\udfff",
  "€",
];

/** Strings from every corner: ASCII, code points, lone surrogates, the characters the wire formats use. */
export const anyString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: "binary", maxLength: 8 }),
  fc.string({
    unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
    maxLength: 8,
  }),
  fc.string({ unit: fc.constantFrom(...SPECIAL), maxLength: 8 }),
);

// Keys: "__proto__" is left out because socket.io-parser's deconstruct
// assigns it with `obj[key] =`, which sets a prototype and loses the key (we
// keep it as data); "_placeholder" because a look-alike placeholder in data
// is ambiguous on the wire for both parsers.
const keyArb = fc
  .oneof(anyString, fc.constantFrom("num", "constructor", "toString", "type", ""))
  .filter((k) => k !== "__proto__" && k !== "_placeholder");

const leafArb: fc.Arbitrary<unknown> = fc.oneof(
  anyString,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.date(),
);

/** Bytes as each kind of binary the encoder accepts (Buffer, views at an offset, ArrayBuffer). */
export const binaryArb: fc.Arbitrary<unknown> = fc
  .tuple(fc.uint8Array({ maxLength: 12 }), fc.integer({ min: 0, max: 5 }))
  .map(([bytes, kind]) => {
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes, 3);
    switch (kind) {
      case 0:
        return Buffer.from(bytes);
      case 1:
        return new Uint8Array(bytes);
      case 2:
        return new Uint8Array(bytes).buffer;
      case 3:
        return new DataView(padded.buffer, 3, bytes.length);
      case 4:
        return new Int8Array(padded.buffer, 3, bytes.length);
      default:
        return padded.subarray(3);
    }
  });

function valueArb(withBinary: boolean): fc.Arbitrary<unknown> {
  return fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { maxDepth: 4, depthSize: "small" },
      leafArb,
      withBinary ? binaryArb : leafArb,
      fc.array(tie("value"), { maxLength: 4 }),
      fc.dictionary(keyArb, tie("value"), { maxKeys: 4, noNullPrototype: true }),
    ),
  })).value;
}

export const jsonValueArb = valueArb(false);
export const anyValueArb = valueArb(true);
const objectArb = fc.dictionary(keyArb, jsonValueArb, { maxKeys: 4, noNullPrototype: true });

/** Namespaces; a "," cannot be written (the text format ends the namespace there). */
export const nspArb = fc.oneof(
  fc.constant("/"),
  anyString.filter((s) => !s.includes(",")).map((s) => "/" + s),
);
const idArb = fc.oneof(fc.nat(1000), fc.maxSafeNat());
const eventNameArb = fc.oneof(anyString, fc.constantFrom(...RESERVED_EVENTS), fc.integer());

function build(
  type: SocketPacket["type"],
  nsp: string,
  id: number | null,
  data: unknown,
): SocketPacket {
  const packet: SocketPacket = { type, nsp };
  if (id !== null) packet.id = id;
  if (data !== undefined) packet.data = data;
  return packet;
}

/** Valid packets of every type; EVENT and ACK data hold binary now and then. */
export const socketPacketArb: fc.Arbitrary<SocketPacket> = fc.oneof(
  fc
    .tuple(nspArb, fc.option(objectArb, { nil: undefined }))
    .map(([nsp, data]) => build(0, nsp, null, data)),
  nspArb.map((nsp) => build(1, nsp, null, undefined)),
  fc
    .tuple(nspArb, fc.option(idArb), eventNameArb, fc.array(anyValueArb, { maxLength: 4 }))
    .map(([nsp, id, name, args]) => build(2, nsp, id, [name, ...args])),
  fc
    .tuple(nspArb, idArb, fc.array(anyValueArb, { maxLength: 4 }))
    .map(([nsp, id, args]) => build(3, nsp, id, args)),
  fc.tuple(nspArb, fc.oneof(anyString, objectArb)).map(([nsp, data]) => build(4, nsp, null, data)),
);

export const engineTypeArb: fc.Arbitrary<EnginePacketType> = fc.constantFrom(
  "open",
  "close",
  "ping",
  "pong",
  "message",
  "upgrade",
  "noop",
);

/** Engine.IO packets: text of any type, or a binary message. */
export function enginePacketArb(options: { separator: boolean }): fc.Arbitrary<EnginePacket> {
  // In a polling body a text packet cannot contain 0x1e: engine.io-parser
  // writes it anyway (an ambiguous body), our encoder refuses it.
  const text = options.separator ? anyString : anyString.filter((s) => !s.includes("\u001e"));
  return fc.oneof(
    fc
      .tuple(engineTypeArb, fc.option(text, { nil: undefined }))
      .map(([type, data]) => (data === undefined ? { type } : { type, data })),
    fc.uint8Array({ maxLength: 24 }).map((data): EnginePacket => ({ type: "message", data })),
  );
}
