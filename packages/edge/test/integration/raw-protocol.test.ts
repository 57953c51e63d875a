/**
 * Raw Engine.IO v4 / Socket.IO v5 frames against the specs: handshakes over
 * both transports, CONNECT and CONNECT_ERROR, polling payloads, handshake
 * errors, timeouts and what the server does with invalid input.
 */
import t from "tap";
import WebSocket from "ws";
import type { Socket } from "../../src/index.js";
import {
  delay,
  disconnectReason,
  once,
  polling,
  rawConnected,
  rawWebSocket,
  startServer,
  waitFor,
} from "../helpers.js";

const RS = "\x1e";

interface OpenPacket {
  sid: string;
  upgrades: string[];
  pingInterval: number;
  pingTimeout: number;
  maxPayload: number;
}

function parseOpen(frame: string | Buffer): OpenPacket {
  const text = String(frame);
  if (!text.startsWith("0")) throw new Error(`not an open packet: ${text}`);
  return JSON.parse(text.slice(1)) as OpenPacket;
}

/** The server socket of namespace `nsp` with id `id`, once it exists. */
async function serverSocket(
  io: { of(nsp: string): { sockets: Map<string, Socket> } },
  id: string,
  nsp = "/",
) {
  return waitFor(() => io.of(nsp).sockets.get(id), { message: `server socket ${id}` });
}

/** Opens a polling session and joins "/"; resolves with the session id. */
async function pollingSession(port: number): Promise<string> {
  const open = await polling(port, "EIO=4&transport=polling");
  return parseOpen(open.body).sid;
}

t.test("WebSocket handshake: the open packet", async (t) => {
  const { port } = await startServer(t, { maxPayload: 123_456 });
  const raw = await rawWebSocket(t, port);
  const frame = await raw.next();
  t.type(frame, "string", "the open packet is a text frame");
  const open = parseOpen(frame);
  t.same(Object.keys(open), ["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"]);
  t.match(open.sid, /^[\w-]{16,}$/);
  t.same(open.upgrades, [], "nothing to upgrade to from a WebSocket");
  t.equal(open.pingInterval, 300);
  t.equal(open.pingTimeout, 200);
  t.equal(open.maxPayload, 123_456);
});

t.test("CONNECT to the main namespace", async (t) => {
  const { io, port } = await startServer(t);
  const raw = await rawWebSocket(t, port);
  const { sid } = parseOpen(await raw.next());
  raw.send("40");
  const connect = String(await raw.next());
  const match = /^40\{"sid":"([\w-]+)"\}$/.exec(connect);
  t.ok(match, `CONNECT answer ${connect}`);
  const socketId = match?.[1] ?? "";
  t.not(socketId, sid, "the socket id is not the Engine.IO session id");
  const socket = await serverSocket(io, socketId);
  t.equal(socket.conn.id, sid);

  // EVENT both ways, and ACKs both ways.
  const hello = once(socket, "hello");
  raw.send('42["hello",1,{"x":[true]}]');
  t.same(await hello, [1, { x: [true] }]);
  socket.on("ask", (a: unknown, b: unknown, ack: (...r: unknown[]) => void) => ack("got", a, b));
  raw.send('4212["ask",2,null]');
  t.equal(await raw.next(), '4312["got",2,null]');
  socket.emit("welcome", { n: 1 }, "two");
  t.equal(await raw.next(), '42["welcome",{"n":1},"two"]');
  const answer = socket.timeout(2000).emitWithAck("question", 5);
  const question = String(await raw.next());
  const id = /^42(\d+)\["question",5\]$/.exec(question)?.[1];
  t.ok(id, `an ack id precedes the data: ${question}`);
  raw.send(`43${id ?? ""}["answer"]`);
  t.equal(await answer, "answer");
});

t.test("CONNECT to a namespace with auth", async (t) => {
  const { io, port } = await startServer(t);
  io.of("/admin").use((socket, next) => {
    if (socket.handshake.auth["token"] === "x") next();
    else next(Object.assign(new Error("unauthorized"), { data: { code: 4001 } }));
  });

  const good = await rawWebSocket(t, port);
  await good.next();
  good.send('40/admin,{"token":"x"}');
  const ok = String(await good.next());
  const match = /^40\/admin,\{"sid":"([\w-]+)"\}$/.exec(ok);
  t.ok(match, `CONNECT answer ${ok}`);
  const socket = await serverSocket(io, match?.[1] ?? "", "/admin");
  t.same(socket.handshake.auth, { token: "x" });
  // Events of that namespace carry its name.
  socket.emit("ping-admin", 1);
  t.equal(await good.next(), '42/admin,["ping-admin",1]');

  const bad = await rawWebSocket(t, port);
  await bad.next();
  bad.send('40/admin,{"token":"y"}');
  t.equal(await bad.next(), '44/admin,{"message":"unauthorized","data":{"code":4001}}');
  const none = await rawWebSocket(t, port);
  await none.next();
  none.send("40/admin,");
  t.equal(
    await none.next(),
    '44/admin,{"message":"unauthorized","data":{"code":4001}}',
    "no auth payload at all is an empty auth",
  );
  // A refused CONNECT leaves the connection open: the main namespace still works.
  bad.send("40");
  t.match(String(await bad.next()), /^40\{"sid":"[\w-]+"\}$/);
});

t.test("CONNECT to an unknown namespace", async (t) => {
  const { port } = await startServer(t);
  const raw = await rawWebSocket(t, port);
  await raw.next();
  raw.send("40/nope,");
  t.equal(await raw.next(), '44/nope,{"message":"Invalid namespace"}');
  raw.send('40/nope,{"token":"x"}');
  t.equal(await raw.next(), '44/nope,{"message":"Invalid namespace"}');
});

t.test("polling handshake and payload batching", async (t) => {
  const { io, port } = await startServer(t);
  const received: unknown[][] = [];
  io.on("connection", (socket: Socket) => {
    socket.onAny((...args) => received.push(args));
    socket.on("echo", (x: unknown) => socket.emit("echoed", x));
  });

  const open = await polling(port, "EIO=4&transport=polling");
  t.equal(open.status, 200);
  t.match(open.contentType, /^text\/plain/);
  t.match(
    open.body,
    /^0\{"sid":"[\w-]+","upgrades":\["websocket"\],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000\}$/,
  );
  const { sid } = parseOpen(open.body);

  const post = await polling(port, `EIO=4&transport=polling&sid=${sid}`, {
    method: "POST",
    body: ["40", '42["echo",1]', '42["echo","two"]'].join(RS),
  });
  t.equal(post.status, 200);
  t.equal(post.body, "ok");

  const get = await polling(port, `EIO=4&transport=polling&sid=${sid}`);
  t.equal(get.status, 200);
  const packets = get.body.split(RS);
  t.equal(packets.length, 3, "several packets in one body, separated by 0x1e");
  t.match(packets[0], /^40\{"sid":"[\w-]+"\}$/);
  t.equal(packets[1], '42["echoed",1]');
  t.equal(packets[2], '42["echoed","two"]');
  t.same(received, [
    ["echo", 1],
    ["echo", "two"],
  ]);
});

t.test("polling: binary as base64 both ways", async (t) => {
  const { io, port } = await startServer(t);
  const got = new Promise<unknown[]>((resolve) =>
    io.on("connection", (socket: Socket) =>
      socket.on("bin", (...args: unknown[]) => {
        resolve(args);
        socket.emit("back", Buffer.from([0xde, 0xad]));
      }),
    ),
  );
  const sid = await pollingSession(port);
  const query = `EIO=4&transport=polling&sid=${sid}`;
  await polling(port, query, { method: "POST", body: "40" });
  t.match((await polling(port, query)).body, /^40\{"sid":/);
  await polling(port, query, {
    method: "POST",
    body: ['451-["bin",{"_placeholder":true,"num":0}]', "bAQID"].join(RS),
  });
  const [buf] = await got;
  t.ok(Buffer.isBuffer(buf));
  t.same([...(buf as Buffer)], [1, 2, 3]);
  t.equal(
    (await polling(port, query)).body,
    ['451-["back",{"_placeholder":true,"num":0}]', "b3q0="].join(RS),
  );
});

t.test("upgrade from polling to WebSocket (probe, noop, upgrade)", async (t) => {
  const { io, port } = await startServer(t);
  const sid = await pollingSession(port);
  const query = `EIO=4&transport=polling&sid=${sid}`;
  await polling(port, query, { method: "POST", body: "40" });
  const connect = (await polling(port, query)).body;
  const socketId = (JSON.parse(connect.slice(2)) as { sid: string }).sid;
  const socket = await serverSocket(io, socketId);

  const held = polling(port, query);
  await waitFor(() => (socket.conn.transport as { polling?: boolean }).polling === true);
  const raw = await rawWebSocket(t, port, `&sid=${sid}`);
  raw.send("2probe");
  t.equal(await raw.next(), "3probe");
  t.equal((await held).body, "6", "the held GET is released with a noop");
  raw.send("5");
  await waitFor(() => socket.conn.transport.name === "websocket");
  socket.emit("over", "ws");
  t.equal(await raw.next(), '42["over","ws"]');
  const got = once(socket, "from");
  raw.send('42["from","ws"]');
  t.same(await got, ["ws"]);
  // The old transport is gone: a late GET on it is a bad request.
  const late = await polling(port, query);
  t.equal(late.status, 400);
  t.equal(late.body, '{"code":3,"message":"Bad request"}');
});

t.test("upgrade when the probe arrives before the client's next GET", async (t) => {
  const { io, port } = await startServer(t, { pingInterval: 20_000, pingTimeout: 10_000 });
  const sid = await pollingSession(port);
  const query = `EIO=4&transport=polling&sid=${sid}`;
  const raw = await rawWebSocket(t, port, `&sid=${sid}`);
  raw.send("2probe");
  t.equal(await raw.next(), "3probe");
  // No GET was held: the next one is released at once, not at the next ping.
  const poll = await polling(port, query);
  t.equal(poll.body, "6");
  raw.send("5");
  await waitFor(() => io.engine.sessions.get(sid)?.transport.name === "websocket");
  raw.send("40");
  t.match(String(await raw.next()), /^40\{"sid":"[\w-]+"\}$/);
});

t.test("handshake errors: status and JSON body", async (t) => {
  const { port } = await startServer(t);
  const cases: [string, string, "GET" | "POST", number, object][] = [
    [
      "bad EIO",
      "EIO=3&transport=polling",
      "GET",
      400,
      { code: 5, message: "Unsupported protocol version" },
    ],
    [
      "no EIO",
      "transport=polling",
      "GET",
      400,
      { code: 5, message: "Unsupported protocol version" },
    ],
    [
      "unknown transport",
      "EIO=4&transport=flash",
      "GET",
      400,
      { code: 0, message: "Transport unknown" },
    ],
    ["no transport", "EIO=4", "GET", 400, { code: 0, message: "Transport unknown" }],
    [
      "unknown sid",
      "EIO=4&transport=polling&sid=nope",
      "GET",
      400,
      { code: 1, message: "Session ID unknown" },
    ],
    [
      "unknown sid POST",
      "EIO=4&transport=polling&sid=nope",
      "POST",
      400,
      { code: 1, message: "Session ID unknown" },
    ],
    [
      "POST handshake",
      "EIO=4&transport=polling",
      "POST",
      400,
      { code: 2, message: "Bad handshake method" },
    ],
    [
      "websocket over plain GET",
      "EIO=4&transport=websocket",
      "GET",
      400,
      { code: 3, message: "Bad request" },
    ],
  ];
  for (const [name, query, method, status, body] of cases) {
    const res = await polling(port, query, { method, body: method === "POST" ? "40" : undefined });
    t.equal(res.status, status, `${name}: status`);
    t.equal(res.contentType, "application/json", `${name}: content type`);
    t.same(JSON.parse(res.body), body, `${name}: body`);
  }

  // The same checks refuse a WebSocket upgrade before it happens.
  const refused = async (query: string) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?${query}`);
    ws.on("error", () => {});
    const [, res] = await once<[unknown, import("node:http").IncomingMessage]>(
      ws,
      "unexpected-response",
    );
    let text = "";
    for await (const chunk of res) text += String(chunk);
    ws.terminate();
    return { status: res.statusCode, body: JSON.parse(text) as unknown };
  };
  t.same(await refused("EIO=3&transport=websocket"), {
    status: 400,
    body: { code: 5, message: "Unsupported protocol version" },
  });
  t.same(await refused("EIO=4&transport=websocket&sid=nope"), {
    status: 400,
    body: { code: 1, message: "Session ID unknown" },
  });
});

t.test("transport mismatch: a polling request on a WebSocket session", async (t) => {
  const { port } = await startServer(t);
  const raw = await rawWebSocket(t, port);
  const { sid } = parseOpen(await raw.next());
  const res = await polling(port, `EIO=4&transport=polling&sid=${sid}`);
  t.equal(res.status, 400);
  t.same(JSON.parse(res.body), { code: 3, message: "Bad request" });
});

t.test("no CONNECT within connectTimeout closes the connection", async (t) => {
  const { io, port } = await startServer(t, { connectTimeout: 200, pingInterval: 5000 });
  const raw = await rawWebSocket(t, port);
  await raw.next();
  t.equal(io.engine.sessions.size, 1);
  const code = await Promise.race([raw.closed, delay(2000).then(() => "still open")]);
  t.type(code, "number", "the server closed the WebSocket");
  t.equal(io.engine.sessions.size, 0);

  // Polling: the held GET gets the close packet.
  const sid = await pollingSession(port);
  const res = await polling(port, `EIO=4&transport=polling&sid=${sid}`);
  t.equal(res.body, "1");
  t.equal(io.engine.sessions.size, 0);
});

t.test("heartbeat: pings every pingInterval, closes without a pong", async (t) => {
  const { io, port } = await startServer(t);

  // A client that answers stays connected across several pings.
  const alive = await rawConnected(t, port);
  alive.ws.on("message", (data) => {
    if (String(data) === "2") alive.send("3");
  });
  for (let i = 0; i < 3; i++) t.equal(await alive.nextMatching("2"), "2", `ping ${i + 1}`);
  t.equal(alive.ws.readyState, WebSocket.OPEN);
  t.ok(io.sockets.sockets.has(alive.socketId));

  // A client that never answers is dropped with "ping timeout".
  const dead = await rawConnected(t, port);
  const socket = await serverSocket(io, dead.socketId);
  const reason = disconnectReason(socket, 2000);
  t.equal(await dead.nextMatching("2"), "2");
  t.equal(await reason, "ping timeout");
  await dead.closed;
  t.equal(io.engine.sessions.has(dead.sid), false);
  t.equal(alive.ws.readyState, WebSocket.OPEN, "the other client is unaffected");

  // Pongs nobody asked for do not multiply the pings: still one ping, then
  // (unanswered) the ping timeout.
  const eager = await rawConnected(t, port);
  for (let i = 0; i < 20; i++) eager.send("3");
  await eager.closed;
  const pings = eager.frames.filter((f) => f === "2").length;
  t.equal(pings, 1, "one ping before the ping timeout");
});

t.test("invalid input closes the session as socket.io does", async (t) => {
  const { io, port } = await startServer(t, { pingInterval: 5000 });
  io.of("/admin");
  const cases: [string, string | Buffer, string][] = [
    ["unknown Engine.IO packet type", "9", "parse error"],
    ["empty frame", "", "parse error"],
    ["Engine.IO ping from the client", "2", "transport error"],
    ["EVENT whose data is not an array", '42{"not":"array"}', "forced close"],
    ["EVENT with a reserved name", '42["connect"]', "forced close"],
    ["EVENT with a reserved name (disconnecting)", '42["disconnecting",1]', "forced close"],
    ["EVENT that is not JSON", "42[oops", "forced close"],
    ["ACK with an invalid id", "43abc[]", "forced close"],
    ["EVENT for a namespace not joined", '42/admin,["x"]', "forced close"],
    ["EVENT for an unknown namespace", '42/nope,["x"]', "forced close"],
    ["unknown Socket.IO packet type", "47[]", "forced close"],
    ["binary without a binary packet", Buffer.from([1, 2, 3]), "forced close"],
    ["CONNECT_ERROR from the client", '44{"message":"x"}', "forced close"],
    ["second CONNECT to a joined namespace", "40", "forced close"],
  ];
  for (const [name, frame, expected] of cases) {
    const raw = await rawConnected(t, port);
    const socket = await serverSocket(io, raw.socketId);
    const reason = disconnectReason(socket, 2000);
    raw.send(frame);
    t.equal(await reason, expected, `${name}: disconnect reason`);
    await raw.closed;
    t.pass(`${name}: connection closed`);
  }
});

t.test("tolerated input does not close the session", async (t) => {
  const { io, port } = await startServer(t, { pingInterval: 5000 });
  const raw = await rawConnected(t, port);
  const socket = await serverSocket(io, raw.socketId);
  const disconnects: unknown[] = [];
  socket.on("disconnect", (r: unknown) => disconnects.push(r));
  const events: unknown[][] = [];
  socket.onAny((...args) => events.push(args));
  raw.send("4399[]"); // an ACK nobody waits for is ignored
  raw.send('42["numeric",1]');
  raw.send('42[1,"numeric name"]'); // a number is a valid event name on the wire
  raw.send('42["last"]');
  await waitFor(() => events.some(([name]) => name === "last"));
  t.same(disconnects, []);
  t.equal(raw.ws.readyState, WebSocket.OPEN);
  t.same(
    events.filter(([name]) => name !== 1),
    [["numeric", 1], ["last"]],
  );
});

t.test("polling body over maxPayload: 413 and the session is closed", async (t) => {
  const { io, port } = await startServer(t, { maxPayload: 1000, pingInterval: 5000 });
  const sid = await pollingSession(port);
  const query = `EIO=4&transport=polling&sid=${sid}`;
  await polling(port, query, { method: "POST", body: "40" });
  const connect = (await polling(port, query)).body;
  const socket = await serverSocket(io, (JSON.parse(connect.slice(2)) as { sid: string }).sid);
  const reason = disconnectReason(socket);

  const big = await polling(port, query, {
    method: "POST",
    body: `42["big","${"x".repeat(5000)}"]`,
  });
  t.equal(big.status, 413);
  t.equal(await reason, "transport error");
  t.equal(io.engine.sessions.has(sid), false);
  const after = await polling(port, query);
  t.equal(after.status, 400);
  t.same(JSON.parse(after.body), { code: 1, message: "Session ID unknown" });

  // A WebSocket message over maxPayload is refused by uWS itself.
  const raw = await rawConnected(t, port);
  raw.send(`42["big","${"x".repeat(5000)}"]`);
  t.type(await raw.closed, "number", "the WebSocket is closed");
});

t.test(
  "a server-side close reaches a polling client: last packets, then the close packet",
  async (t) => {
    const { io, port } = await startServer(t, { pingInterval: 5000 });
    const open = async () => {
      const sid = await pollingSession(port);
      const query = `EIO=4&transport=polling&sid=${sid}`;
      await polling(port, query, { method: "POST", body: "40" });
      const connect = (await polling(port, query)).body;
      const socket = await serverSocket(io, (JSON.parse(connect.slice(2)) as { sid: string }).sid);
      return { sid, query, socket };
    };

    // No GET held when the server closes: the next GETs collect what is owed.
    const idle = await open();
    idle.socket.emit("bye", 1);
    idle.socket.disconnect(true);
    t.equal(io.engine.sessions.has(idle.sid), false, "the session is closed at once");
    t.equal((await polling(port, idle.query)).body, `42["bye",1]${RS}41`);
    t.equal((await polling(port, idle.query)).body, "1", "the close packet travels alone");
    const gone = await polling(port, idle.query);
    t.equal(gone.status, 400);
    t.same(JSON.parse(gone.body), { code: 1, message: "Session ID unknown" });

    // A GET held at that moment takes the packets; the next one the close.
    const held = await open();
    const poll = polling(port, held.query);
    await waitFor(() => (held.socket.conn.transport as { polling?: boolean }).polling === true);
    held.socket.disconnect(true);
    t.equal((await poll).body, "41");
    t.equal((await polling(port, held.query)).body, "1");
  },
);

t.test("two GETs at once end the polling session", async (t) => {
  const { io, port } = await startServer(t, { pingInterval: 5000 });
  const sid = await pollingSession(port);
  const query = `EIO=4&transport=polling&sid=${sid}`;
  const first = polling(port, query);
  await waitFor(
    () =>
      (io.engine.sessions.get(sid)?.transport as { polling?: boolean } | undefined)?.polling ===
      true,
  );
  const second = await polling(port, query);
  t.equal(second.status, 400);
  t.equal((await first).body, "1", "the held GET gets the close packet");
  t.equal(io.engine.sessions.has(sid), false);
});
