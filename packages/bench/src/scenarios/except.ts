import type { BenchContext, SeriesReport } from "./context.js";
import { runSeries, type SeriesSpec } from "./series.js";
import type { ServerKind } from "./targets.js";

export const EXCEPT_SUBJECT = "bench.except";

/**
 * Fan-out to a room but one socket: each event from NATS is re-emitted by
 * the server with `socket.to(room).emit` from one of the room's sockets.
 * Ours embeds the edge's `Server`; the baselines are the same script shape on
 * socket.io 4.8. Every server parses the envelope once per event.
 */
export async function exceptSeries(ctx: BenchContext): Promise<SeriesReport[]> {
  const { options } = ctx;
  const clients = options.clients;
  const common = {
    scenario: "except",
    nodes: 1,
    clients,
    perUser: false,
    rates: options.rates,
    perEvent: clients - 1,
    format: "socketio",
    publisher: { mode: "nats-envelope", natsUrl: ctx.nats.url, subject: EXCEPT_SUBJECT },
  } as const;
  const specs: SeriesSpec[] = [
    {
      ...common,
      server: "edge-except",
      serverExtras: { exceptSubject: EXCEPT_SUBJECT },
      label: "edge Server · socket.to(room) · 1 node",
    },
  ];
  if (options.baselines) {
    for (const server of ["sio-uws", "sio-ws"] as ServerKind[]) {
      specs.push({
        ...common,
        server,
        serverExtras: { rooms: "job", exceptSubject: EXCEPT_SUBJECT },
        label: `socket.io 4.8 on ${server === "sio-uws" ? "uWS" : "ws"} + Redis · socket.to(room) · 1 node`,
      });
    }
  }
  const out: SeriesReport[] = [];
  for (const spec of specs) out.push(await runSeries(ctx, spec));
  return out;
}
