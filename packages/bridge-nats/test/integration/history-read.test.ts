/**
 * JetStreamHistory.read on a real nats-server: a read stops at the end it
 * fixed when it started, even while events keep arriving, and the live
 * subject (subscribed before the read) has everything after that end; many
 * concurrent reads of one subject share passes over the stream and each
 * gets exactly its own events, limit and gap.
 */
import t, { type Test } from "tap";
import { delay, startNats, waitFor } from "@calcbridge/testing";
import { liveSubject, parseRoom, subjectFor, type HistoryRead } from "@calcbridge/protocol";
import { jetstreamManager } from "@nats-io/jetstream";
import {
  DEFAULT_HISTORY_STREAM,
  Emitter,
  JetStreamHistory,
  type NatsBus,
} from "../../src/index.js";
import { startBus } from "../helpers.js";

// One real nats-server (JetStream) for the whole file; each test uses its own rooms.
const nats = await startNats({ t, jetstream: true });
const TENANT = "t_read";
const subjectOf = (room: string) => subjectFor(TENANT, parseRoom(room));

/** The offsets the stream republishes on the live subject of `room`, in arrival order. */
function liveOffsets(bus: NatsBus, room: string): number[] {
  const seen: number[] = [];
  bus.subscribe(liveSubject(subjectOf(room)), (_data, _subject, _reply, meta) => {
    if (meta?.sequence !== undefined) seen.push(meta.sequence);
  });
  return seen;
}

function publish(emitter: Emitter, room: string, n: number): void {
  for (let i = 0; i < n; i++)
    emitter.to(room).emit("job.progress", { job_id: room.slice(4), progress: i % 100 });
}

/** Offsets of a read, as numbers. */
const offsets = (read: HistoryRead) => read.events.map((e) => Number(e.offset));

/** What a read of `since` with `limit` must return, given every offset of the subject. */
function expected(all: readonly number[], since: number, limit: number) {
  const after = all.filter((o) => o > since);
  return after.length > limit
    ? { offsets: after.slice(0, limit), gap: true }
    : { offsets: after, gap: false };
}

async function setup(t: Test) {
  const reader = (await startBus(t, nats.url, { name: "history-reader" })).bus;
  const publisher = (await startBus(t, nats.url, { name: "history-publisher" })).bus;
  const history = await JetStreamHistory.start(reader, { storage: "memory" });
  t.teardown(() => history.close());
  return { reader, publisher, history, emitter: new Emitter(publisher, { tenant: TENANT }) };
}

t.test(
  "a read while events keep arriving ends at its end; the live subject has the rest",
  async (t) => {
    const { reader, publisher, history, emitter } = await setup(t);
    const room = "job:moving_head";
    const subject = subjectOf(room);
    // The truth: a second subscription, there before anything is published.
    const truth = liveOffsets(publisher, room);
    await publisher.flush();
    publish(emitter, room, 400);
    await waitFor(() => truth.length === 400, { message: "400 stored" });
    const since = truth[99]!;

    // Publish one event per millisecond from now until 50 have gone after the read.
    let readDone = false;
    let afterRead = 0;
    const publishing = (async () => {
      while (!readDone || afterRead < 50) {
        publish(emitter, room, 1);
        if (readDone) afterRead++;
        await delay(1);
      }
    })();
    await delay(20);
    // Live interest first, on the reader's connection, then the read: as the edge does.
    const live = liveOffsets(reader, room);
    const read = await history.read(subject, String(since), 1000);
    readDone = true;
    await publishing;
    const total = truth.length;
    await waitFor(() => live.length > 0 && live.at(-1) === truth.at(-1), {
      message: `the live subject reached ${truth.at(-1)}`,
    });

    t.equal(read.gap, false, "no gap");
    t.type(read.end, "string", "the read says where it stopped");
    const end = Number(read.end);
    t.same(
      offsets(read),
      truth.filter((o) => o > since && o <= end),
      "exactly the events after since up to its end",
    );
    t.same(
      offsets(read),
      Array.from({ length: end - since }, (_, i) => since + 1 + i),
      "contiguous offsets (one subject in the stream)",
    );
    t.ok(end > since + 300, `the end (${end}) is past the backlog`);
    t.ok(end < truth.at(-1)!, `events were stored after the end (${end} < ${truth.at(-1)})`);
    const rest = live.filter((o) => o > end);
    t.same(
      [...offsets(read), ...rest],
      truth.filter((o) => o > since),
      `read + live after the end: all ${total - 100} events after since, once, in order`,
    );
    t.equal(rest[0], end + 1, "the live subject has the first event after the end");
    t.equal(history.stats.passes, 1, "one pass");
  },
);

t.test(
  "200 concurrent reads of one subject: one pass, each its own events, limit and gap",
  async (t) => {
    const { publisher, history, emitter } = await setup(t);
    const room = "job:shared";
    const other = "job:shared_other";
    const truth = liveOffsets(publisher, room);
    const noise = liveOffsets(publisher, other);
    await publisher.flush();
    // Another room's events in between: offsets of the room are not contiguous.
    for (let i = 0; i < 300; i++) {
      publish(emitter, room, 1);
      if (i % 3 === 0) publish(emitter, other, 1);
    }
    await waitFor(() => truth.length === 300 && noise.length === 100, { message: "400 stored" });
    const last = Math.max(truth.at(-1)!, noise.at(-1)!);

    // Every kind of since: 0, before the room's first event, each of its
    // events, the other room's, the stream's last, beyond it; some with a
    // small limit.
    const asks: { since: number; limit: number }[] = [];
    for (let i = 0; i < 200; i++) {
      const since =
        i === 0
          ? 0
          : i === 1
            ? last
            : i === 2
              ? last + 10
              : i % 2 === 0
                ? truth[i]!
                : noise[i % 100]!;
      asks.push({ since, limit: i % 10 === 5 ? 5 : 1000 });
    }
    const t0 = performance.now();
    // Asked for in one tick: they share one pass.
    const reads = await Promise.all(
      asks.map((a) => history.read(subjectOf(room), String(a.since), a.limit)),
    );
    t.comment(`200 reads in ${(performance.now() - t0).toFixed(1)} ms`);

    let wrong = 0;
    for (const [i, a] of asks.entries()) {
      const want = expected(truth, a.since, a.limit);
      const got = reads[i]!;
      if (got.gap !== want.gap || JSON.stringify(offsets(got)) !== JSON.stringify(want.offsets)) {
        wrong++;
        if (wrong <= 3)
          t.fail(
            `since ${a.since} limit ${a.limit}: ${offsets(got).length} events, gap ${got.gap}`,
          );
      }
    }
    t.equal(wrong, 0, "every read has exactly its events and gap");
    t.ok(reads.filter((r) => r.gap).length >= 10, "the small limits are gaps");
    t.ok(
      reads.every((r) => r.events.every((e) => e.envelope.endsWith(`"offset":"${e.offset}"}`))),
      "each envelope carries its offset",
    );
    t.same(history.stats, { reads: 200, passes: 1 }, "one pass served them all");

    // Reads that come while a pass runs wait for the next one, together.
    const first = history.read(subjectOf(room), "0", 1000);
    await new Promise((resolve) => setImmediate(resolve));
    const more = await Promise.all(
      asks.slice(0, 100).map((a) => history.read(subjectOf(room), String(a.since), a.limit)),
    );
    t.same(offsets(await first), truth, "the first read");
    t.ok(
      more.every(
        (r, i) =>
          JSON.stringify(offsets(r)) ===
          JSON.stringify(expected(truth, asks[i]!.since, asks[i]!.limit).offsets),
      ),
      "the later reads",
    );
    t.ok(history.stats.passes <= 4, `${history.stats.passes - 1} passes for 101 more reads`);
    // Each pass deletes its consumer once it has read: none is left on the server.
    const jsm = await jetstreamManager(publisher.connection!);
    await waitFor(
      async () => (await jsm.streams.info(DEFAULT_HISTORY_STREAM)).state.consumer_count === 0,
      { message: "no consumer left on the history stream" },
    );
  },
);
