/**
 * The publisher-side `Emitter` (bridge-nats) on its own NATS connection,
 * against two edge node processes and one in-process node (whose
 * server-side listeners show `serverSideEmit`): CalcBridge events to raw and
 * Socket.IO clients, validation (nothing sent on refusal), and plain
 * Socket.IO broadcasts and adapter operations in a namespace.
 */
import { Emitter, EmitterValidationError, NatsBus } from "@calcbridge/bridge-nats";
import { startNats, waitFor } from "@calcbridge/testing";
import t from "tap";
import {
  QUIET_MS,
  rawOpen,
  sioConnect,
  startNode,
  tokenFor,
  type RawClient,
  type SioClient,
} from "../api-helpers.js";
import {
  FAST_BUS,
  TENANT,
  delay,
  probeUntilDelivered,
  publisherBus,
  rawEnvelopes,
  seqPayload,
  sioEnvelopes,
  startEdges,
  subjectOf,
  type Envelope,
} from "../cluster-helpers.js";

const nats = await startNats({ t });
const [e0, e1] = await startEdges(t, [
  { nodeId: "edge-0", natsUrls: [nats.url] },
  { nodeId: "edge-1", natsUrls: [nats.url] },
]);
const local = await startNode(t, {
  bus: await NatsBus.start({ ...FAST_BUS, servers: [nats.url], name: "local" }),
  nodeId: "local",
});
const ports = [e0!.port, e1!.port, local.port];
const emitter = new Emitter(await publisherBus(t, [nats.url]), { tenant: TENANT });

const USER = "user_1";
const ROOMS = ["job:e1", `workbook:${TENANT}:wb1`, `notifications:${USER}`] as const;
const token = await tokenFor(USER, TENANT);

/** On every node: a Socket.IO client and a raw client (`/ws`), both in ROOMS. */
const sio: SioClient[] = [];
const raw: RawClient[] = [];
for (const port of ports) {
  const s = await sioConnect(t, port, { token });
  for (const room of ROOMS) {
    if ((await s.ack("subscribe", room))["ok"] !== true) throw new Error(`subscribe ${room}`);
  }
  sio.push(s);
  const r = await rawOpen(t, port, "/ws", { token });
  for (const room of ROOMS) {
    const answer = await r.request({ type: "subscribe", room });
    if (answer.type !== "subscribed") throw new Error(`raw subscribe ${room}`);
  }
  raw.push(r);
}
const readers: (() => Envelope[])[] = [
  ...sio.map((s) => () => sioEnvelopes(s)),
  ...raw.map((r) => () => rawEnvelopes(r)),
];
const NODE_NAMES = ["edge-0", "edge-1", "local"];
const readerName = (i: number) =>
  i < 3 ? `Socket.IO client on ${NODE_NAMES[i]}` : `raw client on ${NODE_NAMES[i - 3]}`;
await probeUntilDelivered(
  (seq) => emitter.to("job:e1").emit("job.progress", seqPayload("e1", "probe", seq)),
  readers,
);

/** Envelopes with payload `tag` set, by reader. */
const tagged = (tag: string) =>
  readers.map((read) => read().filter((e) => e.payload["tag"] === tag));

t.test("CalcBridge events reach raw and Socket.IO clients on every node", async (t) => {
  const sent = emitter.to("job:e1").emit("job.completed", {
    job_id: "e1",
    result: { rows_processed: 150 },
    tag: "one",
  });
  t.equal(sent.length, 1, "one event");
  emitter
    .to(`workbook:${TENANT}:wb1`)
    .to(`notifications:${USER}`)
    .emit("notification", { title: "Export ready", tag: "two" });
  await waitFor(
    () => tagged("one").every((l) => l.length === 1) && tagged("two").every((l) => l.length === 2),
    {
      message: "every client got the events",
    },
  );
  await delay(QUIET_MS);
  tagged("one").forEach((list, i) => {
    t.match(
      list,
      [
        {
          type: "job.completed",
          room: "job:e1",
          payload: { job_id: "e1", result: { rows_processed: 150 } },
        },
      ],
      `${readerName(i)}: job.completed in job:e1`,
    );
  });
  tagged("two").forEach((list, i) => {
    t.same(
      list.map((e) => `${e.type} ${e.room}`),
      [`notification workbook:${TENANT}:wb1`, `notification notifications:${USER}`],
      `${readerName(i)}: one notification per room, in order`,
    );
  });
  const sioEvent = sio[0]!.events.find(
    ([, first]) => (first as Envelope).payload?.["tag"] === "one",
  );
  t.equal(
    sioEvent?.[0],
    "job.completed",
    "Socket.IO clients get it as an event named after its type",
  );

  // Another tenant's job of the same id: not for these clients.
  emitter
    .forTenant("tenant_2")
    .to("job:e1")
    .emit("job.started", { job_id: "e1", tag: "other-tenant" });
  emitter.to("job:e1").emit("job.started", { job_id: "e1", tag: "after-other" });
  await waitFor(() => tagged("after-other").every((l) => l.length === 1), { message: "marker" });
  t.ok(
    tagged("other-tenant").every((l) => l.length === 0),
    "an event for tenant_2's job:e1 reaches no client of tenant_1",
  );
});

t.test("invalid events: EmitterValidationError, nothing delivered", async (t) => {
  const bad = [
    () => emitter.to("job:e1").emit("job.progress", { job_id: "e1", progress: 101, tag: "bad" }),
    () => emitter.to("job:e1").emit("no.such.type", { tag: "bad" }),
    () => emitter.to(["job:e1", "nonsense"]).emit("job.started", { job_id: "e1", tag: "bad" }),
    () =>
      emitter.publish({
        events: [
          {
            tenant_id: TENANT,
            room: "job:e1",
            type: "job.started",
            payload: { job_id: "e1", tag: "bad" },
          },
          { tenant_id: TENANT, room: "job:e1", type: "job.started", payload: { tag: "bad" } },
        ],
      }),
  ];
  for (const [i, fn] of bad.entries()) {
    let err: unknown;
    try {
      fn();
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof EmitterValidationError, `case ${i}: EmitterValidationError`);
    t.ok((err as EmitterValidationError).reasons.length > 0, `case ${i}: with reasons`);
    t.equal((err as EmitterValidationError).code, "ERR_INVALID_EVENT", `case ${i}: code`);
  }
  const noTenant = new Emitter({ publish: () => undefined });
  t.throws(
    () => noTenant.to("job:e1").emit("job.started", { job_id: "e1", tag: "bad" }),
    EmitterValidationError,
    "a job room without a tenant is refused",
  );
  // A marker sent after them arrives; none of the refused ones came before it.
  emitter.to("job:e1").emit("job.started", { job_id: "e1", tag: "after-bad" });
  await waitFor(() => tagged("after-bad").every((l) => l.length === 1), { message: "marker" });
  t.ok(
    tagged("bad").every((l) => l.length === 0),
    "no client got any event of a refused call (a refused batch sends none of its valid events)",
  );
});

t.test(
  "emitter.of('/'): Socket.IO broadcasts reach Socket.IO clients in the room, not raw ones",
  async (t) => {
    const subject = subjectOf("job:e1");
    const rawBefore = raw.map((r) => r.texts.length);
    emitter.of("/").to(subject).emit("custom", 1, { a: 2 });
    await waitFor(() => sio.every((s) => s.events.some(([e]) => e === "custom")), {
      message: "every Socket.IO client got 'custom'",
    });
    for (const [i, s] of sio.entries()) {
      t.same(
        s.events.filter(([e]) => e === "custom").map(([, first]) => first),
        [1],
        `${readerName(i)}: one 'custom' event`,
      );
    }
    // All arguments, and binary ones, as the official client decodes them.
    const args = sio.map(
      (s) =>
        new Promise<unknown[]>((resolve) => s.socket.once("bin", (...a: unknown[]) => resolve(a))),
    );
    emitter
      .of("/")
      .to(subject)
      .emit("bin", 1, { a: 2 }, Buffer.from([1, 2, 3]));
    for (const [i, got] of (await Promise.all(args)).entries()) {
      t.equal(got.length, 3, `${readerName(i)}: three arguments`);
      t.same(got.slice(0, 2), [1, { a: 2 }], `${readerName(i)}: 1, {a: 2}`);
      t.same([...new Uint8Array(got[2] as ArrayBuffer)], [1, 2, 3], `${readerName(i)}: the binary`);
    }
    emitter.of("/").to("nobody-here").emit("custom", "lost");
    await delay(QUIET_MS);
    t.ok(
      sio.every((s) => s.events.filter(([e]) => e === "custom").length === 1),
      "a broadcast to a room without members reaches no one",
    );
    t.same(
      raw.map((r) => r.texts.length),
      rawBefore,
      "raw clients got none of the Socket.IO broadcasts",
    );
  },
);

t.test(
  "emitter.of('/'): socketsJoin, serverSideEmit and disconnectSockets on every node",
  async (t) => {
    const subject = subjectOf("job:e1");
    emitter.of("/").in(subject).except(sio[1]!.socket.id!).socketsJoin("vip");
    await waitFor(async () => (await local.node.io.in("vip").fetchSockets()).length === 2, {
      message: "two sockets in 'vip'",
    });
    const vip = (await local.node.io.in("vip").fetchSockets()).map((s) => s.id).sort();
    t.same(
      vip,
      [sio[0]!.socket.id, sio[2]!.socket.id].sort(),
      "edge-0's and local's clients joined (edge-1's excepted)",
    );
    emitter.of("/").to("vip").emit("vip-msg", "hi");
    await waitFor(
      () =>
        sio[0]!.events.some(([e]) => e === "vip-msg") &&
        sio[2]!.events.some(([e]) => e === "vip-msg"),
      {
        message: "vip-msg",
      },
    );
    await delay(QUIET_MS);
    t.notOk(
      sio[1]!.events.some(([e]) => e === "vip-msg"),
      "edge-1's client (not in 'vip') did not get it",
    );

    const heard: unknown[][] = [];
    local.node.io.on("from-emitter", (...args: unknown[]) => heard.push(args));
    emitter.of("/").serverSideEmit("from-emitter", 1, { x: 2 });
    await waitFor(() => heard.length === 1, { message: "local node's listener called" });
    t.same(heard, [[1, { x: 2 }]], "serverSideEmit reached the node's server-side listener");

    const reasons = [sio[0]!, sio[2]!].map(
      (s) => new Promise<string>((resolve) => s.socket.once("disconnect", resolve)),
    );
    emitter.of("/").in("vip").disconnectSockets();
    t.same(
      await Promise.all(reasons),
      ["io server disconnect", "io server disconnect"],
      "the 'vip' sockets on edge-0 and local are disconnected",
    );
    await delay(QUIET_MS);
    t.ok(sio[1]!.socket.connected, "edge-1's client stays connected");
    t.ok(
      raw.every((r) => r.isOpen),
      "raw clients are not Socket.IO sockets: untouched",
    );
    t.ok(e0!.running && e1!.running, "both edge processes still run");
  },
);
