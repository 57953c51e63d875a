import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import t from "tap";
import { parse as parseYaml } from "yaml";
import { fromRoot, readYaml, renderAll, resolvePort, type JsonObject } from "../../src/index.js";

// deploy/prometheus.yml finds the pods of the manifests: its relabel rules
// keep exactly the labels and port names the base gives the edge and NATS pods.
interface Relabel {
  source_labels?: string[];
  regex?: string;
  action?: string;
  target_label?: string;
}
interface ScrapeConfig {
  job_name: string;
  metrics_path?: string;
  kubernetes_sd_configs?: { role: string; namespaces?: { names?: string[] } }[];
  relabel_configs?: Relabel[];
}
const path = fromRoot("deploy", "prometheus.yml");
const config = parseYaml(readFileSync(path, "utf8")) as {
  rule_files?: string[];
  scrape_configs: ScrapeConfig[];
};
const { m } = renderAll()[0]!;
const namespace = (readYaml(fromRoot("k8s", "base", "kustomization.yaml")) as JsonObject)[
  "namespace"
];

/** The `keep` regex on a meta label, anchored as Prometheus anchors it. */
function keeps(job: ScrapeConfig, label: string): RegExp {
  const rule = (job.relabel_configs ?? []).find(
    (r) => r.action === "keep" && r.source_labels?.[0] === label,
  );
  if (rule?.regex === undefined) throw new Error(`${job.job_name} keeps nothing by ${label}`);
  return new RegExp(`^(?:${rule.regex})$`);
}

t.test("the rule files exist", async (t) => {
  t.ok((config.rule_files ?? []).length > 0);
  for (const file of config.rule_files ?? []) t.ok(existsSync(join(dirname(path), file)), file);
});

for (const [job, kind, workload, container] of [
  ["calcbridge-edge", "Deployment", "calcbridge-edge", "edge"],
  ["nats", "StatefulSet", "nats", "exporter"],
] as const) {
  t.test(`job ${job} keeps the ${kind} ${workload}'s metrics port and nothing else`, async (t) => {
    const scrape = config.scrape_configs.find((s) => s.job_name === job);
    t.ok(scrape, `job ${job}`);
    const sd = scrape!.kubernetes_sd_configs?.[0];
    t.equal(sd?.role, "pod");
    t.ok(sd?.namespaces?.names?.includes(String(namespace)), `namespace ${namespace}`);
    const labels = ((m.get(kind, workload)["spec"] as JsonObject)["template"] as JsonObject)[
      "metadata"
    ] as JsonObject;
    const name = (labels["labels"] as JsonObject)["app.kubernetes.io/name"];
    t.match(
      String(name),
      keeps(scrape!, "__meta_kubernetes_pod_label_app_kubernetes_io_name"),
      "the pod label",
    );
    const byPort = keeps(scrape!, "__meta_kubernetes_pod_container_port_name");
    const pod = m.podSpec(kind, workload);
    const kept = (pod["containers"] as JsonObject[]).flatMap((c) =>
      ((c["ports"] as JsonObject[] | undefined) ?? [])
        .filter((p) => byPort.test(String(p["name"])))
        .map((p) => `${c["name"]}/${p["name"]}`),
    );
    t.same(kept, [`${container}/metrics`], "one port per pod is scraped");
    if (job === "calcbridge-edge") {
      const c = m.container(kind, workload, container);
      t.equal(
        resolvePort(c, "metrics"),
        Number(m.dataOf("ConfigMap", "calcbridge-edge")["METRICS_PORT"]),
        "METRICS_PORT",
      );
      t.equal(scrape!.metrics_path ?? "/metrics", "/metrics");
    }
  });
}
