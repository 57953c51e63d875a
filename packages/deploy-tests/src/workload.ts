/** Reading what pods do from their spec: ports, probes, preStop, selectors. */
import { isObject, type Json, type JsonObject } from "./strategic-merge.js";

/** The container port a probe or Service `targetPort` names (by name or number). */
export function resolvePort(container: JsonObject, port: Json | undefined): number {
  const ports = (container["ports"] as JsonObject[] | undefined) ?? [];
  if (typeof port === "number") return port;
  const found = ports.find((p) => p["name"] === port);
  if (found === undefined)
    throw new Error(`container ${String(container["name"])} has no port named ${String(port)}`);
  return found["containerPort"] as number;
}

/** Seconds a `preStop` hook sleeps: `exec: sleep N` or the `sleep` action; 0 without one. */
export function preStopSleepSeconds(container: JsonObject): number {
  const lifecycle = container["lifecycle"] as JsonObject | undefined;
  const preStop = lifecycle?.["preStop"] as JsonObject | undefined;
  if (preStop === undefined) return 0;
  const sleep = preStop["sleep"] as JsonObject | undefined;
  if (sleep !== undefined) return Number(sleep["seconds"]);
  const command =
    ((preStop["exec"] as JsonObject | undefined)?.["command"] as string[] | undefined) ?? [];
  const text = command.join(" ");
  const m = /(?:^|[\s;&|/])sleep\s+(\d+(?:\.\d+)?)/.exec(text);
  if (!m) throw new Error(`cannot tell how long preStop ${JSON.stringify(command)} takes`);
  return Number(m[1]);
}

/** True when `labels` satisfy a `matchLabels` selector (or a bare label map, as Services use). */
export function selects(selector: Json | undefined, labels: Json | undefined): boolean {
  if (!isObject(selector ?? null) || !isObject(labels ?? null)) return false;
  const sel = selector as JsonObject;
  const match = isObject(sel["matchLabels"] ?? null) ? (sel["matchLabels"] as JsonObject) : sel;
  if (sel["matchExpressions"] !== undefined)
    throw new Error("matchExpressions are not evaluated here");
  const entries = Object.entries(match);
  return entries.length > 0 && entries.every(([k, v]) => (labels as JsonObject)[k] === v);
}

/** The HTTP probes of a container, by kind. */
export function httpProbes(container: JsonObject): { kind: string; path: string; port: Json }[] {
  const out: { kind: string; path: string; port: Json }[] = [];
  for (const kind of ["startupProbe", "livenessProbe", "readinessProbe"]) {
    const get = (container[kind] as JsonObject | undefined)?.["httpGet"] as JsonObject | undefined;
    if (get !== undefined) out.push({ kind, path: String(get["path"]), port: get["port"]! });
  }
  return out;
}

/** Kubernetes duration-ish config values of nats-server ("30s", "2m") in seconds. */
export function seconds(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`not a duration: ${text}`);
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] as "ms" | "s" | "m" | "h"];
  return Number(m[1]) * unit;
}
