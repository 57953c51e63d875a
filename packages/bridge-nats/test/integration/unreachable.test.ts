import { createServer, type Socket } from "node:net";
import t from "tap";
import { delay, monitorJson, startNats, subscriptionCount, waitFor } from "@calcbridge/testing";
import { NatsUnavailableError } from "../../src/index.js";
import { Received, bytes, startBus, statusIs, thrown } from "../helpers.js";

t.test("no server at start: start resolves, publish refused, subscriptions wait", async (t) => {
  // Start a server only to own its ports, then stop it: the same ports come back on restart.
  const nats = await startNats({ t });
  await nats.stop();

  const before = Date.now();
  const { bus, statuses } = await startBus(t, nats.url, { name: "late-node" });
  const took = Date.now() - before;
  t.ok(took < 1500, `start resolved in ${took} ms without a server`);
  t.equal(bus.status, "reconnecting");
  t.ok(bus.lastError, `the refusal is kept for logs: ${bus.lastError?.message}`);

  const err = thrown(() => bus.publish("rt.t1.job.early", bytes("nobody hears this")));
  t.ok(err instanceof NatsUnavailableError, "publish throws NatsUnavailableError");
  t.equal((err as NatsUnavailableError).code, "ERR_BUS_UNAVAILABLE");
  t.match((err as Error).message, /reconnecting/);
  t.same(bus.stats, {
    reconnects: 0,
    publishedMessages: 0,
    publishedBytes: 0,
    receivedMessages: 0,
    receivedBytes: 0,
    refused: 1,
  });

  const subject = "rt.t1.job.early";
  const got = new Received();
  bus.subscribe(subject, got.handler);
  const dropped = new Received();
  bus.subscribe("rt.t1.job.dropped", dropped.handler).unsubscribe();

  // Several retry rounds (100-150 ms apart) go by with no server.
  await delay(400);
  t.equal(bus.status, "reconnecting", "still retrying");

  await nats.restart();
  await statusIs(bus, "connected");
  t.same(statuses, ["reconnecting", "connected"]);
  t.equal(bus.stats.reconnects, 0, "the first connection is not a reconnect");
  await waitFor(async () => (await subscriptionCount(nats.monitorUrl, subject)) === 1, {
    message: "the queued subscription reached the server",
  });
  t.equal(
    await subscriptionCount(nats.monitorUrl, "rt.t1.job.dropped"),
    0,
    "a queued subscription unsubscribed before the connection is never created",
  );

  const publisher = await startBus(t, nats.url);
  for (let i = 0; i < 3; i++) publisher.bus.publish(subject, bytes(`m${i}`));
  await got.atLeast(3);
  t.same(got.data, ["m0", "m1", "m2"]);
  bus.publish(subject, bytes("own"));
  await got.atLeast(4);
  t.equal(bus.stats.publishedMessages, 1);
  t.equal(bus.stats.refused, 1);
});

t.test("close before the first connection stops the retry loop", async (t) => {
  const nats = await startNats({ t });
  await nats.stop();
  const { bus, statuses } = await startBus(t, nats.url);
  t.equal(bus.status, "reconnecting");

  const before = Date.now();
  await bus.close();
  t.ok(Date.now() - before < 1000, "close returns promptly");
  t.same(statuses, ["reconnecting", "closed"]);

  await nats.restart();
  await delay(400); // several retry periods
  const connz = await monitorJson<{ num_connections: number }>(nats.monitorUrl, "/connz");
  t.equal(connz.num_connections, 0, "the closed bus never connects");
  t.equal(bus.status, "closed");
});

t.test(
  "a server that accepts but never answers: start is bounded by connectTimeoutMs",
  async (t) => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    t.teardown(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          silent.close(() => resolve());
        }),
    );
    const address = silent.address();
    if (address === null || typeof address === "string") throw new Error("no TCP address");

    const before = Date.now();
    const { bus } = await startBus(t, `nats://127.0.0.1:${address.port}`, {
      connectTimeoutMs: 400,
    });
    const took = Date.now() - before;
    t.ok(took >= 350 && took < 1500, `start resolved after ${took} ms (connectTimeoutMs 400)`);
    t.not(bus.status, "connected");
    t.ok(thrown(() => bus.publish("x", bytes("x"))) instanceof NatsUnavailableError);

    const closing = Date.now();
    await bus.close();
    t.ok(Date.now() - closing < 1500, "close waits at most about one connect timeout");
    t.equal(bus.status, "closed");
  },
);
