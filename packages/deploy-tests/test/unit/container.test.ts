import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  findNatsServer,
  freePorts,
  startNats,
  waitFor,
  type NatsServerHandle,
} from "@calcbridge/testing";
import t, { type Test } from "tap";
import {
  edgePackageDir,
  execForm,
  finalStage,
  fromRoot,
  get,
  instructionsOf,
  preStopSleepSeconds,
  readDockerfile,
  renderAll,
} from "../../src/index.js";

// The pod, short of Kubernetes: the image's entrypoint with the environment
// the base gives the edge container (ConfigMap + Secret + NODE_ID), against a
// nats-server running the base's nats.conf with the NATS pod's environment.
// Only addresses differ: ports are free ones on 127.0.0.1, and NATS_URL names
// the local server instead of the StatefulSet's.
// nats-server is part of the test setup (.ci/run installs it): a missing one
// fails here with findNatsServer's message, never a skip.
findNatsServer();

const { m } = renderAll()[0]!;
const secret = m.dataOf("Secret", "calcbridge-edge");
const configMap = m.dataOf("ConfigMap", "calcbridge-edge");
const entrypoint = execForm(
  instructionsOf(finalStage(readDockerfile(fromRoot("deploy", "Dockerfile"))), "ENTRYPOINT")[0]!
    .args,
)!;
const pod = m.podSpec("Deployment", "calcbridge-edge");
const grace = Number(pod["terminationGracePeriodSeconds"]);
const preStop = preStopSleepSeconds(m.container("Deployment", "calcbridge-edge", "edge"));

/** A nats-server running the base's nats.conf, started once for the tests of this file. */
let natsStarted: Promise<NatsServerHandle> | undefined;
function localNats(): Promise<NatsServerHandle> {
  natsStarted ??= startLocalNats();
  return natsStarted;
}

async function startLocalNats(): Promise<NatsServerHandle> {
  const dir = mkdtempSync(join(tmpdir(), "calcbridge-container-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, "nats.conf");
  // One server stands in for the cluster: the cluster block goes (its routes
  // name the StatefulSet's pods, which do not resolve here), and the volume
  // paths become temporary ones (flags cannot override store_dir).
  const natsConf = m.dataOf("ConfigMap", "nats")["nats.conf"]!;
  const localConf = natsConf
    .replace(/^cluster\s*\{[\s\S]*?^\}\n/m, "")
    .replace(/^(\s*store_dir:\s*).*$/m, `$1${JSON.stringify(join(dir, "jetstream"))}`)
    .replace(/^(\s*pid_file:\s*).*$/m, `$1${JSON.stringify(join(dir, "nats.pid"))}`);
  for (const gone of ["cluster {", "/data", "/var/run/nats"]) {
    if (localConf.includes(gone))
      throw new Error(`nats.conf still has ${gone} after localising it`);
  }
  writeFileSync(conf, localConf);
  // What the NATS pod's env gives the server (nats-server inherits this process's env).
  process.env["POD_NAME"] = "nats-0";
  process.env["NATS_EDGE_PASSWORD"] = secret["NATS_PASSWORD"];
  // Flags override the config file's addresses (127.0.0.1, free ports).
  return startNats({ t, args: ["-c", conf] });
}

interface Edge {
  child: ChildProcess;
  url: string;
  metricsUrl: string;
  output: () => string;
}

async function startEdgeProcess(t: Test, overrides: Record<string, string> = {}): Promise<Edge> {
  const nats = await localNats();
  const [port, metricsPort] = await freePorts(2);
  const child = spawn(process.execPath, entrypoint.slice(1), {
    cwd: edgePackageDir(),
    env: {
      PATH: process.env["PATH"] ?? "",
      ...configMap,
      ...secret,
      NODE_ID: "calcbridge-edge-7d9f8b6c5d-x2x4z",
      HOST: "127.0.0.1",
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
      NATS_URL: nats.url,
      ...overrides,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(() => get(url + "/healthz").then((r) => r.status === 200), {
    timeout: 15_000,
    message: "the edge CLI to listen",
  }).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}\n--- edge output ---\n${output}`, { cause: err });
  });
  return { child, url, metricsUrl: `http://127.0.0.1:${metricsPort}`, output: () => output };
}

t.test(
  "the edge starts in production from the manifests' env, joins NATS and drains on SIGTERM",
  async (t) => {
    const edge = await startEdgeProcess(t);
    await waitFor(() => get(edge.url + "/readyz").then((r) => r.status === 200), {
      timeout: 15_000,
      message: "the edge to be ready (bus connected)",
    });
    const metrics = await get(edge.metricsUrl + "/metrics");
    t.match(
      metrics.body,
      /^calcbridge_bus_connected\{[^}]*bus="nats"[^}]*\} 1$/m,
      "connected to NATS as the Secret's user",
    );
    t.match(metrics.body, /node="calcbridge-edge-7d9f8b6c5d-x2x4z"/, "NODE_ID names the node");
    t.notMatch(edge.output(), /dev mode/, "no dev mode in production");

    const started = Date.now();
    edge.child.kill("SIGTERM");
    const [code] = (await once(edge.child, "exit")) as [number | null];
    const elapsed = (Date.now() - started) / 1000;
    t.equal(code, 0, "exit 0 after the drain");
    t.ok(
      elapsed < grace - preStop,
      `exited in ${elapsed.toFixed(1)} s, within the ${grace - preStop} s left after preStop`,
    );
    t.match(edge.output(), /"msg":"drained; exiting"/);
  },
);

t.test("with a wrong NATS password the node lives but is not ready", async (t) => {
  const edge = await startEdgeProcess(t, { NATS_PASSWORD: "not-the-password-of-the-edge-user" });
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const ready = await get(edge.url + "/readyz");
  t.equal(ready.status, 503, "the NATS authorization block refuses it");
  t.match(ready.body, /bus/);
  t.equal((await get(edge.url + "/healthz")).status, 200, "alive");
  edge.child.kill("SIGTERM");
  await once(edge.child, "exit");
});
