import { spawn } from "node:child_process";
import { once } from "node:events";
import { freePort } from "@calcbridge/testing";
import t from "tap";
import {
  execForm,
  finalStage,
  fromRoot,
  get,
  httpProbes,
  instructionsOf,
  readDockerfile,
  renderAll,
  startEdge,
  type JsonObject,
} from "../../src/index.js";

// A real edge node (native uWS, embedded bus) answers every probe and scrape
// path the manifests and the image use, with the status they expect.
const { m } = renderAll()[0]!;
const edge = await startEdge(t, { separateMetrics: true });

t.test("every HTTP probe of the edge Deployment answers 200 on a ready node", async (t) => {
  const probes = httpProbes(m.container("Deployment", "calcbridge-edge", "edge"));
  t.same(probes.map((p) => p.kind).sort(), ["livenessProbe", "readinessProbe", "startupProbe"]);
  for (const p of probes) {
    const res = await get(edge.url + p.path);
    t.equal(res.status, 200, `${p.kind} GET ${p.path}: ${res.body}`);
  }
});

t.test("the ServiceMonitor's path serves Prometheus metrics on the metrics port", async (t) => {
  const endpoint = (
    (m.get("ServiceMonitor", "calcbridge-edge")["spec"] as JsonObject)["endpoints"] as JsonObject[]
  )[0]!;
  const res = await get(edge.metricsUrl + String(endpoint["path"] ?? "/metrics"));
  t.equal(res.status, 200);
  t.match(res.body, /^calcbridge_ready\{node="deploy-tests"\} 1$/m);
});

t.test(
  "the image's HEALTHCHECK command passes against a live node and fails without one",
  async (t) => {
    const check = instructionsOf(
      finalStage(readDockerfile(fromRoot("deploy", "Dockerfile"))),
      "HEALTHCHECK",
    )[0];
    t.ok(check, "the image has a HEALTHCHECK");
    const argv = execForm(check!.args.replace(/^(--\S+\s+)*CMD\s+/, ""));
    t.ok(argv && argv[0] === "node", `exec form running node: ${check!.args}`);
    // Asynchronous: the node under test runs in this process's event loop.
    const run = async (port: number): Promise<number | null> => {
      const child = spawn(process.execPath, argv!.slice(1), {
        env: { PATH: process.env["PATH"] ?? "", PORT: String(port) },
        stdio: "ignore",
        timeout: 10_000,
      });
      const [code] = (await once(child, "exit")) as [number | null];
      return code;
    };
    t.equal(await run(Number(new URL(edge.url).port)), 0, "healthy node: exit 0");
    t.equal(await run(await freePort()), 1, "nothing listening: exit 1");
  },
);

t.test("readiness goes 503 while liveness stays 200 when the bus is down", async (t) => {
  await edge.node.bus.close();
  const ready = await get(edge.url + "/readyz");
  t.equal(ready.status, 503, "not ready: the Service stops sending clients");
  t.match(ready.body, /bus/);
  t.equal((await get(edge.url + "/healthz")).status, 200, "alive: the kubelet does not restart it");
});
