import { createRequire } from "node:module";
import type * as Uws from "uWebSockets.js";
import { connect } from "@nats-io/transport-node";

/*
 * The reference: a bare uWS.js relay of NATS. It subscribes to one subject
 * and app.publish'es each message's bytes, untouched, to one topic that every
 * client holds. No auth, no protocol: the floor of what a node that relays a
 * bus into uWS topics can cost.
 */
const require = createRequire(import.meta.url);
const uws = require("uWebSockets.js") as typeof Uws;
const TOPIC = "bench";
const env = process.env;
const subject = env["SUBJECT"] ?? "bench.relay";

const nc = await connect({
  servers: (env["NATS_URL"] ?? "").split(","),
  name: `bench-relay-${process.pid}`,
});
const app = uws.App();
app.ws("/*", {
  maxBackpressure: 1024 * 1024,
  closeOnBackpressureLimit: 1,
  idleTimeout: 0,
  open: (ws) => {
    ws.subscribe(TOPIC);
  },
});
nc.subscribe(subject, {
  callback: (err, msg) => {
    if (err === null) app.publish(TOPIC, msg.data, false);
  },
});
await nc.flush();
const port = Number(env["PORT"] ?? 0);
app.listen(env["HOST"] ?? "127.0.0.1", port, (socket) => {
  if (!socket) {
    process.stderr.write(`uws-relay: cannot listen on ${port}\n`);
    process.exit(1);
  }
  process.stdout.write(`READY ${uws.us_socket_local_port(socket)}\n`);
});
process.on("SIGTERM", () => process.exit(0));
