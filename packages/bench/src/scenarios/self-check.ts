import type { BenchContext, SeriesReport } from "./context.js";
import { runSeries } from "./series.js";

/**
 * The generator's own ceiling: a trivial uWS server publishes ready-made
 * frames to a topic at each rate, so whatever the clients fail to take is the
 * generator's (and the machine's) limit, not a server's.
 */
export async function selfCheckSeries(ctx: BenchContext): Promise<SeriesReport> {
  const { options } = ctx;
  return runSeries(ctx, {
    scenario: "self-check",
    server: "self-check",
    format: "plain",
    nodes: 1,
    clients: options.clients,
    perUser: false,
    rates: options.rates,
    perEvent: options.clients,
    publisher: { mode: "nats-frame" },
    label: "self-check · trivial uWS publisher",
  });
}
