/**
 * Rooms and broadcasts with socket.io-client in each transport mode:
 * targeting (`to`, `except`, `socket.to`, `broadcast`), volatile, the
 * server-side utilities (`fetchSockets`, `socketsJoin`, `socketsLeave`,
 * `disconnectSockets`) and broadcasts with acknowledgements.
 *
 * "Not received" is proven without sleeping: after each broadcast every
 * client gets a marker event, and a connection delivers in order, so whatever
 * the broadcast sent has arrived by the time the marker has.
 */
import t from "tap";
import type { Server } from "../../src/index.js";
import {
  MODES,
  collect,
  connectPair,
  disconnectReason,
  once,
  startServer,
  waitFor,
  type Mode,
  type Pair,
  type Teardown,
  type TestServer,
} from "../helpers.js";

/** Clients named a, b, c, ... with what each received of event "e". */
interface Crowd {
  server: TestServer;
  pairs: Record<string, Pair>;
  received: Record<string, unknown[]>;
  /** Runs `broadcast`, then waits until every client has the marker sent after it. */
  settle(broadcast: () => void): Promise<void>;
  /** What each client received since the last `take`, emptied. */
  take(): Record<string, unknown[]>;
}

async function crowd(t: Teardown, mode: Mode, names: string[]): Promise<Crowd> {
  const server = await startServer(t);
  const pairs: Record<string, Pair> = {};
  const received: Record<string, unknown[]> = {};
  const markers: Record<string, number> = {};
  for (const name of names) {
    const pair = await connectPair(t, server, mode);
    pairs[name] = pair;
    received[name] = [];
    markers[name] = 0;
    pair.client.on("e", (x: unknown) => received[name]!.push(x));
    pair.client.on("marker", (n: number) => (markers[name] = n));
  }
  let marker = 0;
  return {
    server,
    pairs,
    received,
    async settle(broadcast) {
      broadcast();
      const n = ++marker;
      server.io.emit("marker", n);
      await waitFor(() => names.every((name) => markers[name] === n), { message: `marker ${n}` });
    },
    take() {
      const out: Record<string, unknown[]> = {};
      for (const name of names) out[name] = received[name]!.splice(0);
      return out;
    },
  };
}

const ids = (io: Server, room: string) =>
  [...(io.sockets.adapter.rooms.get(room) ?? [])].map((m) => m.id).sort();

for (const mode of MODES) {
  t.test(`rooms over ${mode}`, async (t) => {
    t.test("targeting: to, except, socket.to, broadcast", async (t) => {
      const c = await crowd(t, mode, ["a", "b", "c", "d"]);
      const { a, b, c: cc, d } = c.pairs as Record<"a" | "b" | "c" | "d", Pair>;
      const { io } = c.server;
      a.server.join("r1");
      b.server.join(["r1", "r2"]);
      cc.server.join("r2");
      // d is in no room but its own.

      await c.settle(() => io.to("r1").emit("e", 1));
      t.same(c.take(), { a: [1], b: [1], c: [], d: [] }, "io.to(r1)");

      await c.settle(() => io.to("r1").to("r2").emit("e", 2));
      t.same(c.take(), { a: [2], b: [2], c: [2], d: [] }, "io.to(r1).to(r2): b once");

      await c.settle(() => io.to(["r1", "r2"]).emit("e", 3));
      t.same(c.take(), { a: [3], b: [3], c: [3], d: [] }, "io.to([r1, r2])");

      await c.settle(() => io.to("r1").except("r2").emit("e", 4));
      t.same(c.take(), { a: [4], b: [], c: [], d: [] }, "io.to(r1).except(r2)");

      await c.settle(() => io.except(b.server.id).emit("e", 5));
      t.same(c.take(), { a: [5], b: [], c: [5], d: [5] }, "io.except(socketId)");

      await c.settle(() => io.except(["r1", "r2"]).emit("e", 6));
      t.same(c.take(), { a: [], b: [], c: [], d: [6] }, "io.except([r1, r2])");

      await c.settle(() => a.server.to("r1").emit("e", 7));
      t.same(c.take(), { a: [], b: [7], c: [], d: [] }, "socket.to(r1): the sender is excluded");

      await c.settle(() => b.server.to("r1").to("r2").emit("e", 8));
      t.same(c.take(), { a: [8], b: [], c: [8], d: [] }, "socket.to(r1).to(r2)");

      await c.settle(() => a.server.broadcast.emit("e", 9));
      t.same(c.take(), { a: [], b: [9], c: [9], d: [9] }, "socket.broadcast");

      await c.settle(() => io.to(d.server.id).emit("e", 10));
      t.same(c.take(), { a: [], b: [], c: [], d: [10] }, "io.to(socketId)");

      await c.settle(() => io.to([d.server.id, "r2"]).emit("e", 11));
      t.same(c.take(), { a: [], b: [11], c: [11], d: [11] }, "io.to([socketId, room])");

      await c.settle(() => io.to("empty").emit("e", 12));
      t.same(c.take(), { a: [], b: [], c: [], d: [] }, "an empty room reaches nobody");

      await c.settle(() => io.emit("e", 13));
      t.same(c.take(), { a: [13], b: [13], c: [13], d: [13] }, "io.emit");

      await c.settle(() => io.in("r2").emit("e", { deep: [Buffer.from([1, 2])] }));
      const got = c.take();
      t.same(
        Object.keys(got).filter((k) => got[k]!.length > 0),
        ["b", "c"],
        "binary to a room",
      );
      t.same([...(got["b"]![0] as { deep: [Buffer] }).deep[0]], [1, 2]);

      // Leaving a room stops its broadcasts.
      b.server.leave("r1");
      await c.settle(() => io.to("r1").emit("e", 14));
      t.same(c.take(), { a: [14], b: [], c: [], d: [] }, "after leave");
      t.same(ids(io, "r1"), [a.server.id]);
    });

    t.test("namespaces do not share rooms", async (t) => {
      const server = await startServer(t);
      server.io.of("/other");
      const main = await connectPair(t, server, mode);
      const other = await connectPair(t, server, mode, { nsp: "/other" });
      main.server.join("shared");
      other.server.join("shared");
      const onMain = collect(main.client, "e");
      const onOther = collect(other.client, "e");
      server.io.of("/other").to("shared").emit("e", "other");
      server.io.to("shared").emit("e", "main");
      const markers = Promise.all([once(main.client, "marker"), once(other.client, "marker")]);
      server.io.emit("marker");
      server.io.of("/other").emit("marker");
      await markers;
      t.same(onMain, [["main"]]);
      t.same(onOther, [["other"]]);
    });

    t.test("volatile broadcast reaches connected clients", async (t) => {
      const c = await crowd(t, mode, ["a", "b"]);
      const { a, b } = c.pairs as Record<"a" | "b", Pair>;
      a.server.join("v");
      b.server.join("v");
      const writable = (p: Pair) => {
        const tr = p.server.conn.transport as { name: string; polling?: boolean };
        return tr.name === "websocket" || tr.polling === true;
      };
      await waitFor(() => writable(a) && writable(b));
      const gotA = once(a.client, "e");
      const gotB = once(b.client, "e");
      c.server.io.to("v").volatile.emit("e", "vol");
      t.same(await gotA, ["vol"]);
      t.same(await gotB, ["vol"]);
    });

    t.test("fetchSockets, socketsJoin, socketsLeave, disconnectSockets", async (t) => {
      const c = await crowd(t, mode, ["a", "b", "c"]);
      const { a, b, c: cc } = c.pairs as Record<"a" | "b" | "c", Pair>;
      const { io } = c.server;
      a.server.join("x");
      b.server.join("x");

      const all = await io.fetchSockets();
      t.same(all.map((s) => s.id).sort(), [a, b, cc].map((p) => p.server.id).sort());
      const inX = await io.in("x").fetchSockets();
      t.same(inX.map((s) => s.id).sort(), [a, b].map((p) => p.server.id).sort());
      const notInX = await io.except("x").fetchSockets();
      t.same(
        notInX.map((s) => s.id),
        [cc.server.id],
      );
      t.same(
        (await io.in(b.server.id).fetchSockets()).map((s) => s.id),
        [b.server.id],
        "by socket id",
      );
      t.same(await io.in("nobody").fetchSockets(), []);

      io.in("x").socketsJoin(["y", "z"]);
      t.same(ids(io, "y"), [a, b].map((p) => p.server.id).sort());
      t.ok(a.server.rooms.has("z"));
      io.socketsJoin("everyone");
      t.same(ids(io, "everyone"), [a, b, cc].map((p) => p.server.id).sort());
      await c.settle(() => io.to("y").emit("e", "y"));
      t.same(c.take(), { a: ["y"], b: ["y"], c: [] }, "socketsJoin rooms receive broadcasts");

      io.in(a.server.id).socketsLeave("y");
      t.same(ids(io, "y"), [b.server.id]);
      io.socketsLeave(["everyone", "z"]);
      t.equal(io.sockets.adapter.rooms.has("everyone"), false, "an emptied room is deleted");
      t.equal(io.sockets.adapter.rooms.has("z"), false);
      await c.settle(() => io.to("everyone").emit("e", "gone"));
      t.same(c.take(), { a: [], b: [], c: [] }, "socketsLeave stops broadcasts");

      // disconnectSockets(): only the targeted namespace sockets, connection kept.
      const reasons = Promise.all([
        once<[string]>(a.client, "disconnect"),
        once<[string]>(b.client, "disconnect"),
        disconnectReason(a.server),
      ]);
      io.in("x").disconnectSockets();
      const [[ra], [rb], sa] = await reasons;
      t.equal(ra, "io server disconnect");
      t.equal(rb, "io server disconnect");
      t.equal(sa, "server namespace disconnect");
      t.equal(cc.client.connected, true, "c was not targeted");
      t.same(ids(io, "x"), []);
      t.equal(io.sockets.sockets.size, 1);

      // disconnectSockets(true): the connection goes too.
      const last = once<[string]>(cc.client, "disconnect");
      io.disconnectSockets(true);
      t.equal((await last)[0], "io server disconnect");
      await waitFor(() => cc.server.conn.readyState === "closed");
      // a and b's clients close their connections once their last namespace is gone.
      await waitFor(() => io.engine.sessions.size === 0, { message: "every session closed" });
      t.pass("every session closed");
    });

    t.test("broadcast with acknowledgements", async (t) => {
      const c = await crowd(t, mode, ["a", "b", "c"]);
      const { io } = c.server;
      for (const [name, pair] of Object.entries(c.pairs)) {
        pair.client.on("q", (n: number, ack: (r: unknown) => void) => ack(`${name}:${n}`));
        pair.server.join("askers");
      }

      const { err, responses } = await new Promise<{ err: unknown; responses: unknown[] }>(
        (resolve) =>
          io
            .timeout(2000)
            .emit("q", 1, (err: unknown, responses: unknown[]) => resolve({ err, responses })),
      );
      t.equal(err, null);
      t.same([...responses].sort(), ["a:1", "b:1", "c:1"], "every client answered once");

      t.same(
        (
          (await io
            .to("askers")
            .except(c.pairs["a"]!.server.id)
            .timeout(2000)
            .emitWithAck("q", 2)) as string[]
        ).sort(),
        ["b:2", "c:2"],
        "emitWithAck with targeting",
      );
      t.same(
        await c.pairs["a"]!.server.broadcast.timeout(2000)
          .emitWithAck("q", 3)
          .then((r) => r.sort()),
        ["b:3", "c:3"],
        "socket.broadcast with acks",
      );
      t.same(
        await io.to("nobody").timeout(100).emitWithAck("q", 4),
        [],
        "no recipients: no responses",
      );

      // One client does not answer: an error carrying the partial responses.
      c.pairs["c"]!.client.off("q");
      c.pairs["c"]!.client.on("q", () => {});
      const partial = await new Promise<{ err: unknown; responses: unknown[] }>((resolve) =>
        io
          .timeout(150)
          .emit("q", 5, (err: unknown, responses: unknown[]) => resolve({ err, responses })),
      );
      t.type(partial.err, Error);
      t.match(partial.err, { message: "operation has timed out" });
      t.same([...partial.responses].sort(), ["a:5", "b:5"]);
      const rejected = await io
        .timeout(150)
        .emitWithAck("q", 6)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      t.type(rejected, Error, "emitWithAck rejects on timeout");
    });
  });
}
