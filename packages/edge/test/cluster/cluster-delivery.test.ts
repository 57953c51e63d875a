/**
 * Room events across a real cluster: three nats-servers routed to each other
 * and three edge node processes (the CLI), each given every NATS URL, its own
 * first. Socket.IO and raw clients on every node share a room; two
 * publishers (the Emitter on its own connection, and `POST /v1/publish` on
 * one node) send numbered streams: every client gets every event once, in
 * each publisher's order. Then interest-based routing, proven from NATS's
 * own monitoring and from the nodes' metrics.
 */
import { Emitter } from "@calcbridge/bridge-nats";
import { startNatsCluster, subscriptionCount, waitFor } from "@calcbridge/testing";
import t from "tap";
import {
  httpPublish,
  jobPath,
  publishToken,
  rawOpen,
  sioConnect,
  tokenFor,
  type SioClient,
} from "../api-helpers.js";
import {
  TENANT,
  connectionSubscriptions,
  delay,
  probeUntilDelivered,
  publisherBus,
  range,
  rawEnvelopes,
  seqPayload,
  seqsOf,
  sequenceProblems,
  serverOf,
  sioEnvelopes,
  startEdges,
  subjectOf,
  type EdgeProcess,
  type Envelope,
} from "../cluster-helpers.js";

/** Events of the Emitter's stream and of the HTTP stream. */
const N_EMITTER = 120;
const N_HTTP = 40;

const cluster = await startNatsCluster(3, { t });
const servers = cluster.servers;
const nodes = await startEdges(
  t,
  range(3).map((i) => ({
    nodeId: `node-${i}`,
    natsUrls: [cluster.urls[i]!, ...cluster.urls.filter((_, j) => j !== i)],
  })),
);
const [node0, node1, node2] = nodes as [EdgeProcess, EdgeProcess, EdgeProcess];

// nats.js shuffles the servers it is given (the CLI has no setting to keep
// their order), so where each node landed is read from the servers.
const homes = await Promise.all(
  nodes.map((node) =>
    waitFor(() => serverOf(servers, node.nodeId), { message: `${node.nodeId}'s server` }),
  ),
);
const homeIndex = homes.map((h) => servers.indexOf(h));
// The Emitter publishes through the server with the fewest nodes, so that
// most of its events cross a route whatever the shuffle gave.
const perServer = servers.map((_, i) => homeIndex.filter((h) => h === i).length);
const emitterServer = perServer.indexOf(Math.min(...perServer));
const bus = await publisherBus(t, [cluster.urls[emitterServer]!]);
const emitter = new Emitter(bus, { tenant: TENANT });
t.comment(`nodes on servers ${JSON.stringify(homeIndex)}, emitter on server ${emitterServer}`);

const token = await tokenFor("user_1", TENANT);
const pubToken = await publishToken(TENANT);

/** A Socket.IO client subscribed to `room`. */
async function sioIn(node: EdgeProcess, room: string): Promise<SioClient> {
  const client = await sioConnect(t, node.port, { token });
  const ack = await client.ack("subscribe", room);
  if (ack["ok"] !== true) throw new Error(`subscribe ${room}: ${JSON.stringify(ack)}`);
  return client;
}

const received = (metricsOf: EdgeProcess) => metricsOf.metric("calcbridge_events_received_total");

t.test(
  "numbered streams from two publishers reach every client on every node once, in order",
  async (t) => {
    const room = "job:j1";
    const sio = await Promise.all(nodes.map((node) => sioIn(node, room)));
    const raw = await Promise.all(
      nodes.map((node) => rawOpen(t, node.port, jobPath("j1"), { token })),
    );
    const readers: (() => Envelope[])[] = [
      ...sio.map((c) => () => sioEnvelopes(c)),
      ...raw.map((c) => () => rawEnvelopes(c)),
    ];
    const probes = await probeUntilDelivered(
      (seq) => emitter.to(room).emit("job.progress", seqPayload("j1", "probe", seq)),
      readers,
    );
    t.comment(`${probes} probe(s) until the room's interest was everywhere`);
    const before = await Promise.all(nodes.map(received));
    const httpBefore = await node0.metric("calcbridge_events_published_total", { source: "http" });

    const emitterStream = (async () => {
      for (let seq = 0; seq < N_EMITTER; seq++) {
        emitter.to(room).emit("job.progress", seqPayload("j1", "emitter", seq));
        if (seq % 10 === 9) await delay(2);
      }
    })();
    const statuses: number[] = [];
    const httpStream = (async () => {
      // 30 single events, then one batch of the last 10 (a batch keeps its order too).
      for (let seq = 0; seq < N_HTTP - 10; seq++) {
        const res = await httpPublish(
          node0.port,
          { tenant_id: TENANT, room, type: "job.progress", payload: seqPayload("j1", "http", seq) },
          { token: pubToken },
        );
        statuses.push(res.status);
      }
      const batch = range(10, N_HTTP - 10).map((seq) => ({
        tenant_id: TENANT,
        room,
        type: "job.progress",
        payload: seqPayload("j1", "http", seq),
      }));
      const res = await httpPublish(node0.port, { events: batch }, { token: pubToken });
      statuses.push(res.status);
      t.equal(res.body["accepted"], 10, "the batch was accepted whole");
    })();
    await Promise.all([emitterStream, httpStream]);
    t.same(
      statuses,
      statuses.map(() => 202),
      `all ${statuses.length} HTTP publishes answered 202`,
    );

    await waitFor(
      () =>
        readers.every(
          (read) =>
            seqsOf(read(), "emitter").length >= N_EMITTER &&
            seqsOf(read(), "http").length >= N_HTTP,
        ),
      { timeout: 8000, message: "every client got both streams" },
    );
    // Anything extra (a duplicate) would arrive right behind the last event.
    await delay(100);
    const names = [
      ...nodes.map((n) => `socket.io client on ${n.nodeId}`),
      ...nodes.map((n) => `raw client on ${n.nodeId}`),
    ];
    readers.forEach((read, i) => {
      const envelopes = read();
      t.equal(
        sequenceProblems(seqsOf(envelopes, "emitter"), N_EMITTER),
        undefined,
        `${names[i]}: emitter events 0..${N_EMITTER - 1} once, in order`,
      );
      t.equal(
        sequenceProblems(seqsOf(envelopes, "http"), N_HTTP),
        undefined,
        `${names[i]}: HTTP events 0..${N_HTTP - 1} once, in order`,
      );
      const last = envelopes.at(-1)!;
      t.equal(last.type, "job.progress", `${names[i]}: the envelope names its type`);
      t.ok(typeof last.timestamp === "string" && last.timestamp.endsWith("Z"), "and a timestamp");
    });
    // Both wire formats carry the same envelope: the Socket.IO event's argument
    // equals the raw text's JSON.
    const sioSeq = sioEnvelopes(sio[1]!).filter((e) => e.payload["src"] === "emitter");
    const rawSeq = rawEnvelopes(raw[2]!).filter((e) => e.payload["src"] === "emitter");
    t.same(sioSeq, rawSeq, "Socket.IO and raw clients got identical envelopes");

    const after = await Promise.all(nodes.map(received));
    nodes.forEach((node, i) =>
      t.equal(
        after[i]! - before[i]!,
        N_EMITTER + N_HTTP,
        `${node.nodeId} took each event from the bus once (${N_EMITTER + N_HTTP})`,
      ),
    );
    t.equal(
      (await node0.metric("calcbridge_events_published_total", { source: "http" })) - httpBefore,
      N_HTTP,
      "node-0 counted the HTTP events it published",
    );
    for (const c of sio) c.socket.disconnect();
    for (const c of raw) c.ws.close();
  },
);

t.test("interest-based routing: only nodes with members hold the room's subject", async (t) => {
  const room = "job:interest";
  const subject = subjectOf(room);
  const total = async () => {
    const counts = await Promise.all(servers.map((s) => subscriptionCount(s.monitorUrl, subject)));
    return counts.reduce((a, b) => a + b, 0);
  };
  const held = (node: EdgeProcess, i: number) =>
    connectionSubscriptions(homes[i]!.monitorUrl, node.nodeId, subject);

  t.equal(await total(), 0, "no server has interest before anyone joins");
  const a = await sioIn(node0, room);
  const b = await rawOpen(t, node1.port, jobPath("interest"), { token });
  await waitFor(async () => (await total()) === 2, { message: "two nodes' subscriptions" });
  t.equal(await held(node0, 0), 1, "node-0 holds the subject on its server");
  t.equal(await held(node1, 1), 1, "node-1 holds the subject on its server");
  t.equal(await held(node2, 2), 0, "node-2, without members, holds no subscription for it");
  t.equal(
    await subscriptionCount(homes[2]!.monitorUrl, subject),
    homeIndex.filter((h, i) => h === homeIndex[2] && i < 2).length,
    "node-2's server has only the interest of the other nodes it serves",
  );

  const readers = [() => sioEnvelopes(a), () => rawEnvelopes(b)];
  const publish = (src: string, seq: number) =>
    emitter.to(room).emit("job.progress", seqPayload("interest", src, seq));
  await probeUntilDelivered((seq) => publish("probe", seq), readers);
  const idle0 = await received(node2);
  const busy0 = await received(node0);
  const K = 20;
  for (let seq = 0; seq < K; seq++) publish("idle", seq);
  await waitFor(() => readers.every((r) => seqsOf(r(), "idle").length === K), {
    message: "node-0 and node-1 clients got the events",
  });
  await delay(100);
  t.equal(await received(node2), idle0, "node-2 took none of the room's events from the bus");
  t.equal((await received(node0)) - busy0, K, "node-0 took each of them once");

  // A member on node-2: the subscription appears, events flow there too.
  const c = await sioIn(node2, room);
  await waitFor(async () => (await held(node2, 2)) === 1, {
    message: "node-2's subscription on its server",
  });
  t.equal(await total(), 3, "three nodes' subscriptions in the cluster");
  await probeUntilDelivered((seq) => publish("probe", seq), [...readers, () => sioEnvelopes(c)]);
  const joined0 = await received(node2);
  for (let seq = 0; seq < K; seq++) publish("joined", seq);
  await waitFor(() => seqsOf(sioEnvelopes(c), "joined").length === K, {
    message: "node-2's client got the events",
  });
  t.equal(sequenceProblems(seqsOf(sioEnvelopes(c), "joined"), K), undefined, "in order, once");
  t.equal((await received(node2)) - joined0, K, "node-2 took each from the bus once");

  // The last member on node-2 leaves: the subscription disappears.
  const left = await c.ack("unsubscribe", room);
  t.equal(left["ok"], true, "unsubscribed");
  await waitFor(async () => (await held(node2, 2)) === 0, {
    message: "node-2's subscription gone",
  });
  t.equal(await total(), 2, "back to two nodes' subscriptions");
  const left0 = await received(node2);
  for (let seq = 0; seq < K; seq++) publish("after-leave", seq);
  await waitFor(() => readers.every((r) => seqsOf(r(), "after-leave").length === K), {
    message: "the remaining members got the events",
  });
  await delay(100);
  t.equal(await received(node2), left0, "node-2 took nothing after its last member left");
  t.equal(seqsOf(sioEnvelopes(c), "after-leave").length, 0, "its client got nothing");

  // Everyone leaves: no interest anywhere.
  await a.ack("unsubscribe", room);
  b.ws.close();
  await waitFor(async () => (await total()) === 0, { message: "no interest left" });
  t.equal(await held(node0, 0), 0, "node-0 released the subject");
  t.equal(await held(node1, 1), 0, "node-1 released the subject");
  t.equal(await node1.metric("calcbridge_rooms"), 0, "node-1 holds no room");
  t.pass(`cluster-wide interest for ${subject} is back to 0`);
});
