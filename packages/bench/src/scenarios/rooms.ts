import type { BenchContext, SeriesReport } from "./context.js";
import { runSeries, type SeriesSpec } from "./series.js";
import type { ServerKind } from "./targets.js";

/**
 * Many small rooms: every client is its own user in its own
 * `notifications:{user}` room (its token's `sub`), and each event goes to a
 * random user: one delivery per event, one NATS subject per room.
 */
export async function roomsSeries(ctx: BenchContext): Promise<SeriesReport[]> {
  const { options } = ctx;
  const clients = options.roomsClients;
  const common = {
    scenario: "rooms",
    nodes: 1,
    clients,
    perUser: true,
    rates: options.roomRates,
    perEvent: 1,
  } as const;
  const specs: SeriesSpec[] = [
    {
      ...common,
      server: "edge",
      format: "socketio",
      publisher: { mode: "nats-event", natsUrl: ctx.nats.url, users: clients },
      label: "edge · Socket.IO · rooms",
    },
    {
      ...common,
      server: "edge",
      format: "raw",
      publisher: { mode: "nats-event", natsUrl: ctx.nats.url, users: clients },
      label: "edge · raw · rooms",
    },
  ];
  if (options.baselines) {
    for (const server of ["sio-uws", "sio-ws"] as ServerKind[]) {
      specs.push({
        ...common,
        server,
        format: "socketio",
        publisher: { mode: "redis-emitter", redisUrl: ctx.redis?.url ?? "", users: clients },
        serverExtras: { rooms: "user" },
        label: `socket.io 4.8 on ${server === "sio-uws" ? "uWS" : "ws"} + Redis · rooms`,
      });
    }
  }
  const out: SeriesReport[] = [];
  for (const spec of specs) out.push(await runSeries(ctx, spec));
  return out;
}
