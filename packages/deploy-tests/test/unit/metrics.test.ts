import { readFileSync } from "node:fs";
import t, { type Test } from "tap";
import { parse as parseYaml } from "yaml";
import {
  SYNTHETIC_SERIES,
  exposedFamilies,
  fromRoot,
  get,
  metricNames,
  seriesNames,
  startEdge,
} from "../../src/index.js";

// Every metric the dashboard and the alerting rules query is one a real edge
// node exports; every query parses as PromQL (Prometheus's own grammar).
const edge = await startEdge(t);
const scrape = await get(edge.metricsUrl + "/metrics");
const families = exposedFamilies(scrape.body);
const exported = seriesNames(families);

/** Labels each family carries (from the registry), plus what Prometheus and the ServiceMonitor add. */
const TARGET_LABELS = ["job", "instance", "namespace", "pod", "service", "endpoint", "container"];
const labelsOf = new Map<string, Set<string>>();
for (const metric of edge.node.metrics.registry.getMetricsAsArray()) {
  const own = (metric as unknown as { labelNames?: string[] }).labelNames ?? [];
  const labels = new Set([...own, "node", ...TARGET_LABELS]);
  const type = families.get(metric.name);
  if (type === "histogram") labels.add("le");
  for (const series of seriesNames(new Map([[metric.name, type ?? "gauge"]])))
    labelsOf.set(series, labels);
}

/** Label names an expression uses in matchers and in by/without/on/ignoring clauses. */
function labelNamesIn(expr: string): string[] {
  const names = new Set<string>();
  for (const m of expr.matchAll(
    /\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g,
  )) {
    for (const n of m[1]!
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean))
      names.add(n);
  }
  for (const m of expr.matchAll(/[{,]\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)/g))
    names.add(m[1]!);
  return [...names];
}

function checkQuery(t: Test, where: string, expr: string): void {
  let names: string[] = [];
  t.doesNotThrow(() => (names = metricNames(expr)), `${where}: parses`);
  t.ok(names.length > 0, `${where}: queries a metric`);
  const ours = names.filter((n) => !SYNTHETIC_SERIES.has(n));
  for (const n of ours) t.ok(exported.has(n), `${where}: ${n} is exported by the edge`);
  const allowed = new Set(ours.flatMap((n) => [...(labelsOf.get(n) ?? [])]));
  if (ours.length < names.length) for (const l of TARGET_LABELS) allowed.add(l);
  for (const l of labelNamesIn(expr))
    t.ok(allowed.has(l), `${where}: label ${l} exists on ${ours.join(", ")}`);
}

t.test("the node exports its documented families", async (t) => {
  t.equal(scrape.status, 200);
  t.equal(families.get("calcbridge_publish_to_handoff_seconds"), "histogram");
  t.equal(families.get("calcbridge_connects_total"), "counter");
  t.ok(
    families.has("calcbridge_nodejs_eventloop_lag_p99_seconds"),
    "prom-client defaults, prefixed",
  );
});

interface Panel {
  id?: number;
  type: string;
  title?: string;
  datasource?: { uid?: string };
  targets?: { expr?: string; refId?: string }[];
  panels?: Panel[];
}
const dashboard = JSON.parse(
  readFileSync(fromRoot("deploy", "grafana", "calcbridge-dashboard.json"), "utf8"),
) as {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; definition?: string }[] };
};
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);

t.test("dashboard: every query parses and uses only exported metrics and labels", async (t) => {
  const graphs = panels.filter((p) => p.type !== "row");
  t.ok(graphs.length >= 20, `${graphs.length} panels`);
  for (const p of graphs) {
    t.ok(p.targets && p.targets.length > 0, `${p.title}: has queries`);
    t.equal(p.datasource?.uid, "${datasource}", `${p.title}: uses the data source variable`);
    for (const target of p.targets ?? [])
      checkQuery(t, `${p.title} ${target.refId}`, target.expr ?? "");
  }
  for (const v of dashboard.templating.list.filter((v) => v.type === "query")) {
    const m = /^label_values\((\w+),\s*(\w+)\)$/.exec(v.definition ?? "");
    t.ok(m, `variable ${v.name}: label_values(metric, label)`);
    t.ok(exported.has(m?.[1] ?? ""), `variable ${v.name}: ${m?.[1]} is exported`);
    t.ok(
      labelsOf.get(m?.[1] ?? "")?.has(m?.[2] ?? ""),
      `variable ${v.name}: label ${m?.[2]} exists`,
    );
  }
});

t.test("dashboard: panel ids are unique and the essential metrics all have a panel", async (t) => {
  const ids = panels.map((p) => p.id);
  t.equal(new Set(ids).size, ids.length, "unique ids");
  const queried = new Set(
    panels.flatMap((p) => (p.targets ?? []).flatMap((target) => metricNames(target.expr ?? ""))),
  );
  for (const name of [
    "calcbridge_connections",
    "calcbridge_connects_total",
    "calcbridge_disconnects_total",
    "calcbridge_rooms",
    "calcbridge_subscriptions",
    "calcbridge_events_published_total",
    "calcbridge_events_received_total",
    "calcbridge_frames_delivered_total",
    "calcbridge_bytes_delivered_total",
    "calcbridge_publish_to_handoff_seconds_bucket",
    "calcbridge_auth_failures_total",
    "calcbridge_backpressure_drops_total",
    "calcbridge_slow_consumer_disconnects_total",
    "calcbridge_bus_connected",
    "calcbridge_bus_reconnects_total",
    "calcbridge_bus_pending_bytes",
    "calcbridge_cluster_nodes",
    "calcbridge_ready",
    "calcbridge_nodejs_eventloop_lag_p99_seconds",
    "calcbridge_process_resident_memory_bytes",
  ]) {
    t.ok(queried.has(name), `${name} is on the dashboard`);
  }
  const latency = panels.flatMap((p) => p.targets ?? []).map((target) => target.expr ?? "");
  for (const q of ["0.5", "0.99"]) {
    t.ok(
      latency.some(
        (e) =>
          e.includes(`histogram_quantile(${q}`) &&
          e.includes("calcbridge_publish_to_handoff_seconds_bucket"),
      ),
      `hand-off latency quantile ${q}`,
    );
  }
});

t.test("alerting rules: every expression parses and uses only exported metrics", async (t) => {
  const rules = parseYaml(readFileSync(fromRoot("deploy", "prometheus-rules.yml"), "utf8")) as {
    groups: {
      name: string;
      rules: {
        alert?: string;
        record?: string;
        expr: string;
        for?: string;
        labels?: Record<string, string>;
        annotations?: Record<string, string>;
      }[];
    }[];
  };
  const all = rules.groups.flatMap((g) => g.rules);
  t.ok(all.length >= 5, `${all.length} rules`);
  for (const rule of all) {
    const name = rule.alert ?? rule.record ?? "?";
    checkQuery(t, name, rule.expr);
    if (rule.alert) {
      t.ok(rule.labels?.["severity"], `${name}: has a severity`);
      t.ok(rule.annotations?.["summary"], `${name}: has a summary`);
      if (rule.for) t.match(rule.for, /^\d+[smh]$/, `${name}: for is a duration`);
    }
  }
});
