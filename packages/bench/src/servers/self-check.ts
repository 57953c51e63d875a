import { createRequire } from "node:module";
import type * as Uws from "uWebSockets.js";
import { encodeEnvelope, socketIoEventFrame } from "@calcbridge/protocol";
import { BENCH_ROOM, BENCH_TYPE, benchRequest, padFor, validated } from "../publisher/payload.js";
import { servePublisher } from "../publisher/pacer.js";

/*
 * The generator's self-check: a trivial uWS server that publishes ready-made
 * frames (the Socket.IO event frame of the fan-out scenarios, send time
 * included) to one topic at a given rate. The server does nothing else, so
 * what the clients fail to take is the generator's own ceiling on this
 * machine. Driven over IPC with the publisher's protocol.
 */
const require = createRequire(import.meta.url);
const uws = require("uWebSockets.js") as typeof Uws;
const TOPIC = "bench";

const app = uws.App();
app.ws("/*", {
  // A client more than 1 MiB behind misses messages (counted as undelivered)
  // rather than being closed or growing the server without bound.
  maxBackpressure: 1024 * 1024,
  closeOnBackpressureLimit: 0,
  idleTimeout: 0,
  open: (ws) => {
    ws.subscribe(TOPIC);
  },
});
const port = Number(process.env["PORT"] ?? 0);
app.listen("127.0.0.1", port, (socket) => {
  if (!socket) {
    process.stderr.write(`self-check: cannot listen on ${port}\n`);
    process.exit(1);
  }
  process.stdout.write(`READY ${uws.us_socket_local_port(socket)}\n`);
});

// The frame of the fan-out scenarios, built once around a placeholder send
// time: per event only the time is spliced in, so this server spends next to
// nothing per event and the measurement is the clients'.
const PLACEHOLDER = 1111111111111.111;
servePublisher(async (setup) => {
  const pad = padFor(setup.frameBytes);
  const frame = socketIoEventFrame(
    BENCH_TYPE,
    encodeEnvelope(validated(benchRequest(BENCH_ROOM, 50, PLACEHOLDER, pad))),
  );
  const [head, tail] = frame.split(String(PLACEHOLDER)) as [string, string];
  return (_n, ts) => {
    app.publish(TOPIC, head + ts + tail, false);
  };
});
