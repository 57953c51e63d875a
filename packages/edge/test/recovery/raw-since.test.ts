/**
 * Raw-API recovery on one embedded node (MemoryHistory): `subscribe` with
 * `since` on `/ws` and `?since=` on the auto-subscribed endpoints replay
 * exactly the events after that offset, in order, before `subscribed`, and
 * the connection goes live with no gap or duplicate; when retention (count
 * or age) dropped some, a `recovery_gap` and no partial replay, then live.
 */
import { delay } from "@calcbridge/testing";
import t from "tap";
import { jobPath, rawOpen } from "../api-helpers.js";
import {
  QUIET_MS,
  TENANT,
  TestClock,
  memoryNode,
  nums,
  publishSeq,
  rawGot,
  rawSeen,
  rawSubscribers,
  rawSubscribe,
  tokenFor,
} from "../recovery-helpers.js";

t.test("/ws subscribe since: the missed events, then subscribed, then live", async (t) => {
  const { node, port } = await memoryNode(t);
  const token = await tokenFor("alice", TENANT);
  const room = "job:raw_since";
  const first = await rawSubscribe(t, port, token, room);
  t.same(first.answer, { type: "subscribed", room });
  const seen = publishSeq(node, room, "e", 2);
  await first.client.eventCount(2);
  const since = rawGot(first.client).at(-1)!.offset;
  t.equal(since, seen[1], "each envelope carries its offset");
  first.client.ws.close();
  await first.client.closed;

  const missed = publishSeq(node, room, "e", 5, 2);
  publishSeq(node, "job:other", "x", 3); // another room: never replayed here
  const again = await rawSubscribe(t, port, token, room, since);
  t.same(again.answer, { type: "subscribed", room, replayed: 5 }, "subscribed, with the count");
  t.equal(again.gap, undefined, "no recovery_gap");
  t.same(nums(rawGot(again.client)), missed.map(Number), "exactly the missed events, in order");
  t.equal(again.client.texts.length, 6, "the replay came before `subscribed`");
  t.same(JSON.parse(again.client.texts[5]!), again.answer);

  const live = publishSeq(node, room, "e", 2, 7);
  await again.client.eventCount(7);
  await delay(QUIET_MS);
  t.same(nums(rawGot(again.client)), [...missed, ...live].map(Number), "then live, no duplicate");
  t.same(
    rawGot(again.client).map((g) => g.seq),
    [2, 3, 4, 5, 6, 7, 8],
  );

  // Since the latest offset: nothing to replay.
  const current = await rawSubscribe(t, port, token, room, live[1]);
  t.same(current.answer, { type: "subscribed", room, replayed: 0 });
  // A number is accepted as well as a string.
  const numeric = await rawSubscribe(t, port, token, room, Number(live[0]) as unknown as string);
  t.same(numeric.answer, { type: "subscribed", room, replayed: 1 });
});

t.test("/ws/jobs/{id}?since=: replay on connect, then live", async (t) => {
  const { node, port } = await memoryNode(t);
  const token = await tokenFor("alice", TENANT);
  const jobId = "job_auto";
  const room = `job:${jobId}`;
  const first = await rawOpen(t, port, jobPath(jobId), { token, header: true });
  await rawSubscribers(node, room, 1);
  publishSeq(node, room, "e", 1);
  await first.eventCount(1);
  const since = rawGot(first).at(-1)!.offset;
  first.ws.close();
  await first.closed;

  const missed = publishSeq(node, room, "e", 4, 1);
  const back = await rawOpen(t, port, `${jobPath(jobId)}?since=${since}`, { token, header: true });
  await back.eventCount(4);
  t.same(nums(rawGot(back)), missed.map(Number), "exactly the missed events, in order");
  const live = publishSeq(node, room, "e", 1, 5);
  await back.eventCount(5);
  await delay(QUIET_MS);
  t.same(nums(rawGot(back)), [...missed, ...live].map(Number), "then live, no duplicate");
  t.same(back.controls, [], "no control message on an endpoint with no gap");
});

t.test("more missed than maxPerRoom: recovery_gap, no partial replay, then live", async (t) => {
  const { node, port } = await memoryNode(t, { limits: { maxPerRoom: 5 } });
  const token = await tokenFor("alice", TENANT);
  const room = "job:raw_gap";
  const since = publishSeq(node, room, "e", 1)[0]!;
  publishSeq(node, room, "e", 8, 1);

  const sub = await rawSubscribe(t, port, token, room, since);
  t.same(sub.gap, { type: "recovery_gap", room, since }, "recovery_gap names room and offset");
  t.same(sub.answer, { type: "subscribed", room }, "then subscribed, with no replayed count");
  const live = publishSeq(node, room, "e", 1, 9);
  await rawSeen(sub.client, "e", 9);
  await delay(QUIET_MS);
  t.same(nums(rawGot(sub.client)), live.map(Number), "none of the 5 kept events, only live");

  // The endpoint form: the same gap, then live.
  const jobId = "raw_gap";
  const auto = await rawOpen(t, port, `${jobPath(jobId)}?since=${since}`, { token, header: true });
  t.same(await auto.control(), { type: "recovery_gap", room, since });
  await delay(QUIET_MS);
  t.equal(auto.events.length, 0, "no partial replay");
  const later = publishSeq(node, room, "e", 1, 10);
  await auto.eventCount(1);
  t.same(nums(rawGot(auto)), later.map(Number));

  // Within retention the same room replays: the 5 kept events.
  const kept = await rawSubscribe(t, port, token, room, String(Number(later[0]) - 5));
  t.same(kept.answer, { type: "subscribed", room, replayed: 5 });
});

t.test("missed events older than maxAgeMs: recovery_gap, then live", async (t) => {
  const clock = new TestClock();
  const { node, port } = await memoryNode(t, { limits: { maxAgeMs: 1000 }, clock });
  const token = await tokenFor("alice", TENANT);
  const room = "job:raw_age";
  const since = publishSeq(node, room, "e", 1)[0]!;
  const missed = publishSeq(node, room, "e", 3, 1);
  clock.advance(600);
  const young = await rawSubscribe(t, port, token, room, since);
  t.same(young.answer, { type: "subscribed", room, replayed: 3 }, "younger than maxAgeMs");
  t.same(nums(rawGot(young.client)), missed.map(Number));

  clock.advance(1500);
  const old = await rawSubscribe(t, port, token, room, since);
  t.same(old.gap, { type: "recovery_gap", room, since }, "older than maxAgeMs: a gap");
  t.equal(old.client.events.length, 0, "no partial replay");
  const live = publishSeq(node, room, "e", 1, 4);
  await old.client.eventCount(1);
  t.same(nums(rawGot(old.client)), live.map(Number), "then live");

  // A client that had seen the last (now expired) event missed nothing.
  const upToDate = await rawSubscribe(t, port, token, room, missed[2]);
  t.equal(upToDate.gap, undefined, "no gap for a client that saw everything");
  t.same(upToDate.answer, { type: "subscribed", room, replayed: 1 });
});

t.test("offsets that cannot be trusted are a recovery_gap", async (t) => {
  const { node, port } = await memoryNode(t);
  const token = await tokenFor("alice", TENANT);
  const room = "job:raw_bad_since";
  const [latest] = publishSeq(node, room, "e", 1);
  for (const since of [String(Number(latest) + 10), "abc", "-1", "1.5"]) {
    const sub = await rawSubscribe(t, port, token, room, since);
    t.same(sub.gap, { type: "recovery_gap", room, since }, `since ${since}`);
    t.equal(sub.client.events.length, 0);
  }
});
