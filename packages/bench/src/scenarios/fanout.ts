import type { BenchContext, SeriesReport } from "./context.js";
import { runSeries, type SeriesSpec } from "./series.js";
import type { ServerKind } from "./targets.js";

export const RELAY_SUBJECT = "bench.relay";

/** A series per server of the fan-out to one room, on `nodes` nodes (1: fanout, 3: cluster). */
export async function fanoutSeries(
  ctx: BenchContext,
  scenario: "fanout" | "cluster",
  nodes: number,
): Promise<SeriesReport[]> {
  const { options } = ctx;
  const clients = options.clients;
  const nodesLabel = `${nodes} node${nodes > 1 ? "s" : ""}`;
  const common = {
    scenario,
    nodes,
    clients,
    perUser: false,
    rates: options.rates,
    perEvent: clients,
  } as const;
  const nats = { natsUrl: ctx.nats.url };
  const specs: SeriesSpec[] = [
    {
      ...common,
      server: "edge",
      format: "socketio",
      publisher: { mode: "nats-event", ...nats },
      label: `edge · Socket.IO · ${nodesLabel}`,
    },
    {
      ...common,
      server: "edge",
      format: "raw",
      publisher: { mode: "nats-event", ...nats },
      label: `edge · raw · ${nodesLabel}`,
    },
  ];
  if (options.baselines) {
    if (nodes === 1) {
      // The product's default with NATS: every event also stored in JetStream
      // (history for recovery). Not part of the thresholds: its cost, shown.
      specs.push({
        ...common,
        server: "edge",
        format: "socketio",
        publisher: { mode: "nats-event", ...nats },
        serverExtras: { edgeHistory: "jetstream" },
        variant: "history",
        ownJetStream: true,
        label: `edge · Socket.IO · ${nodesLabel} · HISTORY=jetstream`,
      });
      specs.push({
        ...common,
        server: "uws-relay",
        format: "plain",
        publisher: { mode: "nats-frame", ...nats, subject: RELAY_SUBJECT },
        serverExtras: { relaySubject: RELAY_SUBJECT },
        label: `bare uWS relay of NATS · ${nodesLabel}`,
      });
    }
    for (const server of ["sio-uws", "sio-ws"] as ServerKind[]) {
      specs.push({
        ...common,
        server,
        format: "socketio",
        publisher: { mode: "redis-emitter", redisUrl: ctx.redis?.url ?? "" },
        serverExtras: { rooms: "job" },
        label: `socket.io 4.8 on ${server === "sio-uws" ? "uWS" : "ws"} + Redis · ${nodesLabel}`,
      });
    }
  }
  const out: SeriesReport[] = [];
  for (const spec of specs) out.push(await runSeries(ctx, spec));
  return out;
}
