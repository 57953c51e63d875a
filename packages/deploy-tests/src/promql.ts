/**
 * Metric names used by PromQL expressions, read with Prometheus's own PromQL
 * grammar (`@prometheus-io/lezer-promql`, the parser of the Prometheus UI),
 * and the series names an exposition offers.
 */
import { parser } from "@prometheus-io/lezer-promql";

/** Grafana's interval variables, replaced by a duration before parsing. */
const GRAFANA_INTERVALS =
  /\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}/g;

export class PromQLError extends Error {
  override name = "PromQLError";
  readonly code = "ERR_PROMQL";
}

/**
 * The metric names of every vector selector in `expr`. Throws on a syntax
 * error, and on a selector without a literal name (`{__name__=~"..."}`),
 * whose metric could not be checked.
 */
export function metricNames(expr: string): string[] {
  const text = expr.replace(GRAFANA_INTERVALS, "5m");
  const tree = parser.parse(text);
  const names: string[] = [];
  const problems: string[] = [];
  tree.iterate({
    enter(node) {
      if (node.type.isError) {
        problems.push(
          `syntax error at ${node.from}: ${JSON.stringify(text.slice(node.from, node.from + 20))}`,
        );
        return false;
      }
      if (node.name === "VectorSelector") {
        const id = node.node.getChild("Identifier");
        if (id === null)
          problems.push(`selector without a metric name: ${text.slice(node.from, node.to)}`);
        else names.push(text.slice(id.from, id.to));
      }
      return undefined;
    },
  });
  if (problems.length > 0)
    throw new PromQLError(`${problems.join("; ")} in ${JSON.stringify(expr)}`);
  return names;
}

/** Metric families of a Prometheus text exposition: name -> type (from `# TYPE`). */
export function exposedFamilies(exposition: string): Map<string, string> {
  const families = new Map<string, string>();
  for (const line of exposition.split("\n")) {
    const m = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (m) families.set(m[1]!, m[2]!);
  }
  return families;
}

/** Every series name a family of `type` offers: histograms add `_bucket`, `_sum`, `_count`. */
export function seriesNames(families: ReadonlyMap<string, string>): Set<string> {
  const names = new Set<string>();
  for (const [name, type] of families) {
    if (type === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(name + s);
    else if (type === "summary") for (const s of ["", "_sum", "_count"]) names.add(name + s);
    else names.add(name);
  }
  return names;
}

/** Series Prometheus itself writes for every target. */
export const SYNTHETIC_SERIES: ReadonlySet<string> = new Set([
  "up",
  "scrape_duration_seconds",
  "scrape_samples_scraped",
  "scrape_samples_post_metric_relabeling",
  "scrape_series_added",
]);
