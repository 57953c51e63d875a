import type { Uws } from "../uws.js";
import { sendJson } from "./body.js";

/** Why a node is not ready; empty when it is. */
export type ReadinessCheck = () => string[];

/** `/healthz`: the process answers. `/readyz`: it should get new connections. */
export function attachHealth(app: Uws.TemplatedApp, readiness: ReadinessCheck): void {
  app.get("/healthz", (res) => {
    sendJson(res, "200 OK", { status: "ok" });
  });
  app.get("/readyz", (res) => {
    const reasons = readiness();
    if (reasons.length === 0) sendJson(res, "200 OK", { status: "ready" });
    else sendJson(res, "503 Service Unavailable", { status: "not_ready", reasons });
  });
}

/**
 * Every other path gets a 404 (uWS would otherwise close the socket without
 * an answer). Register last: uWS matches the most specific route first.
 */
export function attachNotFound(app: Uws.TemplatedApp): void {
  app.any("/*", (res) => {
    sendJson(res, "404 Not Found", { error: "not_found" });
  });
}
