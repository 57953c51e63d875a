/**
 * Socket.IO connection state recovery on one embedded node (MemoryHistory):
 * the official socket.io-client comes back with its pid and last offset and
 * gets its id, rooms and data back plus exactly the events it missed, in
 * offset order, then live ones; a client whose missed events were dropped
 * by retention (count or age) or that presents another user's pid gets a
 * fresh session instead.
 */
import { subjectFor } from "@calcbridge/protocol";
import { delay } from "@calcbridge/testing";
import t from "tap";
import {
  QUIET_MS,
  SioRecorder,
  TENANT,
  TestClock,
  memoryNode,
  nums,
  publishSeq,
  serverSocket,
  serverSocketGone,
  sioRecorder,
  subjectOf,
  tokenFor,
  type Transport,
} from "../recovery-helpers.js";

const TRANSPORTS: readonly Transport[] = ["websocket", "polling", "default"];

for (const transport of TRANSPORTS) {
  t.test(
    `${transport}: missed events replayed in order, then live, same id, rooms and data`,
    async (t) => {
      const { node, url } = await memoryNode(t);
      const job = `job:emb_${transport}`;
      const notes = "notifications:alice";
      const c = await sioRecorder(t, url, await tokenFor("alice", TENANT), [job, notes], transport);
      const before = publishSeq(node, job, "job", 2);
      await c.count(2);
      const id = c.socket.id!;
      const server = await serverSocket(node, id);
      server.data["note"] = `kept over ${transport}`;
      t.ok(c.pid, "CONNECT gave the client a pid");
      t.equal(c.lastOffset, before[1], "the client recorded the offset of the last event");

      await c.drop();
      await serverSocketGone(node, id);
      // Missed: interleaved in both rooms.
      const missed = [
        ...publishSeq(node, job, "job", 1, 2),
        ...publishSeq(node, notes, "note", 1, 0),
        ...publishSeq(node, job, "job", 2, 3),
        ...publishSeq(node, notes, "note", 1, 1),
      ];
      t.equal(missed.length, 5);

      const back = await c.reconnect();
      t.equal(back.recovered, true, "socket.recovered");
      t.equal(back.id, id, "same socket.id");
      await c.count(7);
      t.equal(c.connects.at(-1)!.got, 2, "nothing arrived between the drop and the CONNECT");
      t.same(
        nums(c.got.slice(2)),
        missed.map(Number),
        "exactly the missed events, in offset order",
      );
      t.same(
        c.got.slice(2).map((g) => `${g.src}#${g.seq}`),
        ["job#2", "note#0", "job#3", "job#4", "note#1"],
      );
      t.ok(
        c.got.every((g) => g.envelopeOffset === g.offset),
        "the trailing offset argument equals the envelope's",
      );

      const restored = await serverSocket(node, id);
      t.not(restored, server, "a new server-side socket");
      t.equal(restored.recovered, true, "server-side socket.recovered");
      t.equal(restored.data["note"], `kept over ${transport}`, "socket.data restored");
      t.ok(
        restored.rooms.has(subjectOf(job)) && restored.rooms.has(subjectOf(notes)),
        "rooms restored",
      );

      // Live, without subscribing again.
      const live = publishSeq(node, job, "job", 1, 5);
      await c.count(8);
      await delay(QUIET_MS);
      t.same(nums(c.got), [...before, ...missed, ...live].map(Number), "no gap, no duplicate");
    },
  );
}

t.test(
  "more missed events than maxPerRoom: recovered false, a new id, no partial replay",
  async (t) => {
    const { node, url } = await memoryNode(t, { limits: { maxPerRoom: 5 } });
    const job = "job:gap";
    const c = await sioRecorder(t, url, await tokenFor("alice", TENANT), [job]);
    publishSeq(node, job, "job", 1);
    await c.count(1);
    const id = c.socket.id!;
    await c.drop();
    await serverSocketGone(node, id);
    publishSeq(node, job, "job", 8, 1);

    const back = await c.reconnect();
    t.equal(back.recovered, false, "not recovered");
    t.not(back.id, id, "a new socket id");
    await delay(QUIET_MS);
    t.equal(c.got.length, 1, "none of the kept events was replayed");
    const fresh = await serverSocket(node, back.id);
    t.equal(fresh.recovered, false);
    t.notOk(fresh.rooms.has(subjectOf(job)), "the old rooms are not restored");

    // The fresh session is a working one: it subscribes and gets live events.
    await c.subscribe(job);
    const live = publishSeq(node, job, "job", 1, 9);
    await c.count(2);
    t.equal(c.got[1]!.offset, live[0]);
  },
);

t.test("missed events older than maxAgeMs: recovered false", async (t) => {
  const clock = new TestClock();
  const { node, url } = await memoryNode(t, { limits: { maxAgeMs: 1000 }, clock });
  const job = "job:age";
  const c = await sioRecorder(t, url, await tokenFor("alice", TENANT), [job]);
  publishSeq(node, job, "job", 1);
  await c.count(1);

  // Within the age limit: recovered.
  let id = c.socket.id!;
  await c.drop();
  await serverSocketGone(node, id);
  publishSeq(node, job, "job", 2, 1);
  clock.advance(600);
  let back = await c.reconnect();
  t.equal(back.recovered, true, "younger than maxAgeMs: recovered");
  await c.count(3);

  // Past it: the events the client missed are gone.
  id = back.id;
  await c.drop();
  await serverSocketGone(node, id);
  publishSeq(node, job, "job", 2, 3);
  clock.advance(1500);
  back = await c.reconnect();
  t.equal(back.recovered, false, "older than maxAgeMs: not recovered");
  t.not(back.id, id);
  await delay(QUIET_MS);
  t.equal(c.got.length, 3, "nothing replayed");
});

t.test("back after maxDisconnectionMs: a fresh, working session", async (t) => {
  const { node, url } = await memoryNode(t, { maxDisconnectionMs: 300 });
  const job = "job:late";
  const c = await sioRecorder(t, url, await tokenFor("alice", TENANT), [job]);
  publishSeq(node, job, "job", 1);
  await c.count(1);
  const id = c.socket.id!;
  await c.drop();
  await serverSocketGone(node, id);
  publishSeq(node, job, "job", 1, 1);
  await delay(450);

  const back = await c.reconnect();
  t.equal(back.recovered, false, "not recovered");
  t.not(back.id, id, "a new id");
  await delay(QUIET_MS);
  t.equal(c.got.length, 1, "nothing replayed");
  await c.subscribe(job);
  publishSeq(node, job, "job", 1, 2);
  await c.count(2);
  t.equal(c.got[1]!.seq, 2, "live after subscribing again");
});

const THIEVES = [
  { who: "another user of the tenant", sub: "mallory", tenant: TENANT },
  { who: "the same sub in another tenant", sub: "alice", tenant: "tenant_2" },
] as const;

for (const { who, sub, tenant } of THIEVES) {
  t.test(`a stolen pid presented by ${who} recovers nothing`, async (t) => {
    const { node, url } = await memoryNode(t);
    const secret = "job:alice_secret";
    const notes = "notifications:alice";
    const alice = await sioRecorder(t, url, await tokenFor("alice", TENANT), [secret, notes]);
    publishSeq(node, secret, "s", 1);
    await alice.count(1);
    const server = await serverSocket(node, alice.socket.id!);
    server.data["note"] = "alice's";
    const pid = alice.pid!;
    const offset = alice.lastOffset!;
    await alice.drop();
    await serverSocketGone(node, server.id);
    publishSeq(node, secret, "s", 2, 1);
    publishSeq(node, notes, "n", 1);

    const thief = new SioRecorder(t, url, await tokenFor(sub, tenant));
    // What socket.io-client sends when it comes back: { pid, offset } next to the auth.
    Object.assign(thief.socket, { _pid: pid, _lastOffset: offset });
    await thief.start();
    t.equal(thief.socket.recovered, false, "not recovered");
    t.not(thief.socket.id, server.id, "not alice's socket id");
    t.not(thief.pid, pid, "a new pid");
    const s = await serverSocket(node, thief.socket.id!);
    t.equal(s.recovered, false);
    t.same([...s.rooms], [s.id], "none of alice's rooms");
    t.equal(s.data["note"], undefined, "none of alice's data");
    publishSeq(node, secret, "s", 1, 100);
    await delay(QUIET_MS);
    t.same(thief.got, [], "none of alice's events, missed or live");

    // Still a working socket of its own user.
    await thief.subscribe(`notifications:${sub}`);
    t.ok(s.rooms.has(subjectFor(tenant, { kind: "notifications", userId: sub })));
  });
}
