/**
 * Room broadcasts to WebSocket clients go through uWS native pub/sub
 * (`app.publish` / `ws.publish`), never through a per-socket JavaScript send;
 * only long-polling members take the JS path.
 */
import t from "tap";
import { WebSocketTransport } from "../../src/engine/websocket-transport.js";
import { Socket } from "../../src/index.js";
import {
  connectPair,
  startServer,
  waitFor,
  type Pair,
  type Teardown,
  type TestServer,
} from "../helpers.js";

const CLIENTS = 60;

/** Counts calls of `proto[key]` until teardown, then restores it. */
function spy<T extends object>(t: Teardown, proto: T, key: keyof T & string): { calls: number } {
  const original = proto[key] as unknown as (...args: unknown[]) => unknown;
  const counter = { calls: 0 };
  const wrapped = function (this: unknown, ...args: unknown[]) {
    counter.calls++;
    return original.apply(this, args);
  };
  Object.defineProperty(proto, key, { value: wrapped, writable: true, configurable: true });
  t.teardown(() => {
    Object.defineProperty(proto, key, { value: original, writable: true, configurable: true });
  });
  return counter;
}

interface Room {
  server: TestServer;
  pairs: Pair[];
  /** Per client: the values of event "e" received. */
  received: unknown[][];
}

async function room(t: Teardown): Promise<Room> {
  // Heartbeats far apart: no ping may go through WebSocketTransport.send mid-test.
  const server = await startServer(t, { pingInterval: 20_000, pingTimeout: 10_000 });
  const pairs = await Promise.all(
    Array.from({ length: CLIENTS }, () => connectPair(t, server, "websocket")),
  );
  const received = pairs.map(() => [] as unknown[]);
  pairs.forEach((p, i) => {
    p.client.on("e", (x: unknown) => received[i]!.push(x));
    p.server.join("big");
  });
  return { server, pairs, received };
}

t.test("WebSocket members are reached through uWS topics only", async (t) => {
  const { server, pairs, received } = await room(t);
  const { io } = server;
  const stats = io.sockets.adapter.stats;
  const wsSend = spy(t, WebSocketTransport.prototype, "send");
  const sendFrames = spy(t, Socket.prototype, "sendFrames");

  const cases: [string, () => void, number | undefined][] = [
    ["io.to(room).emit", () => io.to("big").emit("e", 1), undefined],
    ["socket.to(room).emit", () => pairs[0]!.server.to("big").emit("e", 2), 0],
    ["io.to(room).except(id).emit", () => io.to("big").except(pairs[7]!.server.id).emit("e", 3), 7],
    ["binary io.to(room).emit", () => io.to("big").emit("e", { bin: Buffer.from([4]) }), undefined],
  ];
  let expected = 0;
  for (const [name, broadcast, excluded] of cases) {
    const before = stats.topicPublishes;
    const directBefore = stats.directSends;
    broadcast();
    expected++;
    const reached = CLIENTS - (excluded === undefined ? 0 : 1);
    await waitFor(() => received.filter((r) => r.length === expected).length === reached, {
      message: `${name}: ${reached} clients`,
    });
    t.ok(stats.topicPublishes > before, `${name}: a topic publish`);
    t.equal(stats.directSends, directBefore, `${name}: no direct send`);
    if (excluded !== undefined) {
      received[excluded]!.push("excluded");
    }
  }

  // Everything has arrived; a last broadcast to all, waited for, proves that
  // nothing else (a duplicate, the excluded socket's copy) is still on its way.
  io.emit("e", "end");
  await waitFor(() => received.every((r) => r[r.length - 1] === "end"));
  t.equal(wsSend.calls, 0, "WebSocketTransport.prototype.send was never called");
  t.equal(sendFrames.calls, 0, "Socket.prototype.sendFrames was never called");

  const values = (i: number) =>
    received[i]!.map((x) => (typeof x === "object" && x !== null ? "bin" : x));
  t.same(values(1), [1, 2, 3, "bin", "end"], "a member got each broadcast exactly once");
  t.same(values(0), [1, "excluded", 3, "bin", "end"], "the sender was excluded from socket.to");
  t.same(values(7), [1, 2, "excluded", "bin", "end"], "the excluded socket got nothing");
  t.ok(
    received.every((r) => r.length === 5),
    "every client got exactly five events",
  );
  const bin = received[1]![3] as { bin: Buffer };
  t.same([...bin.bin], [4], "binary attachments travel through the topic too");
});

t.test("several excluded members and multi-room dedup stay native", async (t) => {
  const { server, pairs, received } = await room(t);
  const { io } = server;
  pairs.slice(0, 10).forEach((p) => p.server.join("ten"));
  pairs.slice(5, 20).forEach((p) => p.server.join("other"));
  const wsSend = spy(t, WebSocketTransport.prototype, "send");
  const sendFrames = spy(t, Socket.prototype, "sendFrames");

  // Synchronous back-to-back publishes: the excluded members must not get
  // the first one through their re-subscription for the second.
  io.to("big").except("ten").emit("e", "not-ten");
  io.to("ten").emit("e", "ten");
  io.to("ten").to("other").to("big").emit("e", "union");
  io.emit("e", "end");
  await waitFor(() => received.every((r) => r[r.length - 1] === "end"));
  t.equal(wsSend.calls, 0);
  t.equal(sendFrames.calls, 0);
  received.forEach((r, i) => {
    const first = i < 10 ? ["ten"] : ["not-ten"];
    t.same(r, [...first, "union", "end"], `client ${i}`);
  });
});

t.test("a polling member of the room takes the JS path, the rest stay native", async (t) => {
  const { server, pairs, received } = await room(t);
  const { io } = server;
  const poller = await connectPair(t, server, "polling");
  poller.server.join("big");
  const polled: unknown[] = [];
  poller.client.on("e", (x: unknown) => polled.push(x));
  const stats = io.sockets.adapter.stats;
  const wsSend = spy(t, WebSocketTransport.prototype, "send");
  const sendFrames = spy(t, Socket.prototype, "sendFrames");
  const publishes = stats.topicPublishes;
  const direct = stats.directSends;

  io.to("big").emit("e", "all");
  pairs[3]!.server.to("big").emit("e", "from-3");
  await waitFor(
    () => polled.length === 2 && received.every((r, i) => r.length === (i === 3 ? 1 : 2)),
  );
  t.same(polled, ["all", "from-3"], "the polling client got both");
  t.equal(sendFrames.calls, 2, "one JS send per broadcast, for the polling member");
  t.equal(stats.directSends - direct, 2);
  t.equal(stats.topicPublishes - publishes, 2);
  t.equal(wsSend.calls, 0, "no WebSocket got a JS send");
  t.same(received[3], ["all"]);
  t.same(received[4], ["all", "from-3"]);

  // A client that joins while polling has its rooms moved onto the topics
  // when it upgrades to WebSocket.
  poller.client.disconnect();
  io.on("connection", (socket: Socket) => {
    t.equal(socket.conn.transport.name, "polling", "joined while polling");
    socket.join("big");
  });
  const upgraded = await connectPair(t, server, "default");
  t.equal(upgraded.server.conn.transport.name, "websocket");
  const got: unknown[] = [];
  upgraded.client.on("e", (x: unknown) => got.push(x));
  const sendsBefore = sendFrames.calls;
  io.to("big").emit("e", "native-again");
  await waitFor(() => got.length === 1);
  t.same(got, ["native-again"]);
  t.equal(sendFrames.calls, sendsBefore, "the upgraded client is reached through the topic");
});
