import type { EdgeMetrics } from "../metrics.js";
import type { Uws } from "../uws.js";

/** `GET /metrics` in the Prometheus text format. */
export function attachMetrics(app: Uws.TemplatedApp, metrics: EdgeMetrics): void {
  app.get("/metrics", (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    metrics.metrics().then(
      (text) => {
        if (aborted) return;
        res.cork(() => {
          res.writeStatus("200 OK").writeHeader("Content-Type", metrics.contentType).end(text);
        });
      },
      () => {
        if (aborted) return;
        res.cork(() => res.writeStatus("500 Internal Server Error").end("metrics unavailable"));
      },
    );
  });
}
