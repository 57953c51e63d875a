import t from "tap";
import { delay, startNats, subscriptionCount, waitFor } from "@calcbridge/testing";
import { NatsSubjectError, NatsUnavailableError } from "../../src/index.js";
import { Received, bytes, startBus, thrown } from "../helpers.js";

// One real nats-server for the whole file; each test uses its own subjects.
const nats = await startNats({ t });

const interest = (subject: string, count: number) =>
  waitFor(async () => (await subscriptionCount(nats.monitorUrl, subject)) === count, {
    message: `${count} subscription(s) on ${subject}`,
  });

t.test("a subscription on one bus receives what another publishes, in order", async (t) => {
  const a = await startBus(t, nats.url, { name: "basic-a" });
  const b = await startBus(t, nats.url, { name: "basic-b" });
  t.equal(a.bus.kind, "nats");
  t.equal(a.bus.status, "connected", "start resolves connected when a server is up");
  t.equal(a.bus.server, `127.0.0.1:${nats.port}`);

  const subject = "rt.t1.job.basic";
  const got = new Received();
  b.bus.subscribe(subject, got.handler);
  await interest(subject, 1);

  for (const word of ["one", "two", "three"]) a.bus.publish(subject, bytes(word));
  await got.atLeast(3);
  t.same(got.messages, [
    { data: "one", subject, reply: undefined },
    { data: "two", subject, reply: undefined },
    { data: "three", subject, reply: undefined },
  ]);
  t.same(a.bus.stats, {
    reconnects: 0,
    publishedMessages: 3,
    publishedBytes: 11,
    receivedMessages: 0,
    receivedBytes: 0,
    refused: 0,
  });
  t.equal(b.bus.stats.receivedMessages, 3);
  t.equal(b.bus.stats.receivedBytes, 11);
  t.same(a.statuses, ["connected"], "no status change while all is well");
});

t.test("reply subjects: the handler gets `reply` and can answer on it", async (t) => {
  const a = await startBus(t, nats.url);
  const b = await startBus(t, nats.url);
  const subject = "rt.t1.job.request";
  const inbox = a.bus.newInbox();
  t.match(inbox, /^_INBOX\.\S+$/);
  t.not(a.bus.newInbox(), inbox, "each inbox is fresh");

  const seenReplies: (string | undefined)[] = [];
  b.bus.subscribe(subject, (data, _subject, reply) => {
    seenReplies.push(reply);
    if (reply !== undefined) b.bus.publish(reply, bytes(`re:${new TextDecoder().decode(data)}`));
  });
  const answers = new Received();
  a.bus.subscribe(inbox, answers.handler);
  await interest(subject, 1);
  await interest(inbox, 1);

  a.bus.publish(subject, bytes("question"), { reply: inbox });
  await answers.atLeast(1);
  t.same(seenReplies, [inbox]);
  t.same(answers.messages, [{ data: "re:question", subject: inbox, reply: undefined }]);
});

t.test("unsubscribe stops delivery and removes the interest from NATS", async (t) => {
  const a = await startBus(t, nats.url);
  const b = await startBus(t, nats.url);
  const subject = "rt.t1.workbook.unsub";
  const barrierSubject = "rt.t1.workbook.barrier";
  const first = new Received();
  const second = new Received();
  const barrier = new Received();
  const sub1 = b.bus.subscribe(subject, first.handler);
  b.bus.subscribe(subject, second.handler);
  b.bus.subscribe(barrierSubject, barrier.handler);
  await interest(subject, 2);

  a.bus.publish(subject, bytes("before"));
  await first.atLeast(1);
  await second.atLeast(1);

  sub1.unsubscribe();
  sub1.unsubscribe(); // idempotent
  await interest(subject, 1);

  // Same publisher connection, same subscriber connection: NATS keeps the
  // order, so once the barrier arrives anything before it would have too.
  a.bus.publish(subject, bytes("after"));
  a.bus.publish(barrierSubject, bytes("barrier"));
  await barrier.atLeast(1);
  await second.atLeast(2);
  t.same(first.data, ["before"], "the unsubscribed handler got nothing more");
  t.same(second.data, ["before", "after"], "the other subscription on the subject still receives");
});

t.test("invalid subjects are refused with a typed error", async (t) => {
  const a = await startBus(t, nats.url);
  const subscribeError = thrown(() => a.bus.subscribe("has space", () => {}));
  t.ok(subscribeError instanceof NatsSubjectError);
  t.equal((subscribeError as NatsSubjectError).code, "ERR_BUS_SUBJECT");
  const publishError = thrown(() => a.bus.publish("", bytes("x")));
  t.ok(publishError instanceof NatsSubjectError);
  t.equal(a.bus.stats.refused, 1);
  t.equal(a.bus.stats.publishedMessages, 0);
  t.equal(a.bus.status, "connected", "a bad subject does not hurt the connection");
});

t.test("pendingBytes reads nats.js's outbound buffer", async (t) => {
  const a = await startBus(t, nats.url);
  t.equal(a.bus.pendingBytes(), 0);
  // nats.js flushes on the next microtask: right after publish the bytes are still pending.
  a.bus.publish("rt.t1.job.pending", new Uint8Array(1000));
  t.ok(a.bus.pendingBytes() >= 1000, `pending ${a.bus.pendingBytes()} bytes`);
  await waitFor(() => a.bus.pendingBytes() === 0, { message: "outbound buffer flushed" });
});

t.test("close drains: status closed, interest gone, publish refused, idempotent", async (t) => {
  const a = await startBus(t, nats.url);
  const subject = "rt.t1.user.close";
  a.bus.subscribe(subject, () => {});
  await interest(subject, 1);

  await a.bus.close();
  t.equal(a.bus.status, "closed");
  t.same(a.statuses, ["connected", "closed"]);
  await interest(subject, 0);

  const err = thrown(() => a.bus.publish(subject, bytes("late")));
  t.ok(err instanceof NatsUnavailableError);
  t.equal((err as NatsUnavailableError).code, "ERR_BUS_UNAVAILABLE");
  t.equal(a.bus.stats.refused, 1);

  const inert = a.bus.subscribe(subject, () => {});
  inert.unsubscribe();
  await delay(50);
  t.equal(await subscriptionCount(nats.monitorUrl, subject), 0, "subscribe after close is inert");
  await a.bus.close();
  t.same(a.statuses, ["connected", "closed"], "closed is reported once");
});
