import { nowMs } from "../client/latency.js";
import type { PublisherReply, PublisherRequest, PublisherSetup } from "./messages.js";

/** Sends event number `n`, stamped with send time `ts` (ms since the epoch). */
export type Sender = (n: number, ts: number) => void;

/**
 * Serves the publisher protocol over IPC for a process that can send events:
 * the publisher, and the self-check server. Each `run` offers `rate` events/s
 * for `durationMs`: every millisecond or so it sends what is due by the clock,
 * so a late timer is made up for, not lost; a stall shows as lag, and `count`
 * tells the parent how many were really sent.
 */
export function servePublisher(
  init: (setup: PublisherSetup) => Promise<Sender>,
  close?: () => Promise<void>,
): void {
  let send: Sender | undefined;
  let sentTotal = 0;
  let running: { stop: boolean } | undefined;
  const reply = (r: PublisherReply) => process.send?.(r);

  const run = (rate: number, durationMs: number, id: number) => {
    const state = { stop: false };
    running = state;
    const start = performance.now();
    let sent = 0;
    let maxLagMs = 0;
    // Bound the work of one tick (100 ms worth) so a long stall cannot turn
    // into a burst that starves the event loop; the rest goes out next tick.
    const burstLimit = Math.max(50, Math.ceil(rate / 10));
    const tick = () => {
      const elapsed = performance.now() - start;
      if (state.stop || elapsed >= durationMs) {
        running = undefined;
        reply({ t: "ran", id, sent, seconds: Math.min(elapsed, durationMs) / 1000, maxLagMs });
        return;
      }
      const due = Math.floor((elapsed * rate) / 1000);
      const lag = ((due - sent) * 1000) / rate;
      if (lag > maxLagMs) maxLagMs = lag;
      for (let k = 0; sent < due && k < burstLimit; k++) {
        send!(sentTotal, nowMs());
        sent++;
        sentTotal++;
      }
      setTimeout(tick, 1);
    };
    tick();
  };

  process.on("message", (msg: PublisherRequest) => {
    switch (msg.t) {
      case "setup":
        init(msg.setup).then(
          (s) => {
            send = s;
            reply({ t: "ready", id: msg.id });
          },
          (err: unknown) =>
            reply({
              t: "error",
              id: msg.id,
              message: err instanceof Error ? err.message : String(err),
            }),
        );
        return;
      case "run":
        if (send === undefined) reply({ t: "error", id: msg.id, message: "publisher not set up" });
        else run(msg.rate, msg.durationMs, msg.id);
        return;
      case "count":
        reply({ t: "count", id: msg.id, sent: sentTotal, at: nowMs() });
        return;
      case "stop":
        if (running) running.stop = true;
        return;
      case "exit":
        (close?.() ?? Promise.resolve()).finally(() => process.exit(0));
        return;
    }
  });
  process.on("disconnect", () => process.exit(0));
}
