import t from "tap";
import { delay, startNats, waitFor } from "@calcbridge/testing";
import { ClientPool } from "../../src/client/pool.js";
import { ProcessSet } from "../../src/infra/proc.js";
import { PublisherHandle } from "../../src/publisher/handle.js";
import { TENANT, clientPlan, startServers } from "../../src/scenarios/targets.js";

// The load generator end to end: an edge node (its CLI) on a real
// nats-server, the generator's workers connecting Socket.IO and raw clients
// with their own tokens (prepare, then start), and the bench publisher's
// events counted by the clients' frame parsers.

const SECRET = "generator-test-secret-0123456789abcdef";
const SOCKETIO = 60;
const RAW = 40;

t.test("the generator's clients connect, subscribe and count every event", async (t) => {
  const nats = await startNats();
  t.teardown(() => nats.stop());
  const procs = new ProcessSet();
  t.teardown(() => procs.stopAll());
  const servers = await startServers("edge", 1, { procs, natsUrl: nats.url, secret: SECRET });
  t.teardown(() => servers.stop());
  const pool = ClientPool.start(2);
  t.teardown(() => pool.stop());
  const target = [{ host: "127.0.0.1", port: servers.ports[0]! }];

  let startedAfterPrepare = 0;
  for (const [format, count] of [
    ["socketio", SOCKETIO],
    ["raw", RAW],
  ] as const) {
    const plan = clientPlan("edge", format, true);
    const opened = await pool.open(
      {
        targets: target,
        mode: plan.mode,
        count,
        path: plan.path,
        rooms: plan.rooms,
        auth: { secret: SECRET, tenant: TENANT, user: plan.user, ttlSec: 600 },
        concurrency: 16,
        timeoutMs: 20_000,
      },
      () => startedAfterPrepare++,
    );
    t.same(
      { ready: opened.ready, failed: opened.failed, failures: opened.failures },
      { ready: count, failed: 0, failures: [] },
      `${count} ${format} clients ready`,
    );
    t.ok(opened.ms > 0 && opened.perSecond > 0, `${format}: a setup time and rate`);
    t.ok(opened.cpuUs > 0, `${format}: the generator's CPU is counted`);
  }
  t.equal(startedAfterPrepare, 2, "onStart ran once per open");

  // A user's notifications reach that user only: the per-user plans put
  // Socket.IO client i in notifications:u<i> and raw client i on its own
  // notifications stream, so events for users 0..count-1 reach one client each.
  const before = await pool.stats();
  t.equal(before.open, SOCKETIO + RAW);
  const publisher = await PublisherHandle.start({
    mode: "nats-event",
    natsUrl: nats.url,
    frameBytes: 200,
    users: RAW,
  });
  t.teardown(() => publisher.stop());
  const ran = await publisher.run(200, 1000);
  t.ok(ran.sent >= 150, `the publisher sent ${ran.sent} events`);
  // Users below RAW have a Socket.IO and a raw client each: two deliveries per event.
  const want = before.events + 2 * ran.sent;
  // Wait for the count to settle at `want`, or at anything beyond it.
  const after = await waitFor(
    async () => {
      const now = await pool.stats();
      return now.events >= want ? now : undefined;
    },
    { timeout: 5000, message: `${want} events counted` },
  ).catch(() => pool.stats());
  await delay(200);
  const settled = await pool.stats();
  t.equal(after.events, want, "every event counted once per subscribed client");
  t.equal(settled.events, after.events, "and no more after that");
  t.equal(settled.closed, 0, "no client closed");
});
