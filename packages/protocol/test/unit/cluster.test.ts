import t from "tap";
import fc from "fast-check";
import {
  DecodeError,
  broadcastSubject,
  decodeJsonBody,
  encodeJsonBody,
  heartbeatSubject,
  packFrames,
  requestSubject,
  subjectWildcard,
  unpackFrames,
} from "../../src/index.js";

t.test("cluster subjects sit beside the room subjects, never under them", async (t) => {
  t.equal(broadcastSubject("/"), "rt-cluster.b.~2F");
  t.equal(broadcastSubject("/admin.x"), "rt-cluster.b.~2Fadmin~2Ex");
  t.equal(requestSubject(), "rt-cluster.req");
  t.equal(heartbeatSubject("acme"), "acme-cluster.hb");
  const wildcard = subjectWildcard();
  t.equal(wildcard, "rt.>");
  for (const s of [broadcastSubject("/"), requestSubject(), heartbeatSubject()]) {
    t.notOk(s.startsWith("rt."), `${s} is outside ${wildcard}`);
  }
  t.throws(() => broadcastSubject("/", "bad prefix"), { code: "ERR_INVALID_SUBJECT_PREFIX" });
});

t.test("a single text frame packs to its UTF-8 bytes without a layout", async (t) => {
  const { layout, body } = packFrames(['42["a",1]']);
  t.equal(layout, undefined);
  t.same(unpackFrames(layout, body), ['42["a",1]']);
});

t.test("text and binary frames round-trip in order", async (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.string({ unit: "grapheme" }), fc.uint8Array({ maxLength: 64 })), {
        minLength: 1,
        maxLength: 6,
      }),
      (frames) => {
        const { layout, body } = packFrames(frames);
        const back = unpackFrames(layout, body);
        t.equal(back.length, frames.length);
        back.forEach((f, i) => {
          const want = frames[i]!;
          if (typeof want === "string") t.equal(f, want);
          else t.same([...(f as Uint8Array)], [...want]);
        });
      },
    ),
    { numRuns: 300, seed: 20261129 },
  );
});

t.test("bad layouts are DecodeErrors", async (t) => {
  const { body } = packFrames(["ab", new Uint8Array([1, 2])]);
  for (const layout of [null, [], [[2, 1]], [[0, -1]], [[0, 99]], [[0, 1]], [["0", 2]], "x"]) {
    t.throws(() => unpackFrames(layout, body), DecodeError, JSON.stringify(layout));
  }
  t.throws(
    () => unpackFrames(undefined, new Uint8Array([0xff, 0xfe])),
    DecodeError,
    "invalid UTF-8",
  );
});

t.test("JSON bodies", async (t) => {
  t.same(decodeJsonBody(encodeJsonBody({ a: [1, "x"] })), { a: [1, "x"] });
  t.throws(() => decodeJsonBody(new Uint8Array([0x7b])), DecodeError);
  const cyclic: Record<string, unknown> = {};
  cyclic["self"] = cyclic;
  t.throws(() => encodeJsonBody(cyclic), { code: "ERR_NOT_SERIALISABLE" });
});
