/**
 * The official socket.io-client 4.8 against the server, in each transport
 * mode: connection and handshake, namespaces and middleware, events, binary,
 * acknowledgements, disconnect reasons and reconnection.
 */
import t from "tap";
import type { MiddlewareError, Socket } from "../../src/index.js";
import {
  MODES,
  collect,
  connect,
  connectPair,
  connected,
  disconnectReason,
  once,
  pollHeld,
  startServer,
  upgraded,
  waitFor,
} from "../helpers.js";

/** The bytes of any binary value, for comparing what crossed the wire. */
const bytes = (value: unknown): number[] => {
  if (value instanceof ArrayBuffer) return [...new Uint8Array(value)];
  if (ArrayBuffer.isView(value)) {
    return [...new Uint8Array(value.buffer, value.byteOffset, value.byteLength)];
  }
  throw new Error(`not binary: ${String(value)}`);
};

const refuse = (message: string, data?: unknown): MiddlewareError =>
  Object.assign(new Error(message), data === undefined ? {} : { data });

for (const mode of MODES) {
  t.test(`socket.io-client over ${mode}`, async (t) => {
    t.test("connects with the server's socket id and handshake", async (t) => {
      const server = await startServer(t);
      const before = Date.now();
      const { client, server: socket } = await connectPair(t, server, mode, {
        auth: { token: "abc", n: 1 },
        query: { room: "lobby" },
        extraHeaders: { "x-calcbridge-test": "yes" },
      });
      t.equal(client.id, socket.id, "client and server agree on the socket id");
      t.equal(client.connected, true);
      t.equal(socket.connected, true);
      t.equal(socket.nsp.name, "/");
      t.same(socket.handshake.auth, { token: "abc", n: 1 }, "auth comes from the CONNECT packet");
      t.equal(socket.handshake.query["room"], "lobby");
      t.equal(socket.handshake.query["EIO"], "4");
      // The handshake is the first request of the session: polling unless websocket-only.
      t.equal(socket.handshake.query["transport"], mode === "websocket" ? "websocket" : "polling");
      t.equal(socket.handshake.headers["x-calcbridge-test"], "yes");
      t.match(socket.handshake.headers["host"], /^127\.0\.0\.1:\d+$/);
      t.equal(socket.handshake.address, "127.0.0.1");
      t.equal(socket.handshake.secure, false);
      t.equal(socket.handshake.xdomain, false);
      t.match(socket.handshake.url, /^\/socket\.io\/\?.*EIO=4/);
      t.ok(socket.handshake.issued >= before - 1000 && socket.handshake.issued <= Date.now());
      t.equal(socket.handshake.time, new Date(socket.handshake.issued).toString());
      t.ok(socket.rooms.has(socket.id), "a socket is in its own id room");
      t.equal(socket.conn.id, client.io.engine.id, "the engine session ids agree");
      t.equal(client.io.engine.transport.name, mode === "polling" ? "polling" : "websocket");
    });

    t.test("namespace with auth middleware", async (t) => {
      const server = await startServer(t);
      const admin = server.io.of("/admin");
      const seen: string[] = [];
      admin.use((socket, next) => {
        seen.push(String(socket.handshake.auth["token"]));
        if (socket.handshake.auth["token"] === "s3cret") next();
        else next(refuse("forbidden", { code: 4003, reason: "bad token" }));
      });
      const connections = collect(admin, "connection");

      const ok = await connectPair(t, server, mode, { nsp: "/admin", auth: { token: "s3cret" } });
      t.equal(ok.client.id, ok.server.id);
      t.equal(ok.server.nsp.name, "/admin");
      t.equal(server.io.sockets.sockets.size, 0, "the main namespace was not joined");

      const bad = connect(t, server, mode, { nsp: "/admin", auth: { token: "nope" } });
      const [err] = await once<[Error & { data?: unknown }]>(bad, "connect_error");
      t.equal(err.message, "forbidden");
      t.same(err.data, { code: 4003, reason: "bad token" });
      t.equal(bad.connected, false);
      t.same(seen, ["s3cret", "nope"]);
      t.equal(connections.length, 1, "only the good client reached connection");
    });

    t.test("main namespace middleware rejection", async (t) => {
      const server = await startServer(t);
      server.io.use((socket, next) => {
        if (socket.handshake.auth["token"] === undefined) next(refuse("no token", { code: 4001 }));
        else next();
      });
      server.io.use((_socket, next) => next(refuse("second middleware says no")));
      const connections = collect(server.io.sockets, "connection");

      const first = connect(t, server, mode);
      const [err] = await once<[Error & { data?: unknown }]>(first, "connect_error");
      t.equal(err.message, "no token");
      t.same(err.data, { code: 4001 });

      const second = connect(t, server, mode, { auth: { token: "x" } });
      const [err2] = await once<[Error & { data?: unknown }]>(second, "connect_error");
      t.equal(err2.message, "second middleware says no");
      t.equal(err2.data, undefined, "no data when the middleware gave none");
      t.equal(connections.length, 0);
      t.equal(server.io.sockets.sockets.size, 0);
    });

    t.test("a middleware that throws refuses the connection", async (t) => {
      const server = await startServer(t);
      server.io.use(() => {
        throw new Error("boom");
      });
      const client = connect(t, server, mode);
      const [err] = await once<[Error]>(client, "connect_error");
      t.equal(err.message, "boom");
    });

    t.test("unknown namespace: connect_error Invalid namespace", async (t) => {
      const server = await startServer(t);
      const client = connect(t, server, mode, { nsp: "/nope" });
      const [err] = await once<[Error]>(client, "connect_error");
      t.equal(err.message, "Invalid namespace");
      t.equal(server.io.namespace("/nope"), undefined, "clients cannot create namespaces");
    });

    t.test("events both ways with JSON", async (t) => {
      const server = await startServer(t);
      const { client, server: socket } = await connectPair(t, server, mode);
      const payload = {
        s: "héllo \u2028 \u001e wörld",
        n: 42.5,
        b: true,
        z: null,
        a: [1, "two", { three: 3 }],
        o: { deep: { deeper: ["x"] } },
      };
      const fromClient = once(socket, "to-server");
      client.emit("to-server", payload, "second", 3, null);
      t.same(await fromClient, [payload, "second", 3, null]);

      const fromServer = once(client, "to-client");
      socket.emit("to-client", payload, [1, 2]);
      t.same(await fromServer, [payload, [1, 2]]);

      const noArgs = once(socket, "empty");
      client.emit("empty");
      t.same(await noArgs, []);

      const anyEvents: unknown[][] = [];
      socket.onAny((...args) => anyEvents.push(args));
      const message = once(socket, "message");
      client.send("via send");
      t.same(await message, ["via send"]);
      t.same(anyEvents, [["message", "via send"]], "onAny sees events too");

      const order = collect(client, "seq");
      for (let i = 0; i < 20; i++) socket.emit("seq", i);
      await waitFor(() => order.length === 20);
      t.same(
        order.map(([i]) => i),
        Array.from({ length: 20 }, (_, i) => i),
        "events arrive in order",
      );
    });

    t.test("binary both ways", async (t) => {
      const server = await startServer(t);
      const { client, server: socket } = await connectPair(t, server, mode);

      const fromClient = once<unknown[]>(socket, "bin");
      client.emit(
        "bin",
        Buffer.from([1, 2, 3]),
        new Uint8Array([4, 5]).buffer,
        new Uint8Array([6, 7, 8]),
        new Float32Array([1.5]),
        { nested: { file: Buffer.from("hi"), list: [Buffer.from([9]), "text"] } },
      );
      const [buf, arrayBuffer, u8, f32, nested] = await fromClient;
      t.ok(Buffer.isBuffer(buf), "binary arrives as a Buffer on the server, as with socket.io");
      t.same(bytes(buf), [1, 2, 3]);
      t.same(bytes(arrayBuffer), [4, 5]);
      t.same(bytes(u8), [6, 7, 8]);
      t.same(bytes(f32), [...new Uint8Array(new Float32Array([1.5]).buffer)]);
      const n = nested as { nested: { file: unknown; list: [unknown, string] } };
      t.same(bytes(n.nested.file), [...Buffer.from("hi")]);
      t.same(bytes(n.nested.list[0]), [9]);
      t.equal(n.nested.list[1], "text");

      const fromServer = once<unknown[]>(client, "bin");
      const world = Buffer.from("hello world").subarray(6);
      socket.emit(
        "bin",
        Buffer.from([1, 2, 3]),
        new Uint8Array([4, 5]).buffer,
        world,
        new Uint16Array([1, 256]),
        { deep: { parts: [Buffer.from("a"), { b: Buffer.from("b") }] }, plain: "json" },
      );
      const [b1, b2, b3, b4, deep] = await fromServer;
      t.same(bytes(b1), [1, 2, 3]);
      t.same(bytes(b2), [4, 5]);
      t.same(
        bytes(b3),
        [...Buffer.from("world")],
        "a view is sent from its offset, not its buffer",
      );
      t.same(bytes(b4), [...new Uint8Array(new Uint16Array([1, 256]).buffer)]);
      const d = deep as { deep: { parts: [unknown, { b: unknown }] }; plain: string };
      t.same(bytes(d.deep.parts[0]), [...Buffer.from("a")]);
      t.same(bytes(d.deep.parts[1].b), [...Buffer.from("b")]);
      t.equal(d.plain, "json");

      // A binary acknowledgement in both directions.
      socket.on("bin-ack", (x: unknown, ack: (...a: unknown[]) => void) =>
        ack(Buffer.concat([Buffer.from(bytes(x)), Buffer.from([0xff])])),
      );
      const reply = await client.emitWithAck("bin-ack", Buffer.from([1]));
      t.same(bytes(reply), [1, 0xff]);
      client.on("bin-ack", (x: unknown, ack: (...a: unknown[]) => void) =>
        ack({ echoed: Buffer.from(bytes(x)) }),
      );
      const back = (await socket.timeout(2000).emitWithAck("bin-ack", Buffer.from([7]))) as {
        echoed: unknown;
      };
      t.same(bytes(back.echoed), [7]);
    });

    t.test("acknowledgements both ways", async (t) => {
      const server = await startServer(t);
      const { client, server: socket } = await connectPair(t, server, mode);

      socket.on("sum", (a: number, b: number, ack: (...r: unknown[]) => void) =>
        ack(a + b, "done"),
      );
      t.equal(await client.emitWithAck("sum", 2, 3), 5, "client emitWithAck gets the first arg");
      const both = await new Promise<unknown[]>((resolve) =>
        client.emit("sum", 1, 1, (...r: unknown[]) => resolve(r)),
      );
      t.same(both, [2, "done"], "a client callback gets every ack argument");

      client.on("double", (x: number, ack: (r: number) => void) => ack(x * 2));
      t.equal(await socket.timeout(2000).emitWithAck("double", 21), 42);
      t.equal(await socket.emitWithAck("double", 5), 10, "emitWithAck without timeout");
      const cb = await new Promise<unknown[]>((resolve) =>
        socket.timeout(2000).emit("double", 4, (...r: unknown[]) => resolve(r)),
      );
      t.same(cb, [null, 8], "with a timeout the callback gets (err, ...args)");

      // A client that never acknowledges.
      client.on("ignored", () => {});
      const err = await socket
        .timeout(100)
        .emitWithAck("ignored")
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      t.type(err, Error);
      t.match(err, { message: /timed out/ });
      const cbErr = await new Promise<unknown>((resolve) =>
        socket.timeout(100).emit("ignored", (e: unknown) => resolve(e)),
      );
      t.type(cbErr, Error, "the callback form gets the timeout error too");

      // A late ack after the timeout is ignored; the socket stays usable.
      let late: (() => void) | undefined;
      client.on("late", (ack: () => void) => (late = ack));
      const lateErr = await new Promise<unknown>((resolve) =>
        socket.timeout(50).emit("late", (e: unknown) => resolve(e)),
      );
      t.type(lateErr, Error);
      late?.();
      t.equal(await socket.timeout(2000).emitWithAck("double", 1), 2);

      // Client-side timeout: the server never acknowledges.
      socket.on("silent", () => {});
      const clientErr = await new Promise<unknown>((resolve) =>
        client.timeout(100).emit("silent", (e: unknown) => resolve(e)),
      );
      t.type(clientErr, Error);
      t.equal((clientErr as Error).message, "operation has timed out");
    });

    t.test("volatile events reach connected clients", async (t) => {
      const server = await startServer(t);
      const a = await connectPair(t, server, mode);
      const b = await connectPair(t, server, mode);
      // A polling session can only take a volatile packet while a GET is held.
      await waitFor(() => pollHeld(a.server) && pollHeld(b.server));
      const onA = once(a.client, "v");
      const onB = once(b.client, "v");
      server.io.volatile.emit("v", 1);
      t.same(await onA, [1]);
      t.same(await onB, [1]);
      await waitFor(() => pollHeld(a.server));
      const direct = once(a.client, "v2");
      a.server.volatile.emit("v2", "x");
      t.same(await direct, ["x"]);
    });

    t.test("disconnect reasons", async (t) => {
      t.test("server socket.disconnect()", async (t) => {
        const server = await startServer(t);
        const { client, server: socket } = await connectPair(t, server, mode);
        const clientReason = once<[string]>(client, "disconnect");
        const serverReason = disconnectReason(socket);
        socket.disconnect();
        t.equal((await clientReason)[0], "io server disconnect");
        t.equal(await serverReason, "server namespace disconnect");
        t.equal(socket.connected, false);
        t.equal(server.io.sockets.sockets.size, 0);
        t.equal(socket.conn.readyState, "open", "the connection stays open");
      });

      t.test("client socket.disconnect()", async (t) => {
        const server = await startServer(t);
        const { client, server: socket } = await connectPair(t, server, mode);
        const clientReason = once<[string]>(client, "disconnect");
        const serverReason = disconnectReason(socket);
        client.disconnect();
        t.equal((await clientReason)[0], "io client disconnect");
        t.equal(await serverReason, "client namespace disconnect");
        await waitFor(() => socket.conn.readyState === "closed", {
          message: "the client closed its last namespace, then the connection",
        });
      });

      t.test("socket.disconnect(true) closes every namespace and the connection", async (t) => {
        const server = await startServer(t);
        server.io.of("/other");
        const { client, server: socket } = await connectPair(t, server, mode);
        const other = client.io.socket("/other");
        t.teardown(() => other.disconnect());
        await connected(other);
        const otherServer = await waitFor(() => server.io.of("/other").sockets.get(other.id ?? ""));
        t.equal(otherServer.conn, socket.conn, "both namespaces share one connection");

        const reasons = Promise.all([
          once<[string]>(client, "disconnect"),
          once<[string]>(other, "disconnect"),
          disconnectReason(socket),
          disconnectReason(otherServer),
        ]);
        socket.disconnect(true);
        const [[c1], [c2], s1, s2] = await reasons;
        t.equal(c1, "io server disconnect");
        t.equal(c2, "io server disconnect");
        t.equal(s1, "server namespace disconnect");
        t.equal(s2, "server namespace disconnect");
        t.equal(socket.conn.readyState, "closed");
      });

      t.test("socket.disconnect() of one namespace keeps the others", async (t) => {
        const server = await startServer(t);
        server.io.of("/other");
        const { client, server: socket } = await connectPair(t, server, mode);
        const other = client.io.socket("/other");
        t.teardown(() => other.disconnect());
        await connected(other);
        const otherServer = await waitFor(() => server.io.of("/other").sockets.get(other.id ?? ""));
        const reason = once<[string]>(client, "disconnect");
        socket.disconnect();
        t.equal((await reason)[0], "io server disconnect");
        t.equal(other.connected, true);
        const echo = once(otherServer, "still");
        other.emit("still", "here");
        t.same(await echo, ["here"]);
      });

      t.test("server close", async (t) => {
        const server = await startServer(t);
        const { client, server: socket } = await connectPair(t, server, mode);
        // A polling client learns of the close from its held GET; between two
        // polls it would find the port closed ("transport error"), as with socket.io.
        await waitFor(() => pollHeld(socket));
        const clientReason = once<[string]>(client, "disconnect");
        const serverReason = disconnectReason(socket);
        await server.io.close();
        t.equal(await serverReason, "server shutting down");
        t.equal((await clientReason)[0], "transport close");
      });

      t.test("disconnecting fires with the rooms still present", async (t) => {
        const server = await startServer(t);
        const { client, server: socket } = await connectPair(t, server, mode);
        socket.join(["r1", "r2"]);
        let during: string[] = [];
        let inAdapter = false;
        socket.on("disconnecting", () => {
          during = [...socket.rooms];
          inAdapter = server.io.sockets.adapter.rooms.get("r1")?.has(socket) === true;
        });
        const after = once<[string]>(socket, "disconnect");
        client.disconnect();
        t.equal((await after)[0], "client namespace disconnect");
        t.same(during.sort(), [socket.id, "r1", "r2"].sort());
        t.equal(inAdapter, true, "the adapter still lists the socket in its rooms");
        t.equal(socket.rooms.size, 0, "rooms are gone after disconnect");
        t.equal(server.io.sockets.adapter.rooms.has("r1"), false);
      });
    });

    t.test("reconnects with a new id after the server kills the session", async (t) => {
      const server = await startServer(t);
      const serverSockets: Socket[] = [];
      server.io.on("connection", (s: Socket) => serverSockets.push(s));
      const client = connect(t, server, mode, {
        reconnection: true,
        reconnectionDelay: 50,
        reconnectionDelayMax: 100,
        randomizationFactor: 0,
      });
      await connected(client);
      const first = await waitFor(() => serverSockets[0]);
      const firstId = client.id;
      t.equal(firstId, first.id);
      if (mode === "default") await upgraded(client, first);

      const clientReason = once<[string]>(client, "disconnect");
      const serverReason = disconnectReason(first);
      const reconnected = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no reconnect")), 3000);
        client.io.once("reconnect", () => {
          clearTimeout(timer);
          resolve();
        });
      });
      first.conn.close("forced close");
      t.equal(await serverReason, "forced close");
      t.equal((await clientReason)[0], "transport close");
      await reconnected;
      await waitFor(() => client.connected && serverSockets.length === 2);
      t.not(client.id, firstId, "a new session gets a new socket id");
      t.equal(client.id, serverSockets[1]!.id);
      const echo = once(serverSockets[1]!, "after");
      client.emit("after", 1);
      t.same(await echo, [1]);
    });
  });
}
