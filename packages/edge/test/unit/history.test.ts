/**
 * The embedded history and session store: global monotonic offsets,
 * retention by count, age and bytes, the gap flag (exact: a read since an
 * offset is a gap exactly when retention dropped an event of that room after
 * it), read limits, untrusted offsets; sessions taken once and expiring.
 * A seeded model-based run checks every read against a plain list.
 */
import t from "tap";
import type { StoredSession } from "@calcbridge/protocol";
import {
  DEFAULT_HISTORY_LIMITS,
  MemoryHistory,
  type HistoryLimits,
} from "../../src/history/memory-history.js";
import { MemorySessionStore } from "../../src/history/memory-session-store.js";

class Clock {
  ms = 1_000_000;
  readonly now = (): number => this.ms;
}

function history(limits: Partial<HistoryLimits> = {}, clock = new Clock()) {
  return { h: new MemoryHistory({ ...DEFAULT_HISTORY_LIMITS, ...limits }, clock.now), clock };
}

/** Appends an event whose envelope names its offset, as the publisher encodes it. */
function add(h: MemoryHistory, subject: string, tag = "x"): string {
  return h.append(subject, "job.progress", (o) => `{"tag":"${tag}","offset":"${o}"}`).offset;
}

const offsetsOf = (read: { events: { offset: string }[] }) => read.events.map((e) => e.offset);

t.test("offsets are global, monotonic decimal strings; envelopes carry theirs", async (t) => {
  const { h } = history();
  t.equal(h.latest, "0");
  const a1 = h.append("rt.t.job.a", "job.started", (o) => `{"offset":"${o}"}`);
  const b1 = add(h, "rt.t.job.b");
  const a2 = add(h, "rt.t.job.a");
  t.same([a1.offset, b1, a2], ["1", "2", "3"]);
  t.equal(h.latest, "3");
  t.match(a1, {
    offset: "1",
    subject: "rt.t.job.a",
    type: "job.started",
    envelope: '{"offset":"1"}',
  });
  const read = h.readNow("rt.t.job.a", "0", 100);
  t.same(offsetsOf(read), ["1", "3"], "only the room's events, in order");
  t.equal(read.gap, false);
  t.same(read.events[1], {
    offset: "3",
    subject: "rt.t.job.a",
    type: "job.progress",
    envelope: '{"tag":"x","offset":"3"}',
  });
  t.same(await h.read("rt.t.job.a", "1", 100), h.readNow("rt.t.job.a", "1", 100), "read = readNow");
  t.same(h.readNow("rt.t.job.a", "3", 100), { events: [], gap: false }, "since the latest: none");
  t.same(h.readNow("rt.t.job.none", "0", 100), { events: [], gap: false }, "unknown room");
});

t.test("limit: exactly `limit` events is complete, more is a gap", async (t) => {
  const { h } = history();
  for (let i = 0; i < 5; i++) add(h, "s");
  t.same(h.readNow("s", "0", 5), { events: h.readNow("s", "0", 100).events, gap: false });
  const cut = h.readNow("s", "0", 4);
  t.equal(cut.gap, true, "one more than the limit: a gap");
  t.same(offsetsOf(cut), ["1", "2", "3", "4"]);
  t.same(offsetsOf(h.readNow("s", "1", 4)), ["2", "3", "4", "5"]);
  t.equal(h.readNow("s", "1", 4).gap, false);
});

t.test("untrusted offsets are a gap", async (t) => {
  const { h } = history();
  add(h, "s");
  for (const since of ["2", "abc", "-1", "1.5", "1e3", String(2 ** 60)]) {
    t.same(h.readNow("s", since, 10), { events: [], gap: true }, JSON.stringify(since));
  }
  t.same(h.readNow("s", "1", 10), { events: [], gap: false }, "the latest is fine");
});

t.test("maxPerRoom keeps the newest of each room; older offsets read as a gap", async (t) => {
  const { h } = history({ maxPerRoom: 3 });
  for (let i = 0; i < 5; i++) add(h, "a"); // 1..5
  add(h, "b"); // 6
  t.same(offsetsOf(h.readNow("a", "0", 10)), ["3", "4", "5"]);
  t.equal(h.readNow("a", "0", 10).gap, true, "since 0: 1 and 2 were dropped");
  t.equal(h.readNow("a", "1", 10).gap, true, "since 1: 2 was dropped");
  t.same(h.readNow("a", "2", 10), { events: h.readNow("a", "0", 10).events, gap: false });
  t.same(h.readNow("b", "0", 10).gap, false, "another room is unaffected");
});

t.test("maxAgeMs drops old events, by the injected clock", async (t) => {
  const { h, clock } = history({ maxAgeMs: 1000 });
  add(h, "a"); // 1 at t0
  clock.ms += 600;
  add(h, "a"); // 2 at t0+600
  add(h, "b"); // 3 at t0+600
  clock.ms += 500; // 1 is 1100 ms old
  t.same(offsetsOf(h.readNow("a", "0", 10)), ["2"]);
  t.equal(h.readNow("a", "0", 10).gap, true);
  t.equal(h.readNow("a", "1", 10).gap, false);

  // Every event of every room expires.
  clock.ms += 2000;
  t.same(h.readNow("a", "1", 10), { events: [], gap: true }, "a room emptied by age: still a gap");
  t.same(h.readNow("b", "0", 10), { events: [], gap: true });
  t.same(h.readNow("a", "2", 10), { events: [], gap: false }, "since its last event: no gap");
  t.same(h.readNow("b", "3", 10), { events: [], gap: false });
  // The room lives on: a new event after the expiry keeps the old gap visible.
  add(h, "b"); // 4
  t.same(h.readNow("b", "0", 10), { events: h.readNow("b", "3", 10).events, gap: true });
  t.same(offsetsOf(h.readNow("b", "3", 10)), ["4"]);
});

t.test("maxBytes drops the oldest events across rooms", async (t) => {
  // Each envelope is 24 bytes: {"tag":"x","offset":"N"} with a 1-digit N.
  const { h } = history({ maxBytes: 90 });
  add(h, "a"); // 1
  add(h, "b"); // 2
  add(h, "a"); // 3
  add(h, "b"); // 4: 4 x 24 = 96 > 90, 1 goes
  t.same(offsetsOf(h.readNow("a", "0", 10)), ["3"]);
  t.equal(h.readNow("a", "0", 10).gap, true);
  t.same(offsetsOf(h.readNow("b", "0", 10)), ["2", "4"]);
  t.equal(h.readNow("b", "0", 10).gap, false, "room b lost nothing");
});

t.test("close forgets everything", async (t) => {
  const { h } = history();
  add(h, "a");
  await h.close();
  t.same(h.readNow("a", "0", 10).events, []);
});

/** A deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test(
  "model: every read is exactly the room's kept events, gap iff one was dropped",
  async (t) => {
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const random = rng(seed);
      const limits = {
        maxPerRoom: 2 + Math.floor(random() * 6),
        maxAgeMs: 200 + Math.floor(random() * 400),
        maxBytes: 300 + Math.floor(random() * 600),
      };
      const { h, clock } = history(limits);
      const rooms = ["r0", "r1", "r2"];
      /** The model: every event appended, and which of them retention dropped. */
      const all: { seq: number; room: string; at: number; bytes: number; dropped: boolean }[] = [];
      const liveBytes = () => all.filter((e) => !e.dropped).reduce((n, e) => n + e.bytes, 0);
      const evict = () => {
        for (const e of all) {
          if (e.dropped) continue;
          if (e.at >= clock.ms - limits.maxAgeMs && liveBytes() <= limits.maxBytes) break;
          e.dropped = true;
        }
      };
      let problems = 0;
      for (let step = 0; step < 300 && problems === 0; step++) {
        clock.ms += Math.floor(random() * 40);
        const room = rooms[Math.floor(random() * rooms.length)]!;
        const tag = "y".repeat(Math.floor(random() * 40));
        const offset = add(h, room, tag);
        const seq = Number(offset);
        all.push({
          seq,
          room,
          at: clock.ms,
          bytes: `{"tag":"${tag}","offset":"${offset}"}`.length,
          dropped: false,
        });
        const kept = all.filter((e) => e.room === room && !e.dropped);
        for (const e of kept.slice(0, Math.max(0, kept.length - limits.maxPerRoom)))
          e.dropped = true;
        evict();
        // Check every room since every offset now and then.
        if (step % 10 !== 9) continue;
        clock.ms += Math.floor(random() * 100);
        evict();
        for (const r of rooms) {
          for (let since = 0; since <= seq; since++) {
            const mine = all.filter((e) => e.room === r && e.seq > since);
            const want = {
              events: mine.filter((e) => !e.dropped).map((e) => String(e.seq)),
              gap: mine.some((e) => e.dropped),
            };
            const read = h.readNow(r, String(since), 1000);
            const got = { events: offsetsOf(read), gap: read.gap };
            if (JSON.stringify(got) !== JSON.stringify(want)) {
              problems++;
              t.same(got, want, `seed ${seed}, step ${step}, room ${r}, since ${since}`);
              break;
            }
          }
        }
      }
      t.equal(problems, 0, `seed ${seed}: ${JSON.stringify(limits)}`);
    }
  },
);

// ------------------------------------------------------------ sessions

function session(pid: string, at: number, extra: Partial<StoredSession> = {}): StoredSession {
  return { sid: `sid-${pid}`, pid, nsp: "/", rooms: ["r"], data: { n: 1 }, at, ...extra };
}

t.test("a session is taken once", async (t) => {
  const clock = new Clock();
  const store = new MemorySessionStore(1000, clock.now);
  await store.save(session("p1", clock.ms));
  t.same(await store.take("p1"), session("p1", clock.ms));
  t.equal(await store.take("p1"), undefined, "taken: gone");
  t.equal(await store.take("nope"), undefined);
});

t.test("sessions expire after ttlMs", async (t) => {
  const clock = new Clock();
  const store = new MemorySessionStore(1000, clock.now);
  await store.save(session("old", clock.ms));
  clock.ms += 600;
  await store.save(session("young", clock.ms));
  clock.ms += 500; // old: 1100 ms, young: 500 ms
  t.equal(await store.take("old"), undefined, "expired");
  t.ok(await store.take("young"), "within ttl");
});

t.test("saving a pid again replaces it and restarts its clock", async (t) => {
  const clock = new Clock();
  const store = new MemorySessionStore(1000, clock.now);
  await store.save(session("a", clock.ms, { rooms: ["first"] }));
  clock.ms += 300;
  await store.save(session("b", clock.ms));
  clock.ms += 300;
  await store.save(session("a", clock.ms, { rooms: ["second"] }));
  clock.ms += 800; // b: 1100 ms (expired), a: 800 ms
  t.equal(await store.take("b"), undefined, "b expired even though a was first saved before it");
  t.same((await store.take("a"))?.rooms, ["second"], "a is the latest save");
});

t.test("close forgets every session", async (t) => {
  const store = new MemorySessionStore(1000);
  await store.save(session("p", Date.now()));
  await store.close();
  t.equal(await store.take("p"), undefined);
});
