import { EventEmitter } from "node:events";
import { connect as tcpConnect } from "node:net";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import t from "tap";
import {
  freePort,
  processes,
  routeCount,
  startNats,
  startNatsCluster,
  once,
  subscriptionCount,
  waitFor,
  type Teardown,
} from "../../src/index.js";

t.teardown(() => processes.stopAll());

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(true));
  });
}

async function client(t: Teardown, servers: string | string[]): Promise<NatsConnection> {
  const nc = await connect({ servers, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  t.teardown(() => nc.close());
  return nc;
}

/** Resolves with the first message's text on `subject`. */
function nextMessage(nc: NatsConnection, subject: string): Promise<string> {
  return new Promise((resolve) => {
    nc.subscribe(subject, { max: 1, callback: (_err, msg) => resolve(msg.string()) });
  });
}

t.test("freePort gives a bindable port", async (t) => {
  const port = await freePort();
  t.ok(port > 0 && port < 65536);
  t.ok(await refuses(port), "nothing listens on it");
});

t.test("a single server: pub/sub, interest, stop, kill and restart on the same port", async (t) => {
  const nats = await startNats({ t, jetstream: true });
  t.match(nats.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
  t.equal(nats.url, `nats://127.0.0.1:${nats.port}`);
  t.ok(alive(nats.pid), "process is alive");
  t.ok(nats.storeDir, "JetStream store dir");

  const sub = await client(t, nats.url);
  const pub = await client(t, nats.url);
  const got = nextMessage(sub, "rt.t1.job.j1");
  await sub.flush();
  t.equal(await subscriptionCount(nats.monitorUrl, "rt.t1.job.j1"), 1, "one subscriber");
  t.equal(await subscriptionCount(nats.monitorUrl, "rt.t1.job.j2"), 0, "none on another");
  pub.publish("rt.t1.job.j1", "hello");
  t.equal(await got, "hello");

  const jsm = await sub.request("$JS.API.INFO", "", { timeout: 2000 });
  t.match(jsm.json(), { type: "io.nats.jetstream.api.v1.account_info_response" }, "JetStream on");

  const firstPid = nats.pid;
  await nats.stop();
  t.notOk(nats.running);
  t.notOk(alive(firstPid), "stop ended the process");
  t.ok(await refuses(nats.port), "port closed");

  await nats.restart();
  t.ok(nats.running);
  t.not(nats.pid, firstPid, "a new process");
  const again = await client(t, nats.url);
  const got2 = nextMessage(again, "after.restart");
  await again.flush();
  // The first client reconnects to the same port on its own.
  await waitFor(async () => {
    pub.publish("after.restart", "back");
    await pub.flush();
    return true;
  });
  t.equal(await got2, "back");

  const secondPid = nats.pid;
  await nats.kill();
  t.notOk(alive(secondPid), "kill ended the process");
  await nats.restart();
  t.ok(nats.running, "restart after kill");
  await nats.stop();
});

t.test("a 3-server cluster routes messages between servers", async (t) => {
  const cluster = await startNatsCluster(3, { t });
  t.equal(cluster.servers.length, 3);
  t.equal(cluster.urls.length, 3);
  t.equal(new Set(cluster.servers.map((s) => s.port)).size, 3, "distinct ports");
  for (const server of cluster.servers) {
    t.equal(await routeCount(server.monitorUrl), 2, `${server.name} has 2 routes`);
  }
  const [a, b, c] = cluster.servers;
  if (!a || !b || !c) throw new Error("three servers");

  const onA = await client(t, a.url);
  const onC = await client(t, c.url);
  const got = nextMessage(onA, "rt.t1.workbook.w1");
  await onA.flush();
  t.equal(await subscriptionCount(a.monitorUrl, "rt.t1.workbook.w1"), 1, "local interest on A");
  t.equal(await subscriptionCount(c.monitorUrl, "rt.t1.workbook.w1"), 0, "routes do not count");
  // Interest crosses the route asynchronously: publish until it arrives.
  let delivered = false;
  void got.then(() => (delivered = true));
  await waitFor(async () => {
    onC.publish("rt.t1.workbook.w1", "across");
    await onC.flush();
    return delivered;
  });
  t.equal(await got, "across");

  const oldPid = b.pid;
  await b.restart();
  t.not(b.pid, oldPid);
  await cluster.waitForRoutes();
  for (const server of cluster.servers) {
    t.equal(await routeCount(server.monitorUrl), 2, `${server.name} re-routed`);
  }
  await cluster.stop();
  t.notOk(
    cluster.servers.some((s) => s.running),
    "all stopped",
  );
});

t.test("a server that cannot start fails with its output", async (t) => {
  await t.rejects(startNats({ args: ["--no-such-flag"], startTimeout: 3000 }), {
    message: /nats-server exited with code \d+ before accepting connections[\s\S]*no-such-flag/,
  });
});

t.test("waitFor and once time out with clear errors", async (t) => {
  await t.rejects(
    waitFor(() => false, { timeout: 50, message: "never" }),
    {
      message: "waitFor: never not met within 50 ms",
    },
  );
  t.equal(await waitFor(() => 7), 7);
  const emitter = new EventEmitter();
  setTimeout(() => emitter.emit("x", 1, 2), 5);
  t.same(await once(emitter, "x"), [1, 2]);
  await t.rejects(once(emitter, "y", 20), { message: 'once: no "y" event within 20 ms' });
  t.equal(emitter.listenerCount("y"), 0, "listener removed on timeout");
});
