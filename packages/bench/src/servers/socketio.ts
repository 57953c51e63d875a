import { createServer } from "node:http";
import { createRequire } from "node:module";
import type * as Uws from "uWebSockets.js";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { jwtVerify } from "jose";
import { Server, type Socket } from "socket.io";
import { BENCH_ROOM } from "../publisher/payload.js";
import { subscribeExcept } from "./except-trigger.js";

/*
 * The baseline: socket.io 4.8 with @socket.io/redis-adapter, on its default
 * `ws` engine (ENGINE=ws) or attached to a uWebSockets.js app (ENGINE=uws,
 * `io.attachApp`). Clients authenticate like ours (HS256 JWT in the CONNECT
 * auth, verified with jose) and the server joins them to their room itself:
 * ROOMS=job puts everyone in `job:bench`, ROOMS=user each in
 * `notifications:<sub>`. With EXCEPT_SUBJECT, every NATS message on it is
 * re-emitted with `socket.to(room).emit` from the first socket (the except
 * scenario).
 */
const env = process.env;
const engine = env["ENGINE"] ?? "ws";
const port = Number(env["PORT"] ?? 0);
const host = env["HOST"] ?? "127.0.0.1";
const key = new TextEncoder().encode(env["JWT_SECRET"] ?? "");
const rooms = env["ROOMS"] ?? "job";

const pub = new Redis(env["REDIS_URL"] ?? "redis://127.0.0.1:6379", { lazyConnect: true });
const sub = pub.duplicate();
await Promise.all([pub.connect(), sub.connect()]);

const io = new Server({ transports: ["websocket"], serveClient: false });
io.adapter(createAdapter(pub, sub));
io.use((socket, next) => {
  const token = (socket.handshake.auth as { token?: unknown }).token;
  if (typeof token !== "string") {
    next(new Error("a token is required"));
    return;
  }
  jwtVerify(token, key, { algorithms: ["HS256"] }).then(
    ({ payload }) => {
      socket.data.sub = payload.sub;
      next();
    },
    () => next(new Error("invalid token")),
  );
});
let first: Socket | undefined;
io.on("connection", (socket) => {
  first ??= socket;
  socket.on("disconnect", () => {
    if (first === socket) first = undefined;
  });
  void socket.join(rooms === "user" ? `notifications:${String(socket.data.sub)}` : BENCH_ROOM);
});

if (env["EXCEPT_SUBJECT"] !== undefined) {
  await subscribeExcept(env["NATS_URL"] ?? "", env["EXCEPT_SUBJECT"], (type, envelope) => {
    first?.to(BENCH_ROOM).emit(type, envelope);
  });
}

if (engine === "uws") {
  const require = createRequire(import.meta.url);
  const uws = require("uWebSockets.js") as typeof Uws;
  const app = uws.App();
  io.attachApp(app);
  app.listen(host, port, (socket) => {
    if (!socket) {
      process.stderr.write(`socketio-uws: cannot listen on ${port}\n`);
      process.exit(1);
    }
    process.stdout.write(`READY ${uws.us_socket_local_port(socket)}\n`);
  });
} else {
  const http = createServer();
  io.attach(http);
  http.listen(port, host, () => {
    const address = http.address();
    process.stdout.write(`READY ${typeof address === "object" && address ? address.port : port}\n`);
  });
}
process.on("SIGTERM", () => process.exit(0));
