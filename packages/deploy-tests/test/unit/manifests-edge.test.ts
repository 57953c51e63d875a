import t from "tap";
import {
  httpProbes,
  loadEdgeConfig,
  preStopSleepSeconds,
  renderAll,
  resolvePort,
  selects,
  type Json,
  type JsonObject,
  type Manifests,
} from "../../src/index.js";

// The manifests against the edge's code: its environment table and parser,
// its ports, its probe paths and its drain.
const { ENV_TABLE, parseConfig } = await loadEdgeConfig();
const KNOWN = new Set(ENV_TABLE.map((v) => v.name));
const EDGE = "calcbridge-edge";

/** The longest pod name a Deployment makes: <name>-<10 hash chars>-<5 chars>. */
const podName = (deployment: string): string => `${deployment}-7d9f8b6c5d-x2x4z`;

function edgeEnv(m: Manifests): { env: Record<string, string>; fromPod: Map<string, Json> } {
  const c = m.container("Deployment", EDGE, "edge");
  const env: Record<string, string> = {};
  for (const source of (c["envFrom"] as JsonObject[] | undefined) ?? []) {
    const ref = (source["configMapRef"] ?? source["secretRef"]) as JsonObject;
    Object.assign(
      env,
      m.dataOf(source["configMapRef"] ? "ConfigMap" : "Secret", String(ref["name"])),
    );
  }
  const fromPod = new Map<string, Json>();
  for (const e of (c["env"] as JsonObject[] | undefined) ?? []) {
    if (e["value"] !== undefined) env[String(e["name"])] = String(e["value"]);
    else fromPod.set(String(e["name"]), e["valueFrom"]!);
  }
  return { env, fromPod };
}

for (const { name, m } of renderAll()) {
  const deployment = m.get("Deployment", EDGE);
  const pod = m.podSpec("Deployment", EDGE);
  const container = m.container("Deployment", EDGE, "edge");
  const { env, fromPod } = edgeEnv(m);

  t.test(`${name}: every environment variable is one the edge reads`, async (t) => {
    const names = [...Object.keys(env), ...fromPod.keys()];
    t.ok(names.length > 5, `variables: ${names.join(", ")}`);
    for (const n of names) t.ok(KNOWN.has(n), `${n} is in ENV_TABLE`);
    for (const n of Object.keys(m.dataOf("ConfigMap", EDGE)))
      t.ok(KNOWN.has(n), `ConfigMap key ${n}`);
    for (const n of Object.keys(m.dataOf("Secret", EDGE))) t.ok(KNOWN.has(n), `Secret key ${n}`);
  });

  t.test(`${name}: Service links cannot inject variables the edge reads`, async (t) => {
    // Kubernetes adds <SERVICE>_PORT, <SERVICE>_SERVICE_HOST, ... for every
    // Service of the namespace unless enableServiceLinks is false.
    const injected = m.all("Service").flatMap((svc) => {
      const prefix = svc.metadata.name.toUpperCase().replace(/-/g, "_");
      const ports = ((svc["spec"] as JsonObject)["ports"] as JsonObject[]) ?? [];
      return [
        `${prefix}_SERVICE_HOST`,
        `${prefix}_SERVICE_PORT`,
        `${prefix}_PORT`,
        ...ports.flatMap((p) => {
          const port = `${prefix}_PORT_${p["port"]}_${String(p["protocol"] ?? "TCP")}`;
          return [port, `${port}_PROTO`, `${port}_PORT`, `${port}_ADDR`];
        }),
      ];
    });
    const collisions = injected.filter((n) => KNOWN.has(n));
    if (pod["enableServiceLinks"] !== false)
      t.same(collisions, [], "no Service link variable is an edge variable");
    else
      t.pass(
        `enableServiceLinks is false (would inject ${collisions.join(", ") || "nothing the edge reads"})`,
      );
  });

  t.test(`${name}: the edge accepts the configuration (production, NATS, a key)`, async (t) => {
    t.same(
      fromPod.get("NODE_ID"),
      { fieldRef: { fieldPath: "metadata.name" } },
      "NODE_ID is the pod name",
    );
    const config = parseConfig({ ...env, NODE_ID: podName(deployment.metadata.name) });
    t.equal(config.production, true, "NODE_ENV=production");
    t.equal(config.devMode, false, "a token key is configured");
    t.ok(config.nats, "NATS_URL is set");
    t.equal(config.nodeId, podName(deployment.metadata.name));
  });

  t.test(`${name}: container ports are the configured ports`, async (t) => {
    const config = parseConfig({ ...env, NODE_ID: "x" });
    t.equal(resolvePort(container, "http"), config.port, "port http = PORT");
    t.equal(Number(env["PORT"]), config.port);
    t.ok(config.metricsPort, "METRICS_PORT keeps /metrics off the public port");
    t.equal(resolvePort(container, "metrics"), config.metricsPort, "port metrics = METRICS_PORT");
  });

  t.test(`${name}: probes use the edge's health paths on the main port`, async (t) => {
    const config = parseConfig({ ...env, NODE_ID: "x" });
    const probes = httpProbes(container);
    const byKind = Object.fromEntries(probes.map((p) => [p.kind, p]));
    t.equal(byKind["livenessProbe"]?.path, "/healthz");
    t.equal(byKind["readinessProbe"]?.path, "/readyz");
    for (const p of probes) t.equal(resolvePort(container, p.port), config.port, `${p.kind} port`);
  });

  t.test(`${name}: the grace period covers preStop and the drain`, async (t) => {
    const config = parseConfig({ ...env, NODE_ID: "x" });
    const grace = Number(pod["terminationGracePeriodSeconds"] ?? 30);
    const preStop = preStopSleepSeconds(container);
    t.ok(preStop >= 3, `preStop sleeps ${preStop} s so that endpoints are removed before SIGTERM`);
    t.ok(
      grace > preStop + config.drainSeconds + 5,
      `terminationGracePeriodSeconds ${grace} > preStop ${preStop} + DRAIN_SECONDS ${config.drainSeconds} + 5`,
    );
  });

  t.test(`${name}: pods run as non-root with a read-only root and no capabilities`, async (t) => {
    for (const [kind, workload] of [
      ["Deployment", EDGE],
      ["StatefulSet", "nats"],
    ] as const) {
      const spec = m.podSpec(kind, workload);
      const psc = spec["securityContext"] as JsonObject;
      t.equal(psc["runAsNonRoot"], true, `${workload} runAsNonRoot`);
      t.ok(Number(psc["runAsUser"]) > 0, `${workload} runAsUser is not root`);
      t.same(psc["seccompProfile"], { type: "RuntimeDefault" }, `${workload} seccomp`);
      for (const c of spec["containers"] as JsonObject[]) {
        const sc = c["securityContext"] as JsonObject;
        const label = `${workload}/${c["name"]}`;
        t.equal(sc["allowPrivilegeEscalation"], false, `${label} allowPrivilegeEscalation`);
        t.equal(sc["readOnlyRootFilesystem"], true, `${label} readOnlyRootFilesystem`);
        t.same((sc["capabilities"] as JsonObject)["drop"], ["ALL"], `${label} drops ALL`);
        const resources = c["resources"] as JsonObject;
        t.ok((resources["requests"] as JsonObject)["cpu"], `${label} requests cpu`);
        t.ok((resources["limits"] as JsonObject)["memory"], `${label} limits memory`);
      }
    }
  });

  t.test(`${name}: selectors and references line up`, async (t) => {
    const labels = ((deployment["spec"] as JsonObject)["template"] as JsonObject)[
      "metadata"
    ] as JsonObject;
    const podLabels = labels["labels"];
    t.ok(
      selects((deployment["spec"] as JsonObject)["selector"], podLabels),
      "Deployment selects its pods",
    );
    const service = m.get("Service", EDGE);
    const sspec = service["spec"] as JsonObject;
    t.ok(selects(sspec["selector"], podLabels), "Service selects the edge pods");
    for (const p of sspec["ports"] as JsonObject[]) {
      t.doesNotThrow(
        () => resolvePort(container, p["targetPort"]),
        `Service port ${p["name"]} targets a container port`,
      );
    }
    t.ok(
      selects((m.get("PodDisruptionBudget", EDGE)["spec"] as JsonObject)["selector"], podLabels),
      "PDB",
    );
    const hpa = m.get("HorizontalPodAutoscaler", EDGE)["spec"] as JsonObject;
    const target = hpa["scaleTargetRef"] as JsonObject;
    t.same([target["kind"], target["name"]], ["Deployment", EDGE], "HPA scales the Deployment");
    const replicas = Number((deployment["spec"] as JsonObject)["replicas"]);
    t.ok(
      Number(hpa["minReplicas"]) <= replicas && replicas <= Number(hpa["maxReplicas"]),
      `replicas ${replicas} within the HPA's ${hpa["minReplicas"]}..${hpa["maxReplicas"]}`,
    );
    t.ok(Number(hpa["minReplicas"]) >= 2, "at least two edge nodes");

    for (const monitor of m.all("ServiceMonitor")) {
      const spec = monitor["spec"] as JsonObject;
      const services = m
        .all("Service")
        .filter((s) => selects(spec["selector"], s.metadata["labels"]));
      const ports = services.flatMap((s) =>
        ((s["spec"] as JsonObject)["ports"] as JsonObject[]).map((p) => p["name"]),
      );
      for (const e of spec["endpoints"] as JsonObject[]) {
        t.ok(
          ports.includes(e["port"]!),
          `ServiceMonitor ${monitor.metadata.name} port ${e["port"]} is a Service port`,
        );
      }
    }
    const monitored = m.get("ServiceMonitor", EDGE)["spec"] as JsonObject;
    const endpoint = (monitored["endpoints"] as JsonObject[])[0]!;
    t.equal(endpoint["path"] ?? "/metrics", "/metrics");
    const servicePort = (sspec["ports"] as JsonObject[]).find(
      (p) => p["name"] === endpoint["port"],
    )!;
    t.equal(
      resolvePort(container, servicePort["targetPort"]),
      parseConfig({ ...env, NODE_ID: "x" }).metricsPort,
      "the ServiceMonitor scrapes METRICS_PORT",
    );
  });

  t.test(`${name}: the Ingress routes the client paths, and only those`, async (t) => {
    const ingress = m.get("Ingress", EDGE)["spec"] as JsonObject;
    const paths = (ingress["rules"] as JsonObject[]).flatMap(
      (r) => ((r["http"] as JsonObject)["paths"] as JsonObject[]) ?? [],
    );
    const routes = (url: string): boolean =>
      paths.some((p) =>
        p["pathType"] === "Exact"
          ? url === p["path"]
          : url === String(p["path"]).replace(/\/$/, "") ||
            url.startsWith(String(p["path"]).replace(/\/?$/, "/")),
      );
    for (const url of [
      "/socket.io/",
      "/ws",
      "/ws/workbooks/wb1",
      "/ws/jobs/j1",
      "/ws/notifications",
      "/v1/publish",
    ]) {
      t.ok(routes(url), `${url} is routed`);
    }
    for (const url of ["/metrics", "/healthz", "/readyz"])
      t.notOk(routes(url), `${url} is not exposed`);
    for (const p of paths) {
      const backend = (p["backend"] as JsonObject)["service"] as JsonObject;
      t.equal(backend["name"], EDGE, `${p["path"]} goes to the edge Service`);
      const port = (backend["port"] as JsonObject)["name"];
      t.equal(port, "http", `${p["path"]} uses the http port`);
    }
  });
}
