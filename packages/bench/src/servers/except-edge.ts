import { jwtVerify } from "jose";
import { Server, type Socket } from "@calcbridge/edge";
import { BENCH_ROOM } from "../publisher/payload.js";
import { subscribeExcept } from "./except-trigger.js";

/*
 * The except scenario on our side: a tiny server embedding the edge's
 * Socket.IO-compatible `Server` (the library API of DESIGN.md), set up like
 * the Socket.IO baselines: JWT in the CONNECT auth, every socket joined to
 * the room on connection, and each event from NATS sent with
 * `socket.to(room).emit` from the first socket, so it reaches all but one.
 */
const env = process.env;
const key = new TextEncoder().encode(env["JWT_SECRET"] ?? "");
const io = new Server({});
io.use((socket, next) => {
  const token = (socket.handshake.auth as { token?: unknown }).token;
  if (typeof token !== "string") {
    next(Object.assign(new Error("a token is required"), { data: { code: 4001 } }));
    return;
  }
  jwtVerify(token, key, { algorithms: ["HS256"] }).then(
    () => next(),
    () => next(Object.assign(new Error("invalid token"), { data: { code: 4001 } })),
  );
});
let first: Socket | undefined;
io.on("connection", (socket: Socket) => {
  first ??= socket;
  socket.on("disconnect", () => {
    if (first === socket) first = undefined;
  });
  socket.join(BENCH_ROOM);
});
await subscribeExcept(
  env["NATS_URL"] ?? "",
  env["EXCEPT_SUBJECT"] ?? "bench.except",
  (type, envelope) => {
    first?.to(BENCH_ROOM).emit(type, envelope);
  },
);
const bound = await io.listen(Number(env["PORT"] ?? 0), env["HOST"] ?? "127.0.0.1");
process.stdout.write(`READY ${bound}\n`);
process.on("SIGTERM", () => {
  io.close().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
});
