/**
 * A drained node's Socket.IO clients come back on another node at once
 * (JetStream history and sessions on a real nats-server): the drain stores
 * each client's session before it closes its connection, so a client that
 * reconnects within milliseconds is recovered, however slow the store; a
 * store that never answers holds a close back by DRAIN_SAVE_TIMEOUT_MS at
 * most. Then a small reconnect storm, clients in two rooms while events keep
 * arriving: every client recovered, every offset once, in order.
 */
import { delay, startNats } from "@calcbridge/testing";
import t, { type Test } from "tap";
import type { SessionStore } from "@calcbridge/protocol";
import { DRAIN_SAVE_TIMEOUT_MS } from "../../src/node.js";
import {
  TENANT,
  emitSeq,
  emitterOn,
  jetStreamNode,
  nums,
  offsetProblems,
  rawGot,
  rawSeen,
  rawSubscribe,
  sioRecorder,
  tokenFor,
  type SioRecorder,
} from "../recovery-helpers.js";

/** Saves go through `hold` first: a slow or silent store on the drained node. */
function holding(hold: () => Promise<void>): (store: SessionStore) => SessionStore {
  return (store) => ({
    save: async (session) => {
      await hold();
      await store.save(session);
    },
    take: (pid) => store.take(pid),
    close: () => store.close(),
  });
}

/** Two nodes on one nats-server, node A's session saves wrapped; a publisher. */
async function twoNodes(t: Test, sessions?: (store: SessionStore) => SessionStore) {
  const nats = await startNats({ jetstream: true, t });
  const a = await jetStreamNode(t, {
    nodeId: "a",
    servers: [nats.url],
    ...(sessions ? { sessions } : {}),
  });
  const b = await jetStreamNode(t, { nodeId: "b", servers: [nats.url] });
  const emitter = await emitterOn(t, [nats.url]);
  return { a, b, emitter };
}

/**
 * Reconnects `client` to `url` from inside its "disconnect" listener, the
 * moment node A closes it; resolves with the outcome and the close time.
 */
function backAtOnce(
  client: SioRecorder,
  url: string,
): Promise<{ recovered: boolean; id: string; closedAt: number }> {
  return new Promise((resolve, reject) => {
    client.socket.once("disconnect", () => {
      const closedAt = Date.now();
      client.reconnect(url).then((back) => resolve({ ...back, closedAt }), reject);
    });
  });
}

t.test(
  "drain: the session is stored before the close, a client back on B at once is recovered",
  async (t) => {
    // Node A's store takes 300 ms per save: a client back on B within
    // milliseconds finds its session only if the drain waited for it.
    const { a, b, emitter } = await twoNodes(
      t,
      holding(() => delay(300)),
    );
    const room = "job:drain_saved";
    const c = await sioRecorder(t, a.url, await tokenFor("alice", TENANT), [room]);
    await a.flush();
    emitSeq(emitter, room, "e", 3);
    await c.count(3);
    const id = c.socket.id!;

    const back = backAtOnce(c, b.url);
    const drained = a.drain(100);
    const outcome = await back;
    await drained;
    t.equal(outcome.recovered, true, "recovered on node B");
    t.equal(outcome.id, id, "same id");
    if (!outcome.recovered) return;
    emitSeq(emitter, room, "e", 2, 3);
    await c.seen("e", 4);
    t.same(
      c.got.map((g) => g.seq),
      [0, 1, 2, 3, 4],
      "every event once, in order",
    );
  },
);

t.test("drain: a store that never answers holds a close back by the bound, no more", async (t) => {
  const { a, b } = await twoNodes(
    t,
    holding(() => new Promise<void>(() => undefined)),
  );
  const room = "job:drain_stalled";
  const c = await sioRecorder(t, a.url, await tokenFor("bob", TENANT), [room]);
  const id = c.socket.id!;

  const back = backAtOnce(c, b.url);
  const start = Date.now();
  const windowMs = 100;
  await a.drain(windowMs);
  const drainedIn = Date.now() - start;
  const outcome = await back;
  const closedIn = outcome.closedAt - start;

  t.ok(
    closedIn >= windowMs + DRAIN_SAVE_TIMEOUT_MS - 20,
    `closed ${closedIn} ms after the drain began: after its save timed out`,
  );
  t.ok(
    drainedIn < windowMs + DRAIN_SAVE_TIMEOUT_MS + 2000,
    `the drain ended ${drainedIn} ms after it began`,
  );
  t.equal(outcome.recovered, false, "no session stored: a new one on node B");
  t.not(outcome.id, id);
});

t.test(
  "reconnect storm: 40 clients in two rooms drained from A, back on B at once while events arrive",
  async (t) => {
    const { a, b, emitter } = await twoNodes(t);
    const rooms = ["job:storm_x", "job:storm_y"];
    const token = await tokenFor("carol", TENANT);
    // The ground truth: a raw observer on node B, there before anything is published.
    const observers = await Promise.all(rooms.map((room) => rawSubscribe(t, b.port, token, room)));
    const clients = await Promise.all(
      Array.from({ length: 40 }, () => sioRecorder(t, a.url, token, rooms)),
    );
    await a.flush();
    await b.flush();
    const ids = clients.map((c) => c.socket.id!);

    // One event per room every 2 ms, until every client is back and 20 more went.
    let seq = 0;
    let done = false;
    const publishing = (async () => {
      for (let after = 0; !done || after < 20; seq++) {
        for (const room of rooms) emitSeq(emitter, room, "s", 1, seq);
        if (done) after++;
        await delay(2);
      }
    })();
    await Promise.all(clients.map((c) => c.count(10)));
    const backs = clients.map((c) => backAtOnce(c, b.url));
    const drained = a.drain(200);
    const outcomes = await Promise.all(backs);
    done = true;
    await publishing;
    await drained;
    const last = seq - 1;
    await Promise.all(observers.map((o) => rawSeen(o.client, "s", last)));
    const truth = observers.flatMap((o) => nums(rawGot(o.client))).sort((x, y) => x - y);
    // A client short of events fails below, with what it lacks.
    await Promise.all(clients.map((c) => c.count(truth.length).catch(() => undefined)));
    await delay(50);

    t.equal(
      outcomes.filter((o, i) => o.recovered && o.id === ids[i]).length,
      clients.length,
      "every client recovered, with its id",
    );
    const wrong = clients
      .map((c) => offsetProblems(nums(c.got), truth))
      .filter((p) => p !== undefined);
    t.same(wrong, [], `each client has all ${truth.length} offsets of both rooms, once, in order`);
    const history = b.node.history as unknown as { stats?: { reads: number; passes: number } };
    t.comment(
      `node B: ${history.stats?.reads} history reads in ${history.stats?.passes} passes; ` +
        `${seq} events per room`,
    );
  },
);
