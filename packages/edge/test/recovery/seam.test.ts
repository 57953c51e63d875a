/**
 * The seam: events keep being published while a client leaves and comes
 * back (embedded node, and from node A to node B over JetStream). The
 * client's final sequence of offsets for the room must be exactly the
 * room's: strictly increasing, every offset from the first to the last,
 * nothing missing, nothing twice, whether an event arrived in the replay,
 * in the seam buffer or live.
 */
import { delay, startNats, startNatsCluster, waitFor } from "@calcbridge/testing";
import t, { type Test } from "tap";
import type { Emitter } from "@calcbridge/bridge-nats";
import {
  TENANT,
  emitterOn,
  increasing,
  jetStreamNode,
  memoryNode,
  nums,
  offsetProblems,
  publishSeq,
  rawGot,
  rawSeen,
  rawSubscribe,
  serverSocketGone,
  sessionStored,
  sioRecorder,
  tokenFor,
  type Got,
  type RawClient,
} from "../recovery-helpers.js";

/** Events published in all, one every ~1 ms: the reconnects happen in the middle. */
const TOTAL = 300;
/** The client leaves each time it has this many events in all. */
const LEAVE_AT = [60, 140, 220] as const;

/** Publishes TOTAL numbered events with `publish(seq)`, yielding a timer tick between them. */
async function stream(publish: (seq: number) => void): Promise<void> {
  for (let seq = 0; seq < TOTAL; seq++) {
    publish(seq);
    await delay(1);
  }
}

/** Counts of one leave-and-return: received before, published until back. */
interface Hop {
  received: number;
  publishedWhenBack: number;
}

function seamComment(t: Test, label: string, hops: readonly Hop[]): void {
  const text = hops
    .map((h) => `left at ${h.received}, back when ${h.publishedWhenBack} were published`)
    .join("; ");
  t.comment(`${label}: ${text}`);
}

t.test("embedded Socket.IO: three reconnects while 300 events are published", async (t) => {
  const { node, url } = await memoryNode(t);
  const room = "job:seam_sio";
  const c = await sioRecorder(t, url, await tokenFor("alice", TENANT), [room]);
  const id = c.socket.id!;
  const offsets: string[] = [];
  const publishing = stream((seq) => offsets.push(...publishSeq(node, room, "s", 1, seq)));
  const hops: Hop[] = [];
  for (const at of LEAVE_AT) {
    await c.count(at, 5000);
    const received = c.got.length;
    await c.drop();
    await serverSocketGone(node, id);
    const back = await c.reconnect();
    hops.push({ received, publishedWhenBack: offsets.length });
    t.equal(back.recovered, true, `recovered after ${received} events`);
    t.equal(back.id, id, "same id");
  }
  await publishing;
  await c.seen("s", TOTAL - 1, 5000);
  await delay(50);

  t.ok(hops.at(-1)!.publishedWhenBack < TOTAL, "the last reconnect ended mid-stream");
  t.equal(
    offsetProblems(nums(c.got), offsets.map(Number)),
    undefined,
    "every offset, once, in order",
  );
  t.same(
    c.got.map((g) => g.seq),
    Array.from({ length: TOTAL }, (_, i) => i),
  );
  seamComment(t, "embedded Socket.IO", hops);
});

t.test("embedded raw: three subscribes since while 300 events are published", async (t) => {
  const { node, port } = await memoryNode(t);
  const token = await tokenFor("alice", TENANT);
  const room = "job:seam_raw";
  let client = (await rawSubscribe(t, port, token, room)).client;
  const offsets: string[] = [];
  const publishing = stream((seq) => offsets.push(...publishSeq(node, room, "s", 1, seq)));
  const all: Got[] = [];
  const hops: Hop[] = [];
  const real = () => [...all, ...rawGot(client)];
  for (const at of LEAVE_AT) {
    await waitFor(() => real().length >= at, { timeout: 5000, message: `${at} events` });
    client.ws.close();
    await client.closed;
    all.push(...rawGot(client));
    const again = await rawSubscribe(t, port, token, room, all.at(-1)!.offset);
    t.equal(again.gap, undefined, "no gap");
    hops.push({ received: all.length, publishedWhenBack: offsets.length });
    client = again.client;
  }
  await publishing;
  await waitFor(() => real().some((g) => g.seq === TOTAL - 1), {
    timeout: 5000,
    message: `event #${TOTAL - 1}`,
  });
  await delay(50);

  t.equal(
    offsetProblems(nums(real()), offsets.map(Number)),
    undefined,
    "exactly the room's offsets",
  );
  seamComment(t, "embedded raw", hops);
});

interface JsSetup {
  emitter: Emitter;
  nodes: Awaited<ReturnType<typeof jetStreamNode>>[];
  observer: RawClient;
}

/**
 * Two JetStream nodes, an Emitter and, on node A, an observer for the
 * ground truth: on one nats-server, or on a 3-server NATS cluster with node
 * A, node B and the publisher each on its own server.
 */
async function jsSetup(t: Test, room: string, servers: 1 | 3): Promise<JsSetup> {
  let urls: string[];
  if (servers === 1) {
    urls = [(await startNats({ jetstream: true, t })).url];
  } else {
    const cluster = await startNatsCluster(3, { jetstream: true, t });
    urls = cluster.urls;
  }
  const at = (i: number) => [urls[i % urls.length]!];
  const a = await jetStreamNode(t, { nodeId: "a", servers: at(0) });
  const b = await jetStreamNode(t, { nodeId: "b", servers: at(1) });
  const emitter = await emitterOn(t, at(2));
  const { client: observer } = await rawSubscribe(
    t,
    a.port,
    await tokenFor("observer", TENANT),
    room,
  );
  return { emitter, nodes: [a, b], observer };
}

/** The observer's offsets, once it has the whole stream in order. */
async function truth(t: Test, observer: RawClient): Promise<number[]> {
  await rawSeen(observer, "s", TOTAL - 1, 5000);
  const seen = rawGot(observer).filter((g) => g.src === "s");
  t.ok(
    seen.length === TOTAL && seen.every((g, i) => g.seq === i) && increasing(nums(seen)),
    "the observer on node A saw every event once, in order",
  );
  return nums(seen);
}

/**
 * Until the subscriptions of `nodes` reach the publisher's server, events are
 * not delivered live: publish probes (numbered from -1 down, src "probe")
 * until every reader has one.
 */
async function interestSettled(
  emitter: Emitter,
  room: string,
  readers: (() => readonly Got[])[],
): Promise<void> {
  for (let probe = -1; probe > -200; probe--) {
    emitter
      .to(room)
      .emit("job.progress", { job_id: "probe", progress: 0, src: "probe", seq: probe });
    await delay(20);
    if (readers.every((read) => read().some((g) => g.src === "probe" && g.seq === probe))) return;
  }
  throw new Error("the room's interest never settled");
}

const NATS_SETUPS = [
  { servers: 1, name: "one nats-server" },
  { servers: 3, name: "a 3-server NATS cluster" },
] as const;

for (const { servers, name } of NATS_SETUPS) {
  t.test(
    `JetStream Socket.IO on ${name}: hop between nodes while 300 events are published`,
    async (t) => {
      const room = `job:seam_sio_${servers}`;
      const { emitter, nodes, observer } = await jsSetup(t, room, servers);
      const c = await sioRecorder(t, nodes[0]!.url, await tokenFor("alice", TENANT), [room]);
      await interestSettled(emitter, room, [() => rawGot(observer), () => c.got]);
      const base = c.got.length;
      const id = c.socket.id!;
      let published = 0;
      const publishing = stream((seq) => {
        emitter
          .to(room)
          .emit("job.progress", { job_id: room.slice(4), progress: 0, src: "s", seq });
        published++;
      });
      const hops: Hop[] = [];
      for (const [i, at] of LEAVE_AT.entries()) {
        await c.count(base + at, 5000);
        const received = c.got.length - base;
        const pid = c.pid!;
        const from = nodes[i % 2]!;
        await c.drop();
        await sessionStored(from.bus, pid);
        const back = await c.reconnect(nodes[(i + 1) % 2]!.url);
        hops.push({ received, publishedWhenBack: published });
        t.equal(back.recovered, true, `recovered on node ${(i + 1) % 2 === 0 ? "A" : "B"}`);
        t.equal(back.id, id, "same id");
      }
      await publishing;
      const expected = await truth(t, observer);
      await c.seen("s", TOTAL - 1, 5000);
      await delay(50);

      const got = c.got.filter((g) => g.src === "s");
      t.equal(offsetProblems(nums(got), expected), undefined, "exactly the room's offsets");
      seamComment(t, `JetStream Socket.IO, ${name}`, hops);
    },
  );

  t.test(
    `JetStream raw on ${name}: subscribe since on the other node while 300 events are published`,
    async (t) => {
      const room = `job:seam_raw_${servers}`;
      const { emitter, nodes, observer } = await jsSetup(t, room, servers);
      const token = await tokenFor("alice", TENANT);
      let client = (await rawSubscribe(t, nodes[0]!.port, token, room)).client;
      await interestSettled(emitter, room, [() => rawGot(observer), () => rawGot(client)]);
      let published = 0;
      const publishing = stream((seq) => {
        emitter
          .to(room)
          .emit("job.progress", { job_id: room.slice(4), progress: 0, src: "s", seq });
        published++;
      });
      const all: Got[] = [];
      const hops: Hop[] = [];
      const real = () => [...all, ...rawGot(client)].filter((g) => g.src === "s");
      for (const [i, at] of LEAVE_AT.entries()) {
        await waitFor(() => real().length >= at, { timeout: 5000, message: `${at} events` });
        client.ws.close();
        await client.closed;
        all.push(...rawGot(client));
        const again = await rawSubscribe(
          t,
          nodes[(i + 1) % 2]!.port,
          token,
          room,
          all.at(-1)!.offset,
        );
        t.equal(again.gap, undefined, "no gap");
        hops.push({
          received: all.filter((g) => g.src === "s").length,
          publishedWhenBack: published,
        });
        client = again.client;
      }
      await publishing;
      const expected = await truth(t, observer);
      await waitFor(() => real().some((g) => g.seq === TOTAL - 1), {
        timeout: 5000,
        message: `event #${TOTAL - 1}`,
      });
      await delay(50);

      t.equal(offsetProblems(nums(real()), expected), undefined, "exactly the room's offsets");
      seamComment(t, `JetStream raw, ${name}`, hops);
    },
  );
}
