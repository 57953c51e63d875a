/**
 * Faults around one nats-server and edge node processes: NATS unreachable
 * at start, NATS lost while running, and an edge node killed under its
 * clients. Each test counts what was published, refused and delivered.
 */
import { Emitter } from "@calcbridge/bridge-nats";
import { startNats, waitFor } from "@calcbridge/testing";
import t from "tap";
import {
  httpPublish,
  jobPath,
  publishToken,
  rawOpen,
  sioConnect,
  tokenFor,
  type RawClient,
  type SioClient,
} from "../api-helpers.js";
import {
  FailoverRawClient,
  FailoverSioClient,
  TENANT,
  delay,
  gapOf,
  probeUntilDelivered,
  publisherBus,
  range,
  rawEnvelopes,
  seqPayload,
  seqsOf,
  sequenceProblems,
  sioEnvelopes,
  startEdge,
  startEdges,
  type EdgeProcess,
  type Envelope,
} from "../cluster-helpers.js";

const token = await tokenFor("user_1", TENANT);
const pubToken = await publishToken(TENANT);

/** `POST /v1/publish` of one numbered job.progress event; resolves with the status. */
async function publishOne(node: EdgeProcess, jobId: string, src: string, seq: number) {
  const res = await httpPublish(
    node.port,
    {
      tenant_id: TENANT,
      room: `job:${jobId}`,
      type: "job.progress",
      payload: seqPayload(jobId, src, seq),
    },
    { token: pubToken },
  );
  return res;
}

/** A Socket.IO client in `job:<jobId>` and a raw client on `/ws/jobs/<jobId>`. */
async function clientsOn(node: EdgeProcess, jobId: string): Promise<[SioClient, RawClient]> {
  const sio = await sioConnect(t, node.port, { token });
  const ack = await sio.ack("subscribe", `job:${jobId}`);
  if (ack["ok"] !== true) throw new Error(`subscribe: ${JSON.stringify(ack)}`);
  const raw = await rawOpen(t, node.port, jobPath(jobId), { token });
  return [sio, raw];
}

const readersOf = (sio: SioClient, raw: RawClient): (() => Envelope[])[] => [
  () => sioEnvelopes(sio),
  () => rawEnvelopes(raw),
];

t.test(
  "NATS unreachable at start: the node serves, refuses publishes, heals when NATS comes",
  async (t) => {
    // A server started and stopped: its port is known and nothing listens there.
    const nats = await startNats({ t });
    await nats.stop();
    const node = await startEdge(t, { nodeId: "early", natsUrls: [nats.url] });

    const health = await node.healthz();
    t.equal(health.status, 200, "/healthz 200: the process is up");
    const ready = await node.readyz();
    t.equal(ready.status, 503, "/readyz 503");
    t.match(ready.body, { status: "not_ready", reasons: [/^bus /] }, "the reason names the bus");

    const [sio, raw] = await clientsOn(node, "early");
    t.ok(sio.socket.connected, "a Socket.IO client connects and subscribes meanwhile");
    t.ok(raw.isOpen, "so does a raw client");

    const REFUSED = 5;
    const refused = [];
    for (let seq = 0; seq < REFUSED; seq++)
      refused.push(await publishOne(node, "early", "down", seq));
    t.same(
      refused.map((r) => r.status),
      range(REFUSED).map(() => 503),
      `${REFUSED} publishes answered 503`,
    );
    t.match(refused[0]!.body, { error: "bus_unavailable", reasons: [/bus/] }, "with a reason");

    const restartedAt = Date.now();
    await nats.restart();
    await waitFor(async () => (await node.readyz()).status === 200, {
      timeout: 8000,
      interval: 50,
      message: "/readyz 200 after NATS started",
    });
    const readyAfter = Date.now() - restartedAt;
    t.comment(`ready ${readyAfter} ms after nats-server started (connect retry: 2 s + jitter)`);

    const ACCEPTED = 10;
    const accepted = [];
    for (let seq = 0; seq < ACCEPTED; seq++)
      accepted.push(await publishOne(node, "early", "up", seq));
    t.same(
      accepted.map((r) => r.status),
      range(ACCEPTED).map(() => 202),
      `${ACCEPTED} publishes accepted`,
    );
    const readers = readersOf(sio, raw);
    await waitFor(() => readers.every((r) => seqsOf(r(), "up").length >= ACCEPTED), {
      message: "both clients got the accepted events",
    });
    await delay(100);
    for (const [i, read] of readers.entries()) {
      const kind = i === 0 ? "Socket.IO" : "raw";
      t.equal(
        sequenceProblems(seqsOf(read(), "up"), ACCEPTED),
        undefined,
        `${kind}: all accepted, in order`,
      );
      t.equal(seqsOf(read(), "down").length, 0, `${kind}: none of the refused ones`);
    }
    t.equal(
      await node.metric("calcbridge_events_published_total", { source: "http" }),
      ACCEPTED,
      "the node counts only the accepted publishes",
    );
    t.equal(
      await node.metric("calcbridge_events_received_total"),
      ACCEPTED,
      "and took each from the bus once",
    );
  },
);

t.test(
  "NATS lost while running: publishes refused (counted), subscriptions restored",
  async (t) => {
    const nats = await startNats({ t });
    const nodes = await startEdges(t, [
      { nodeId: "lost-0", natsUrls: [nats.url] },
      { nodeId: "lost-1", natsUrls: [nats.url] },
    ]);
    const [n0, n1] = nodes as [EdgeProcess, EdgeProcess];
    const clients = [...(await clientsOn(n0, "lost")), ...(await clientsOn(n1, "lost"))] as const;
    const readers = [...readersOf(clients[0], clients[1]), ...readersOf(clients[2], clients[3])];
    const probes = await probeUntilDelivered(
      (seq) => publishOne(n0, "lost", "probe", seq),
      readers,
    );

    const BEFORE = 10;
    for (let seq = 0; seq < BEFORE; seq++) {
      t.equal((await publishOne(n0, "lost", "before", seq)).status, 202);
    }
    await waitFor(() => readers.every((r) => seqsOf(r(), "before").length === BEFORE), {
      message: "events before the loss delivered",
    });

    await nats.kill();
    const killedAt = Date.now();
    for (const node of nodes) {
      await waitFor(async () => (await node.readyz()).status === 503, {
        message: `${node.nodeId} not ready`,
      });
      t.match(
        (await node.readyz()).body,
        { reasons: [/^bus /] },
        `${node.nodeId}: /readyz names the bus`,
      );
      t.equal(await node.metric("calcbridge_bus_connected"), 0, `${node.nodeId}: bus_connected 0`);
    }
    const DURING = 12;
    const statuses: number[] = [];
    for (let seq = 0; seq < DURING; seq++) {
      const res = await publishOne(seq % 2 === 0 ? n0 : n1, "lost", "during", seq);
      statuses.push(res.status);
      if (res.status === 503 && seq === 0) {
        t.match(res.body, { error: "bus_unavailable", reasons: [/bus/] }, "503 names the bus");
      }
    }
    t.same(
      statuses,
      range(DURING).map(() => 503),
      `all ${DURING} publishes during the outage refused`,
    );

    await nats.restart();
    const restartedAt = Date.now();
    for (const node of nodes) {
      await waitFor(async () => (await node.readyz()).status === 200, {
        timeout: 8000,
        interval: 50,
        message: `${node.nodeId} ready again`,
      });
    }
    t.comment(
      `both nodes ready ${Date.now() - restartedAt} ms after the restart (${Date.now() - killedAt} ms after the kill)`,
    );
    t.equal(await n0.metric("calcbridge_bus_reconnects_total"), 1, "lost-0 reconnected once");

    // Published after the reconnect, from both nodes: reach every client.
    const AFTER = 10;
    for (let seq = 0; seq < AFTER; seq++) {
      t.equal((await publishOne(n0, "lost", "after0", seq)).status, 202);
      t.equal((await publishOne(n1, "lost", "after1", seq)).status, 202);
    }
    await waitFor(
      () =>
        readers.every(
          (r) => seqsOf(r(), "after0").length >= AFTER && seqsOf(r(), "after1").length >= AFTER,
        ),
      { message: "events after the reconnect delivered everywhere" },
    );
    await delay(100);
    const names = ["Socket.IO on lost-0", "raw on lost-0", "Socket.IO on lost-1", "raw on lost-1"];
    readers.forEach((read, i) => {
      const env = read();
      t.equal(
        sequenceProblems(seqsOf(env, "before"), BEFORE),
        undefined,
        `${names[i]}: before, all`,
      );
      t.equal(seqsOf(env, "during").length, 0, `${names[i]}: nothing of the refused`);
      t.equal(
        sequenceProblems(seqsOf(env, "after0"), AFTER),
        undefined,
        `${names[i]}: after (lost-0), all`,
      );
      t.equal(
        sequenceProblems(seqsOf(env, "after1"), AFTER),
        undefined,
        `${names[i]}: after (lost-1), all`,
      );
    });
    const accepted0 = await n0.metric("calcbridge_events_published_total", { source: "http" });
    const accepted1 = await n1.metric("calcbridge_events_published_total", { source: "http" });
    t.equal(
      accepted0 + accepted1,
      probes + BEFORE + 2 * AFTER,
      "accepted = published and delivered",
    );
    t.equal(
      await n1.metric("calcbridge_events_received_total"),
      probes + BEFORE + 2 * AFTER,
      "lost-1 took each once",
    );
    t.comment(
      `published ${probes + BEFORE + 2 * AFTER + DURING}: accepted ${accepted0 + accepted1} (all delivered), refused ${DURING}`,
    );
  },
);

t.test(
  "an edge node killed: its clients move to the others and receive what follows",
  async (t) => {
    const nats = await startNats({ t });
    const nodes = await startEdges(
      t,
      range(3).map((i) => ({ nodeId: `edge-${i}`, natsUrls: [nats.url] })),
    );
    const [e0, e1, e2] = nodes as [EdgeProcess, EdgeProcess, EdgeProcess];
    const emitter = new Emitter(await publisherBus(t, [nats.url]), { tenant: TENANT });
    const room = "job:moving";
    // Movers start on edge-0; the Socket.IO one moves to edge-1, the raw one to edge-2.
    const sioMover = new FailoverSioClient(t, [e0.url, e1.url, e2.url], token, [room]);
    const rawMover = new FailoverRawClient(t, [e0.url, e2.url, e1.url], token, [room]);
    await Promise.all([sioMover.start(), rawMover.start()]);
    const [stayS] = await clientsOn(e1, "moving");
    const [, stayR] = await clientsOn(e2, "moving");
    const readers: (() => readonly Envelope[])[] = [
      () => sioMover.envelopes,
      () => rawMover.envelopes,
      () => sioEnvelopes(stayS),
      () => rawEnvelopes(stayR),
    ];
    await probeUntilDelivered(
      (seq) => emitter.to(room).emit("job.progress", seqPayload("moving", "probe", seq)),
      readers,
    );

    const N = 150;
    const KILL_AT = 40;
    const publishedAt: number[] = [];
    let killedAt = 0;
    let killed: Promise<void> | undefined;
    for (let seq = 0; seq < N; seq++) {
      if (seq === KILL_AT) {
        // Everything before the kill has reached the movers: what they miss
        // is what the move itself costs.
        await waitFor(
          () =>
            [sioMover, rawMover].every((m) => seqsOf(m.envelopes, "stream").at(-1) === KILL_AT - 1),
          { message: "the movers got every event before the kill" },
        );
        killedAt = Date.now();
        killed = e0.kill();
      }
      publishedAt.push(Date.now());
      emitter.to(room).emit("job.progress", seqPayload("moving", "stream", seq));
      await delay(10);
    }
    await killed;
    await waitFor(() => readers.every((r) => seqsOf(r(), "stream").at(-1) === N - 1), {
      timeout: 5000,
      message: "the last event reached every client",
    });
    await delay(100);

    t.equal(
      sequenceProblems(seqsOf(readers[2]!(), "stream"), N),
      undefined,
      "Socket.IO client on edge-1: all, once, in order",
    );
    t.equal(
      sequenceProblems(seqsOf(readers[3]!(), "stream"), N),
      undefined,
      "raw client on edge-2: all, once, in order",
    );

    for (const [name, mover, to] of [
      ["Socket.IO", sioMover, e1],
      ["raw", rawMover, e2],
    ] as const) {
      const hop = await mover.hopped(2);
      t.equal(hop.url, to.url, `${name} client moved to ${to.nodeId}`);
      t.equal(mover.drops.length, 1, `${name} client dropped once`);
      const seqs = seqsOf(mover.envelopes, "stream");
      const gap = gapOf(seqs, N);
      t.ok(gap.ordered, `${name}: in order, no duplicates`);
      t.ok(
        gap.contiguous,
        `${name}: what is missing is one window (${gap.missing.join(",") || "none"})`,
      );
      t.ok(
        gap.missing.every((s) => s >= KILL_AT),
        `${name}: nothing before the kill is missing`,
      );
      const after = range(N).filter((s) => publishedAt[s]! > hop.readyAt);
      const gotAfter = seqs.filter((s) => publishedAt[s]! > hop.readyAt);
      t.same(
        gotAfter,
        after,
        `${name}: all ${after.length} events published after it re-subscribed arrived`,
      );
      t.ok(
        after.length > 50,
        `${name}: a meaningful share of the stream came after the move (${after.length})`,
      );
      t.comment(
        `${name}: dropped ${mover.drops[0]! - killedAt} ms after the kill, ready on ${to.nodeId} ` +
          `${hop.readyAt - mover.drops[0]!} ms later; missed ${gap.missing.length} of ${N}; ` +
          `${after.length} published after the move, ${gotAfter.length} received`,
      );
    }
  },
);
