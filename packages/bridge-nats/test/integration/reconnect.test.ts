import t from "tap";
import { delay, startNats, subscriptionCount, waitFor } from "@calcbridge/testing";
import { NatsUnavailableError } from "../../src/index.js";
import { Received, bytes, startBus, statusIs, thrown } from "../helpers.js";

const BEFORE = 50;
const DURING = 20;
const AFTER = 30;

t.test(
  "server lost and restarted on the same port: refused while down, restored after",
  async (t) => {
    const nats = await startNats({ t });
    const publisher = await startBus(t, nats.url, { name: "publisher" });
    const receiver = await startBus(t, nats.url, { name: "receiver" });
    const subject = "rt.t1.job.outage";
    const got = new Received();
    receiver.bus.subscribe(subject, got.handler);
    await waitFor(async () => (await subscriptionCount(nats.monitorUrl, subject)) === 1);

    for (let i = 0; i < BEFORE; i++) publisher.bus.publish(subject, bytes(`before-${i}`));
    await got.atLeast(BEFORE);

    await nats.kill(); // SIGKILL: a crash, no lame-duck notice
    await statusIs(publisher.bus, "reconnecting");
    await statusIs(receiver.bus, "reconnecting");

    let refused = 0;
    for (let i = 0; i < DURING; i++) {
      try {
        publisher.bus.publish(subject, bytes(`refused-${i}`));
      } catch (err) {
        if (err instanceof NatsUnavailableError) refused += 1;
        else throw err;
      }
    }
    t.equal(refused, DURING, "every publish during the outage threw NatsUnavailableError");
    t.equal(publisher.bus.stats.refused, DURING, "stats.refused counts exactly the attempts");
    t.equal(
      publisher.bus.stats.publishedMessages,
      BEFORE,
      "no refused publish counts as published",
    );

    // Subscribed while down: nats.js holds it and sends it with the others on reconnect.
    const late = new Received();
    receiver.bus.subscribe(`${subject}.late`, late.handler);

    await nats.restart();
    await statusIs(publisher.bus, "connected");
    await statusIs(receiver.bus, "connected");
    t.same(receiver.statuses, ["connected", "disconnected", "reconnecting", "connected"]);
    t.same(publisher.statuses, ["connected", "disconnected", "reconnecting", "connected"]);
    t.equal(publisher.bus.stats.reconnects, 1);
    t.equal(receiver.bus.stats.reconnects, 1);
    await waitFor(
      async () =>
        (await subscriptionCount(nats.monitorUrl, subject)) === 1 &&
        (await subscriptionCount(nats.monitorUrl, `${subject}.late`)) === 1,
      { message: "both subscriptions restored on the new server process" },
    );

    for (let i = 0; i < AFTER; i++) publisher.bus.publish(subject, bytes(`after-${i}`));
    publisher.bus.publish(`${subject}.late`, bytes("late")); // ordered after the AFTER ones
    await late.atLeast(1);
    await got.atLeast(BEFORE + AFTER);

    const expected = [
      ...Array.from({ length: BEFORE }, (_, i) => `before-${i}`),
      ...Array.from({ length: AFTER }, (_, i) => `after-${i}`),
    ];
    t.same(got.data, expected, "everything published while connected arrived, nothing refused did");
    t.same(publisher.bus.stats, {
      reconnects: 1,
      publishedMessages: BEFORE + AFTER + 1,
      publishedBytes: [...expected, "late"].reduce((n, s) => n + bytes(s).byteLength, 0),
      receivedMessages: 0,
      receivedBytes: 0,
      refused: DURING,
    });
    t.equal(receiver.bus.stats.receivedMessages, BEFORE + AFTER + 1);
    t.equal(receiver.bus.stats.refused, 0);
  },
);

t.test("a finite maxReconnectAttempts ends in status closed", async (t) => {
  const nats = await startNats({ t });
  const { bus, statuses } = await startBus(t, nats.url, { maxReconnectAttempts: 2 });
  await nats.kill();
  await statusIs(bus, "closed", 3000);
  t.same(statuses, ["connected", "disconnected", "reconnecting", "closed"]);
  t.ok(bus.lastError, `why: ${bus.lastError?.message}`);
  t.ok(thrown(() => bus.publish("rt.t1.job.x", bytes("x"))) instanceof NatsUnavailableError);
  const sub = bus.subscribe("rt.t1.job.x", () => {});
  sub.unsubscribe();
  await nats.restart();
  await delay(300);
  t.equal(bus.status, "closed", "gave up for good: a restarted server is not reconnected to");
  await bus.close();
});
