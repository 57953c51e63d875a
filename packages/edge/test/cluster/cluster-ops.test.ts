/**
 * Socket.IO's cross-node operations over a real nats-server: three edge
 * nodes in this process (A calls, B and D answer `serverSideEmit`, which a
 * CLI node has no listener for) and one edge node process, C, that the test
 * freezes (SIGSTOP: slow) and then kills (SIGKILL: gone). Clients are
 * official socket.io-client sockets on every node.
 */
import { NatsBus } from "@calcbridge/bridge-nats";
import { startNats, waitFor } from "@calcbridge/testing";
import t from "tap";
import { AckTimeoutError } from "../../src/errors.js";
import { ClusterTimeoutError } from "../../src/socketio/cluster-link.js";
import { RemoteSocket } from "../../src/socketio/remote-socket.js";
import type { Socket } from "../../src/socketio/socket.js";
import {
  QUIET_MS,
  sioConnect,
  startNode,
  tokenFor,
  type SioClient,
  type TestNode,
} from "../api-helpers.js";
import { FAST_BUS, TENANT, delay, startEdge, subjectOf } from "../cluster-helpers.js";

/** How long A waits for the other nodes (fetchSockets, serverSideEmit acks). */
const REQUEST_TIMEOUT_MS = 800;

const nats = await startNats({ t });

async function inProcess(nodeId: string): Promise<TestNode> {
  const bus = await NatsBus.start({ ...FAST_BUS, servers: [nats.url], name: nodeId });
  return startNode(t, { bus, nodeId, io: { clusterRequestTimeout: REQUEST_TIMEOUT_MS } });
}

const [a, b, d] = await Promise.all([
  inProcess("node-a"),
  inProcess("node-b"),
  inProcess("node-d"),
]);
// C keeps socket.io's default heartbeat (25 s) so its clients stay connected
// through the freeze; 3 rooms per socket at most (its own id room included).
const c = await startEdge(t, {
  nodeId: "node-c",
  natsUrls: [nats.url],
  env: { PING_INTERVAL_MS: "25000", PING_TIMEOUT_MS: "20000", MAX_ROOMS_PER_SOCKET: "3" },
});
await waitFor(() => a.node.cluster!.nodes.size === 3, {
  timeout: 8000,
  message: "A knows B, C and D",
});

const ROOM = "job:ops";
const SUBJECT = subjectOf(ROOM);

/** A client of user `name` on `port`, in ROOM, answering "ask" with `name:arg`. */
async function client(port: number, name: string): Promise<SioClient & { name: string }> {
  const sio = await sioConnect(t, port, { token: await tokenFor(name, TENANT) });
  const ack = await sio.ack("subscribe", ROOM);
  if (ack["ok"] !== true) throw new Error(`subscribe: ${JSON.stringify(ack)}`);
  sio.socket.on("ask", (arg: unknown, cb: (answer: unknown) => void) => cb(`${name}:${arg}`));
  return Object.assign(sio, { name });
}

const clients = {
  a1: await client(a.port, "a1"),
  b1: await client(b.port, "b1"),
  c1: await client(c.port, "c1"),
  c2: await client(c.port, "c2"),
  d1: await client(d.port, "d1"),
};
const all = Object.values(clients);
const idOf = (x: SioClient) => x.socket.id!;
const names = (list: readonly (Socket | RemoteSocket)[]) =>
  list.map((s) => (s.data as { claims: { sub: string } }).claims.sub).sort();
/** Names of the clients that received `event` (first argument equal to `arg`). */
const gotEvent = (event: string, arg: unknown) =>
  all.filter((x) => x.events.some(([e, first]) => e === event && first === arg)).map((x) => x.name);

type Answer = { from: string; got: unknown };
const byFrom = (list: readonly Answer[]) => [...list].sort((x, y) => x.from.localeCompare(y.from));

// B and D answer server-side events; A counts what reaches it (nothing should).
const serverSide: Record<string, unknown[][]> = { a: [], b: [], d: [] };
for (const [key, node] of [
  ["a", a],
  ["b", b],
  ["d", d],
] as const) {
  node.node.io.on("hello-nodes", (...args: unknown[]) => {
    const last = args.at(-1);
    if (typeof last === "function") {
      (last as (v: unknown) => void)({ from: key, got: args[0] });
      serverSide[key]!.push(args.slice(0, -1));
    } else serverSide[key]!.push(args);
  });
}

t.test("fetchSockets returns the sockets of every node: ids, rooms, data", async (t) => {
  const sockets = await a.node.io.fetchSockets();
  t.same(names(sockets), ["a1", "b1", "c1", "c2", "d1"], "every client of every node");
  const byId = new Map(sockets.map((s) => [s.id, s]));
  for (const x of all) {
    const s = byId.get(idOf(x));
    t.ok(s, `${x.name} is found by its id`);
    if (s === undefined) continue;
    t.ok(s.rooms.has(SUBJECT), `${x.name} is in the room's subject`);
    t.ok(s.rooms.has(s.id), `${x.name} is in its own id room`);
    t.match(s.data, { claims: { sub: x.name, tenant_id: TENANT } }, `${x.name}'s data`);
  }
  t.notOk(byId.get(idOf(clients.a1)) instanceof RemoteSocket, "A's own socket is local");
  const remote = sockets.filter((s): s is RemoteSocket => s instanceof RemoteSocket);
  t.same(
    remote.map((s) => `${s.node}:${(s.data as { claims: { sub: string } }).claims.sub}`).sort(),
    ["node-b:b1", "node-c:c1", "node-c:c2", "node-d:d1"],
    "remote sockets name their node",
  );
  const one = await a.node.io.in(idOf(clients.c2)).fetchSockets();
  t.same(names(one), ["c2"], "targeting by a remote socket's id");
  const none = await a.node.io.in("nobody").fetchSockets();
  t.same(none, [], "an empty room on every node");
});

t.test("socketsJoin / socketsLeave / disconnectSockets apply on every node", async (t) => {
  // Joined from B, so the operation starts on another node than the checks.
  b.node.io.in(SUBJECT).except(idOf(clients.d1)).socketsJoin("extra");
  await waitFor(async () => (await a.node.io.in("extra").fetchSockets()).length === 4, {
    message: "four sockets in 'extra'",
  });
  t.same(names(await a.node.io.in("extra").fetchSockets()), ["a1", "b1", "c1", "c2"], "joined");
  a.node.io.to("extra").emit("note", "joined");
  await waitFor(() => gotEvent("note", "joined").length === 4, { message: "4 notes" });
  t.same(
    gotEvent("note", "joined"),
    ["a1", "b1", "c1", "c2"],
    "a broadcast to 'extra' reaches them",
  );

  // A remote socket's own operations travel by its id.
  const [c1] = await a.node.io.in(idOf(clients.c1)).fetchSockets();
  (c1 as RemoteSocket).leave("extra");
  a.node.io.in("extra").except(idOf(clients.a1)).socketsLeave("extra");
  await waitFor(async () => (await a.node.io.in("extra").fetchSockets()).length === 1, {
    message: "only a1 left in 'extra'",
  });
  a.node.io.to("extra").emit("note", "left");
  await delay(QUIET_MS);
  t.same(gotEvent("note", "left"), ["a1"], "after socketsLeave only a1 gets it");

  // Three throwaway clients, one per node, disconnected from D.
  const tokens = await Promise.all(["x-a", "x-c", "x-d"].map((n) => tokenFor(n, TENANT)));
  const extra = await Promise.all(
    [a.port, c.port, d.port].map((port, i) => sioConnect(t, port, { token: tokens[i]! })),
  );
  for (const x of extra) await x.ack("subscribe", "job:doomed");
  const reasons = extra.map(
    (x) => new Promise<string>((resolve) => x.socket.once("disconnect", resolve)),
  );
  d.node.io.in(subjectOf("job:doomed")).disconnectSockets();
  t.same(
    await Promise.all(reasons),
    ["io server disconnect", "io server disconnect", "io server disconnect"],
    "the room's sockets on A, C and D are disconnected",
  );
  await delay(QUIET_MS);
  t.ok(
    all.every((x) => x.socket.connected),
    "the other clients stay connected",
  );
});

t.test("serverSideEmit: one answer per other node that listens", async (t) => {
  const answers = (await a.node.io.serverSideEmitWithAck("hello-nodes", 42)) as Answer[];
  t.same(
    byFrom(answers),
    [
      { from: "b", got: 42 },
      { from: "d", got: 42 },
    ],
    "B and D answer once each; C (no listener) is not waited for in vain",
  );
  t.same(serverSide["a"], [], "the sender's own listeners are not called");
  serverSide["b"]!.length = 0;
  serverSide["d"]!.length = 0;
  a.node.io.serverSideEmit("hello-nodes", "fire", { x: 1 });
  await waitFor(() => serverSide["b"]!.length === 1 && serverSide["d"]!.length === 1, {
    message: "B and D got the fire-and-forget emit",
  });
  t.same(serverSide["b"], [["fire", { x: 1 }]], "B got the arguments");
  t.same(serverSide["a"], [], "A did not");
});

t.test("broadcast with acks collects every client's answer on every node", async (t) => {
  const responses = await a.node.io.timeout(2000).emitWithAck("ask", 1);
  t.same(
    (responses as string[]).sort(),
    ["a1:1", "b1:1", "c1:1", "c2:1", "d1:1"],
    "one ack per client",
  );
  const inRoom = await a.node.io
    .to(SUBJECT)
    .except(idOf(clients.b1))
    .timeout(2000)
    .emitWithAck("ask", 2);
  t.same((inRoom as string[]).sort(), ["a1:2", "c1:2", "c2:2", "d1:2"], "room minus b1");
});

t.test("except, sender exclusion and local across the cluster", async (t) => {
  a.node.io.to(SUBJECT).except(idOf(clients.c1)).emit("ex", "1");
  await waitFor(() => gotEvent("ex", "1").length === 4, { message: "4 recipients" });
  await delay(QUIET_MS);
  t.same(gotEvent("ex", "1"), ["a1", "b1", "c2", "d1"], "except(socket id on C) skips only c1");

  const sender = a.node.io.sockets.sockets.get(idOf(clients.a1))!;
  sender.to(SUBJECT).emit("ex", "2");
  await waitFor(() => gotEvent("ex", "2").length === 4, { message: "4 recipients" });
  await delay(QUIET_MS);
  t.same(gotEvent("ex", "2"), ["b1", "c1", "c2", "d1"], "socket.to(room): all but the sender");

  const remoteSender = b.node.io.sockets.sockets.get(idOf(clients.b1))!;
  remoteSender.broadcast.emit("ex", "3");
  await waitFor(() => gotEvent("ex", "3").length === 4, { message: "4 recipients" });
  await delay(QUIET_MS);
  t.same(gotEvent("ex", "3"), ["a1", "c1", "c2", "d1"], "socket.broadcast on B: all but b1");

  a.node.io.local.emit("ex", "4");
  b.node.io.local.to(SUBJECT).emit("ex", "5");
  await delay(QUIET_MS * 2);
  t.same(gotEvent("ex", "4"), ["a1"], "io.local.emit on A stays on A");
  t.same(gotEvent("ex", "5"), ["b1"], "io.local.to(room) on B stays on B");
});

t.test("a remote socketsJoin over a socket's room limit does not take a node down", async (t) => {
  // C allows 3 rooms per socket: its own id room, the subject and one more.
  a.node.io.in(idOf(clients.c2)).socketsJoin(["r1", "r2", "r3"]);
  a.node.io.in(idOf(clients.c1)).socketsJoin("r4");
  // Requests from A reach C in order: when it answers this, it has handled both joins.
  const inR4 = await a.node.io
    .in("r4")
    .fetchSockets()
    .catch((err: unknown) => err);
  t.ok(c.running, "node-c is still running");
  if (!c.running) t.comment(c.output().slice(-1500));
  t.same(Array.isArray(inR4) ? names(inR4) : inR4, ["c1"], "c1 joined r4 (within its limit)");
  const [c2] = await a.node.io.in(idOf(clients.c2)).fetchSockets();
  t.notOk(c2?.rooms.has("r1"), "c2 joined none of the rooms that would exceed its limit");
  a.node.io.in("r4").socketsLeave("r4");
});

t.test("a frozen node (SIGSTOP): partial results, the silent node named", async (t) => {
  c.pause();
  t.teardown(() => c.resume());

  const started = Date.now();
  const err = await a.node.io.fetchSockets().then(
    () => undefined,
    (e: unknown) => e,
  );
  const waited = Date.now() - started;
  t.ok(err instanceof ClusterTimeoutError, "fetchSockets rejects with ClusterTimeoutError");
  const timeout = err as ClusterTimeoutError<Socket | RemoteSocket>;
  t.same(timeout.missing, ["node-c"], "missing names node-c");
  t.same(names(timeout.partial), ["a1", "b1", "d1"], "partial holds A's, B's and D's sockets");
  t.ok(
    waited >= REQUEST_TIMEOUT_MS - 20 && waited < REQUEST_TIMEOUT_MS + 1000,
    `after ${waited} ms`,
  );

  const ackErr = (await a.node.io
    .timeout(600)
    .emitWithAck("ask", 3)
    .then(
      () => undefined,
      (e: unknown) => e,
    )) as (AckTimeoutError & { responses?: unknown[] }) | undefined;
  t.ok(ackErr instanceof AckTimeoutError, "emitWithAck rejects with a timeout error");
  t.same(
    [...(ackErr?.responses ?? [])].sort(),
    ["a1:3", "b1:3", "d1:3"],
    "its responses are the acks of the clients on A, B and D",
  );

  const sseErr = await a.node.io.serverSideEmitWithAck("hello-nodes", 7).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(sseErr instanceof ClusterTimeoutError, "serverSideEmitWithAck rejects");
  const sse = sseErr as ClusterTimeoutError;
  t.same(sse.missing, ["node-c"], "naming node-c");
  t.same(
    byFrom(sse.partial as Answer[]),
    [
      { from: "b", got: 7 },
      { from: "d", got: 7 },
    ],
    "with B's and D's answers as they are",
  );

  c.resume();
  await waitFor(
    async () =>
      (await a.node.io.fetchSockets().then(
        (s) => s.length,
        () => 0,
      )) === 5,
    { message: "node-c answers again once resumed" },
  );
  t.pass("after SIGCONT fetchSockets is complete again");
});

t.test("a killed node (SIGKILL): timeouts name it until membership drops it", async (t) => {
  await c.kill();
  const killedAt = Date.now();
  const err = await a.node.io.fetchSockets().then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof ClusterTimeoutError, "fetchSockets rejects while node-c is still a member");
  t.same((err as ClusterTimeoutError).missing, ["node-c"], "missing names node-c");
  t.same(names((err as ClusterTimeoutError<Socket>).partial), ["a1", "b1", "d1"], "partial");
  const sse = await a.node.io.serverSideEmitWithAck("hello-nodes", 8).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.same((sse as ClusterTimeoutError).missing, ["node-c"], "serverSideEmitWithAck names it too");

  // Heartbeats every 2 s; a node unheard for 3 intervals is dropped.
  await waitFor(() => !a.node.cluster!.nodes.has("node-c"), {
    timeout: 12_000,
    interval: 100,
    message: "node-c dropped from A's membership",
  });
  t.comment(`node-c dropped ${Date.now() - killedAt} ms after the kill`);
  const sockets = await a.node.io.fetchSockets();
  t.same(names(sockets), ["a1", "b1", "d1"], "then fetchSockets resolves with the live nodes");
});
