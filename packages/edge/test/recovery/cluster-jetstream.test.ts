/**
 * Recovery in a cluster: two edge nodes on a real nats-server with
 * JetStream history (offsets are stream sequences) and JetStream sessions.
 * A client leaves node A and comes back on node B, events published meanwhile
 * by a backend service (an Emitter on its own NATS connection): Socket.IO
 * clients are recovered (id, rooms, data, missed events in order, then
 * live), raw clients replay `since`; beyond retention, a gap; a stolen pid
 * recovers nothing; and the history outlives the node the client was on.
 */
import { delay, startNats } from "@calcbridge/testing";
import t, { type Test } from "tap";
import { jobPath, rawOpen } from "../api-helpers.js";
import {
  QUIET_MS,
  SioRecorder,
  TENANT,
  emitSeq,
  emitterOn,
  jetStreamNode,
  nums,
  rawGot,
  rawSeen,
  rawSubscribers,
  rawSubscribe,
  serverSocket,
  sessionStored,
  sioRecorder,
  streamLastSeq,
  streamReached,
  streamState,
  subjectOf,
  tokenFor,
  type Transport,
} from "../recovery-helpers.js";

/** A nats-server with JetStream, two nodes on it (started in turn) and a publisher. */
async function cluster(t: Test, options: { maxPerRoom?: number; maxBytes?: number } = {}) {
  const nats = await startNats({ jetstream: true, t });
  const a = await jetStreamNode(t, { nodeId: "a", servers: [nats.url], ...options });
  const b = await jetStreamNode(t, { nodeId: "b", servers: [nats.url], ...options });
  const emitter = await emitterOn(t, [nats.url]);
  return { nats, a, b, emitter };
}

for (const transport of ["websocket", "polling"] as Transport[]) {
  t.test(
    `${transport}: recovered on another node, missed events in order, then live`,
    async (t) => {
      const { a, b, emitter } = await cluster(t);
      const job = `job:js_${transport}`;
      const notes = "notifications:alice";
      const c = await sioRecorder(
        t,
        a.url,
        await tokenFor("alice", TENANT),
        [job, notes],
        transport,
      );
      await a.flush();
      emitSeq(emitter, job, "job", 2);
      await c.count(2);
      const id = c.socket.id!;
      (await serverSocket(a.node, id)).data["note"] = "travels with the session";
      const pid = c.pid!;

      await c.drop();
      await sessionStored(a.bus, pid);
      const last = await streamLastSeq(a.bus);
      emitSeq(emitter, job, "job", 2, 2);
      emitSeq(emitter, notes, "note", 1);
      emitSeq(emitter, job, "job", 1, 4);
      emitSeq(emitter, notes, "note", 1, 1);
      await streamReached(a.bus, last + 5);

      const back = await c.reconnect(b.url);
      t.equal(back.recovered, true, "socket.recovered");
      t.equal(back.id, id, "same socket.id");
      await c.count(7);
      t.same(
        c.got.slice(2).map((g) => `${g.src}#${g.seq}`),
        ["job#2", "job#3", "note#0", "job#4", "note#1"],
        "exactly the missed events, in publish order",
      );
      t.same(
        nums(c.got),
        Array.from({ length: 7 }, (_, i) => Number(c.got[0]!.offset) + i),
        "offsets are the stream's sequences: consecutive here",
      );
      t.ok(
        c.got.every((g) => g.envelopeOffset === g.offset),
        "envelope and trailing offsets agree",
      );

      const restored = await serverSocket(b.node, id);
      t.equal(restored.recovered, true, "server-side recovered on node B");
      t.equal(restored.data["note"], "travels with the session", "socket.data restored on node B");
      t.ok(restored.rooms.has(subjectOf(job)) && restored.rooms.has(subjectOf(notes)), "rooms");

      emitSeq(emitter, job, "job", 1, 5);
      emitSeq(emitter, notes, "note", 1, 2);
      await c.count(9);
      await delay(QUIET_MS);
      t.equal(c.got.length, 9, "no duplicate");
      t.same(
        nums(c.got),
        Array.from({ length: 9 }, (_, i) => Number(c.got[0]!.offset) + i),
        "live after the replay, no gap, no duplicate",
      );
    },
  );
}

t.test("raw since on another node: /ws subscribe and /ws/jobs/{id}?since=", async (t) => {
  const { a, b, emitter } = await cluster(t);
  const token = await tokenFor("alice", TENANT);
  const room = "job:js_raw";
  const first = await rawSubscribe(t, a.port, token, room);
  const auto = await rawOpen(t, a.port, jobPath("js_raw"), { token, header: true });
  await rawSubscribers(a.node, room, 2);
  await a.flush();
  emitSeq(emitter, room, "e", 2);
  await first.client.eventCount(2);
  await auto.eventCount(2);
  const since = rawGot(first.client).at(-1)!.offset;
  t.equal(rawGot(auto).at(-1)!.offset, since, "both saw the same offsets");
  first.client.ws.close();
  auto.ws.close();
  await Promise.all([first.client.closed, auto.closed]);

  emitSeq(emitter, room, "e", 4, 2);
  emitSeq(emitter, "job:js_raw_other", "x", 2);
  await streamReached(a.bus, Number(since) + 6);

  const again = await rawSubscribe(t, b.port, token, room, since);
  t.same(again.answer, { type: "subscribed", room, replayed: 4 });
  t.same(
    rawGot(again.client).map((g) => g.seq),
    [2, 3, 4, 5],
    "exactly the missed, in order",
  );
  const back = await rawOpen(t, b.port, `${jobPath("js_raw")}?since=${since}`, {
    token,
    header: true,
  });
  await back.eventCount(4);
  t.same(nums(rawGot(back)), nums(rawGot(again.client)), "the endpoint replays the same");

  emitSeq(emitter, room, "e", 1, 6);
  await rawSeen(again.client, "e", 6);
  await rawSeen(back, "e", 6);
  await delay(QUIET_MS);
  for (const client of [again.client, back]) {
    const got = rawGot(client);
    t.same(
      got.map((g) => g.seq),
      [2, 3, 4, 5, 6],
      "then live, no duplicate",
    );
    t.ok(
      nums(got).every((o, i, l) => i === 0 || o > l[i - 1]!),
      "offsets increase",
    );
  }
});

t.test(
  "beyond maxPerRoom in JetStream: recovery_gap for raw, recovered false for Socket.IO",
  async (t) => {
    const { a, b, emitter } = await cluster(t, { maxPerRoom: 5 });
    const token = await tokenFor("alice", TENANT);
    const room = "job:js_gap";
    const c = await sioRecorder(t, a.url, token, [room]);
    await a.flush();
    emitSeq(emitter, room, "e", 1);
    await c.count(1);
    const since = c.got[0]!.offset;
    const id = c.socket.id!;
    await c.drop();
    await sessionStored(a.bus, c.pid!);
    emitSeq(emitter, room, "e", 8, 1);
    await streamReached(a.bus, Number(since) + 8);

    const raw = await rawSubscribe(t, b.port, token, room, since);
    t.same(raw.gap, { type: "recovery_gap", room, since }, "raw: recovery_gap");
    t.same(raw.answer, { type: "subscribed", room });
    t.equal(raw.client.events.length, 0, "raw: no partial replay");

    const back = await c.reconnect(b.url);
    t.equal(back.recovered, false, "Socket.IO: not recovered");
    t.not(back.id, id, "Socket.IO: a new id");
    await delay(QUIET_MS);
    t.equal(c.got.length, 1, "Socket.IO: nothing replayed");
    await c.subscribe(room);

    emitSeq(emitter, room, "e", 1, 9);
    await rawSeen(raw.client, "e", 9);
    await c.seen("e", 9);
    t.same(
      rawGot(raw.client).map((g) => g.seq),
      [9],
      "raw: then live",
    );
    t.same(
      c.got.map((g) => g.seq),
      [0, 9],
      "Socket.IO: then live",
    );
  },
);

t.test("a stolen pid presented on another node recovers nothing", async (t) => {
  const { a, b, emitter } = await cluster(t);
  const room = "notifications:alice";
  const alice = await sioRecorder(t, a.url, await tokenFor("alice", TENANT), [room]);
  await a.flush();
  emitSeq(emitter, room, "n", 1);
  await alice.count(1);
  const pid = alice.pid!;
  await alice.drop();
  await sessionStored(a.bus, pid);
  emitSeq(emitter, room, "n", 2, 1);

  const thief = new SioRecorder(t, b.url, await tokenFor("mallory", TENANT));
  Object.assign(thief.socket, { _pid: pid, _lastOffset: alice.lastOffset });
  await thief.start();
  t.equal(thief.socket.recovered, false, "not recovered");
  t.not(thief.socket.id, alice.socket.id ?? alice.connects[0]!.id);
  const s = await serverSocket(b.node, thief.socket.id!);
  t.same([...s.rooms], [s.id], "none of alice's rooms");
  emitSeq(emitter, room, "n", 1, 3);
  await delay(QUIET_MS);
  t.same(thief.got, [], "none of alice's events");
});

t.test("the history outlives the node: client on A, A closed, recovered on B", async (t) => {
  const { a, b, emitter } = await cluster(t);
  const room = "job:js_restart";
  const c = await sioRecorder(t, a.url, await tokenFor("alice", TENANT), [room]);
  await a.flush();
  emitSeq(emitter, room, "e", 3);
  await c.count(3);
  const id = c.socket.id!;
  const pid = c.pid!;
  const gone = new Promise<string>((resolve) => c.socket.once("disconnect", resolve));
  await a.close();
  t.equal(await gone, "transport close", "the client saw its node go away");
  // Node A is gone, with its NATS connection: B's connection reads the store.
  await sessionStored(b.bus, pid);
  const last = await streamLastSeq(b.bus);
  emitSeq(emitter, room, "e", 4, 3);
  await streamReached(b.bus, last + 4);

  const back = await c.reconnect(b.url);
  t.equal(back.recovered, true, "recovered on B");
  t.equal(back.id, id, "same id");
  await c.count(7);
  t.same(
    c.got.map((g) => g.seq),
    [0, 1, 2, 3, 4, 5, 6],
    "every event once, in order",
  );
  emitSeq(emitter, room, "e", 1, 7);
  await c.count(8);
  t.ok(
    nums(c.got).every((o, i, l) => i === 0 || o === l[i - 1]! + 1),
    "consecutive offsets",
  );
});

t.test(
  "an event trimmed from the stream's head is a gap, however recent the node's view",
  async (t) => {
    // max_bytes trims the oldest events of the stream, like max_age, but
    // without a timer: deterministic.
    const { a, b, emitter } = await cluster(t, { maxBytes: 2048 });
    const token = await tokenFor("alice", TENANT);
    const room = "job:js_head";
    emitSeq(emitter, room, "e", 2);
    await streamReached(a.bus, 2);
    // Another client's catch-up on node B reads the stream's head now.
    const other = await rawSubscribe(t, b.port, token, "job:js_head_other", "1");
    t.equal(other.gap, undefined);
    // Fillers in another room push the room's event #1 (sequence 2) out.
    for (let i = 0; i < 100 && (await streamState(a.bus)).first_seq <= 2; i++) {
      emitSeq(emitter, "job:js_head_other", "f", 1, i);
      await streamReached(a.bus, 3 + i);
    }
    t.ok((await streamState(a.bus)).first_seq > 2, "sequence 2 was trimmed");
    const last = await streamLastSeq(a.bus);
    emitSeq(emitter, room, "e", 1, 2);
    await streamReached(a.bus, last + 1);

    // A client that saw sequence 1 missed sequence 2: it must be told.
    const sub = await rawSubscribe(t, b.port, token, room, "1");
    t.same(sub.gap, { type: "recovery_gap", room, since: "1" }, "recovery_gap");
    t.equal(sub.client.events.length, 0, "no partial replay");
  },
);
