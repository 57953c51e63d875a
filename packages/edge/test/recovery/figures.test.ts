/**
 * Figures of recovery, printed as comments (speed is the bench's to assert;
 * these tests assert correctness only): the replay rate of a 1000-event
 * backlog (raw `since` and Socket.IO, embedded and JetStream), and a burst
 * of 200 Socket.IO clients that move from a drained node to another at
 * once, with recovery, against 200 that connect and subscribe anew.
 */
import { delay, startNats, waitFor } from "@calcbridge/testing";
import t from "tap";
import {
  SioRecorder,
  TENANT,
  emitSeq,
  emitterOn,
  increasing,
  jetStreamNode,
  memoryNode,
  nums,
  publishSeq,
  rawGot,
  rawSubscribe,
  serverSocketGone,
  sessionCount,
  sessionStored,
  sioRecorder,
  streamLastSeq,
  streamReached,
  tokenFor,
} from "../recovery-helpers.js";

const BACKLOG = 1000;
const LIMITS = { maxPerRoom: 2000 };

const rate = (n: number, ms: number): string => `${Math.round((n / Math.max(ms, 0.001)) * 1000)}`;

t.test(`replay of a ${BACKLOG}-event backlog`, async (t) => {
  const token = await tokenFor("alice", TENANT);

  t.test("embedded", async (t) => {
    const { node, port, url } = await memoryNode(t, { limits: LIMITS });
    const room = "job:fig_mem";
    const c = await sioRecorder(t, url, token, [room]);
    const [since] = publishSeq(node, room, "e", 1);
    await c.count(1);
    const id = c.socket.id!;
    await c.drop();
    await serverSocketGone(node, id);
    const backlog = publishSeq(node, room, "e", BACKLOG, 1);

    let start = performance.now();
    const raw = await rawSubscribe(t, port, token, room, since);
    const rawMs = performance.now() - start;
    t.same(raw.answer, { type: "subscribed", room, replayed: BACKLOG });
    t.same(nums(rawGot(raw.client)), backlog.map(Number), "raw: the whole backlog, in order");

    start = performance.now();
    const back = await c.reconnect();
    await c.count(BACKLOG + 1, 10_000);
    const sioMs = performance.now() - start;
    t.equal(back.recovered, true);
    t.same(nums(c.got.slice(1)), backlog.map(Number), "Socket.IO: the whole backlog, in order");
    t.comment(
      `embedded replay of ${BACKLOG}: raw since ${rawMs.toFixed(1)} ms (${rate(BACKLOG, rawMs)} events/s), ` +
        `Socket.IO reconnect to last event ${sioMs.toFixed(1)} ms (${rate(BACKLOG, sioMs)} events/s)`,
    );
  });

  t.test("JetStream, on another node", async (t) => {
    const nats = await startNats({ jetstream: true, t });
    const a = await jetStreamNode(t, { nodeId: "a", servers: [nats.url], ...LIMITS });
    const b = await jetStreamNode(t, { nodeId: "b", servers: [nats.url], ...LIMITS });
    const emitter = await emitterOn(t, [nats.url]);
    const room = "job:fig_js";
    const c = await sioRecorder(t, a.url, token, [room]);
    await a.flush();
    emitSeq(emitter, room, "e", 1);
    await c.count(1);
    const since = c.got[0]!.offset;
    const pid = c.pid!;
    await c.drop();
    await sessionStored(a.bus, pid);
    emitSeq(emitter, room, "e", BACKLOG, 1);
    await streamReached(a.bus, Number(since) + BACKLOG);

    let start = performance.now();
    const raw = await rawSubscribe(t, b.port, token, room, since);
    const rawMs = performance.now() - start;
    t.same(raw.answer, { type: "subscribed", room, replayed: BACKLOG });
    const rawSeqs = rawGot(raw.client).map((g) => g.seq);
    t.same(
      rawSeqs,
      Array.from({ length: BACKLOG }, (_, i) => i + 1),
      "raw: the whole backlog",
    );

    start = performance.now();
    const back = await c.reconnect(b.url);
    await c.count(BACKLOG + 1, 10_000);
    const sioMs = performance.now() - start;
    t.equal(back.recovered, true);
    t.same(nums(c.got.slice(1)), nums(rawGot(raw.client)), "Socket.IO: the same backlog, in order");
    t.comment(
      `JetStream replay of ${BACKLOG} on another node: raw since ${rawMs.toFixed(1)} ms ` +
        `(${rate(BACKLOG, rawMs)} events/s), Socket.IO reconnect to last event ${sioMs.toFixed(1)} ms ` +
        `(${rate(BACKLOG, sioMs)} events/s)`,
    );
  });
});

const CLIENTS = 200;
const ROOMS = 20;
const MISSED = 5;

function percentiles(list: number[]): string {
  const sorted = [...list].sort((x, y) => x - y);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  return `p50 ${at(0.5).toFixed(1)} ms, p95 ${at(0.95).toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms`;
}

/** Runs `fn` for every item, at most `n` at a time. */
async function inBatches<T>(items: readonly T[], n: number, fn: (item: T) => Promise<unknown>) {
  for (let i = 0; i < items.length; i += n) await Promise.all(items.slice(i, i + n).map(fn));
}

t.test(`${CLIENTS} Socket.IO clients move from a drained node to another at once`, async (t) => {
  const nats = await startNats({ jetstream: true, t });
  const a = await jetStreamNode(t, { nodeId: "a", servers: [nats.url] });
  const b = await jetStreamNode(t, { nodeId: "b", servers: [nats.url] });
  const emitter = await emitterOn(t, [nats.url]);
  const token = await tokenFor("alice", TENANT);
  const roomOf = (i: number) => `job:burst_${i % ROOMS}`;
  const rooms = Array.from({ length: ROOMS }, (_, i) => roomOf(i));

  const clients = Array.from({ length: CLIENTS }, () => new SioRecorder(t, a.url, token));
  await inBatches(clients, 50, async (c) => {
    await c.start();
    await c.subscribe(roomOf(clients.indexOf(c)));
  });
  await a.flush();
  for (const room of rooms) emitSeq(emitter, room, room, 1);
  await waitFor(() => clients.every((c) => c.got.length === 1), {
    timeout: 10_000,
    message: "every client has its first event",
  });
  const ids = clients.map((c) => c.socket.id!);
  const before = await sessionCount(b.bus);

  const gone = Promise.all(
    clients.map(
      (c) => new Promise<void>((resolve) => c.socket.once("disconnect", () => resolve())),
    ),
  );
  const drainStart = performance.now();
  await a.drain(200);
  await gone;
  const drainMs = performance.now() - drainStart;
  await waitFor(async () => (await sessionCount(b.bus)) >= before + CLIENTS, {
    timeout: 10_000,
    message: `${CLIENTS} sessions stored`,
  });
  const last = await streamLastSeq(b.bus);
  for (let n = 1; n <= MISSED; n++) for (const room of rooms) emitSeq(emitter, room, room, 1, n);
  await streamReached(b.bus, last + MISSED * ROOMS);

  // All at once, to node B, with recovery.
  const burstStart = performance.now();
  const recoverMs = await Promise.all(
    clients.map(async (c) => {
      const start = performance.now();
      await c.reconnect(b.url);
      return performance.now() - start;
    }),
  );
  await waitFor(() => clients.every((c) => c.got.length >= 1 + MISSED), {
    timeout: 10_000,
    message: "every client has its missed events",
  });
  const burstMs = performance.now() - burstStart;

  t.ok(
    clients.every((c) => c.socket.recovered),
    `every client recovered (${clients.filter((c) => c.socket.recovered).length}/${CLIENTS})`,
  );
  t.ok(
    clients.every((c, i) => c.socket.id === ids[i]),
    "every client kept its id",
  );
  const wrong = clients.filter(
    (c) =>
      c.got.length !== 1 + MISSED ||
      !c.got.every((g, n) => g.seq === n && g.src === roomOf(clients.indexOf(c))) ||
      !increasing(nums(c.got)),
  );
  t.equal(wrong.length, 0, "every client got every event of its room once, in order");

  for (const room of rooms) emitSeq(emitter, room, room, 1, MISSED + 1);
  await waitFor(() => clients.every((c) => c.got.length === MISSED + 2), {
    timeout: 10_000,
    message: "every client has the live event",
  });
  await delay(50);
  t.ok(
    clients.every((c) => c.got.length === MISSED + 2),
    "live after recovery, without subscribing again, no duplicate",
  );

  // The same burst without recovery: new sockets that connect, then subscribe.
  const fresh = Array.from({ length: CLIENTS }, () => new SioRecorder(t, b.url, token));
  const connectMs: number[] = [];
  const subscribedMs: number[] = [];
  const freshStart = performance.now();
  await Promise.all(
    fresh.map(async (c, i) => {
      const start = performance.now();
      await c.start();
      connectMs.push(performance.now() - start);
      await c.subscribe(roomOf(i));
      subscribedMs.push(performance.now() - start);
    }),
  );
  const freshMs = performance.now() - freshStart;
  t.equal(subscribedMs.length, CLIENTS, "every fresh client connected and subscribed");

  t.comment(
    `drain of node A (window 200 ms) to the last client's disconnect: ${drainMs.toFixed(0)} ms`,
  );
  t.comment(
    `${CLIENTS} reconnects at once with recovery (${MISSED} missed events each): ${percentiles(recoverMs)}; ` +
      `all caught up in ${burstMs.toFixed(0)} ms`,
  );
  t.comment(
    `${CLIENTS} connects at once without recovery: connect ${percentiles(connectMs)}; ` +
      `connect + subscribe ${percentiles(subscribedMs)}; all in ${freshMs.toFixed(0)} ms`,
  );
  const median = (l: number[]) => [...l].sort((x, y) => x - y)[Math.floor(l.length / 2)]!;
  t.comment(
    `added latency of recovery (p50 reconnect with recovery - p50 connect without): ` +
      `${(median(recoverMs) - median(connectMs)).toFixed(1)} ms`,
  );
});
