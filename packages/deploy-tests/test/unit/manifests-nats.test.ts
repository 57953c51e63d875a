import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { findNatsServer } from "@calcbridge/testing";
import t from "tap";
import {
  loadEdgeConfig,
  preStopSleepSeconds,
  renderAll,
  resolvePort,
  seconds,
  selects,
  type JsonObject,
} from "../../src/index.js";

// The NATS cluster of the manifests: its servers find each other, the edge
// finds every server, the configuration is one nats-server accepts.
const { parseConfig } = await loadEdgeConfig();

/** A `key: value` setting of nats.conf (top level or in a block), as text. */
function setting(conf: string, key: string): string | undefined {
  const m = new RegExp(`^\\s*${key}\\s*[:=]\\s*(.+?)\\s*$`, "m").exec(conf);
  return m?.[1]?.replace(/^"(.*)"$/, "$1");
}

// nats-server is part of the test setup (.ci/run installs it): a missing one
// fails here with findNatsServer's message, never a skip.
const natsServer = findNatsServer();

for (const { name, m } of renderAll()) {
  const sts = m.get("StatefulSet", "nats");
  const spec = sts["spec"] as JsonObject;
  const pod = m.podSpec("StatefulSet", "nats");
  const nats = m.container("StatefulSet", "nats", "nats");
  const conf = m.dataOf("ConfigMap", "nats")["nats.conf"] ?? "";
  const replicas = Number(spec["replicas"]);
  const headless = m.get("Service", String(spec["serviceName"]));

  t.test(`${name}: a 3-server cluster under a headless Service`, async (t) => {
    t.equal(replicas, 3, "three servers keep a JetStream quorum through the loss of one");
    const hspec = headless["spec"] as JsonObject;
    t.equal(hspec["clusterIP"], "None", "headless");
    t.equal(
      hspec["publishNotReadyAddresses"],
      true,
      "servers resolve each other before they are ready",
    );
    const labels = ((spec["template"] as JsonObject)["metadata"] as JsonObject)["labels"];
    t.ok(selects(hspec["selector"], labels), "the headless Service selects the servers");
    t.ok(
      selects((m.get("Service", "nats")["spec"] as JsonObject)["selector"], labels),
      "so does the client Service",
    );
    t.ok(
      selects((m.get("PodDisruptionBudget", "nats")["spec"] as JsonObject)["selector"], labels),
      "PDB",
    );
    const claim = (spec["volumeClaimTemplates"] as JsonObject[])[0]!;
    const mounts = nats["volumeMounts"] as JsonObject[];
    const dataMount = mounts.find((v) => v["name"] === (claim["metadata"] as JsonObject)["name"]);
    t.ok(dataMount, "the server mounts its volume claim");
    t.match(conf, /jetstream\s*\{/, "JetStream is on");
    t.equal(setting(conf, "store_dir"), dataMount?.["mountPath"], "JetStream stores on the volume");
  });

  t.test(`${name}: routes and the edge's NATS_URL name every server`, async (t) => {
    const svc = headless.metadata.name;
    const clusterPort = resolvePort(nats, "cluster");
    const clientPort = resolvePort(nats, "client");
    const servers = Array.from({ length: replicas }, (_, i) => `${sts.metadata.name}-${i}.${svc}`);
    const routes = [...conf.matchAll(/nats:\/\/([^\s,\]]+)/g)].map((r) => r[1]);
    t.same(
      routes,
      servers.map((s) => `${s}:${clusterPort}`),
      "cluster routes",
    );
    t.equal(setting(conf, "listen"), `0.0.0.0:${clientPort}`, "client port");
    t.match(
      conf,
      new RegExp(`cluster\\s*\\{[^}]*listen:\\s*0\\.0\\.0\\.0:${clusterPort}`),
      "cluster port",
    );
    t.equal(setting(conf, "http"), `0.0.0.0:${resolvePort(nats, "monitor")}`, "monitoring port");
    const env = {
      ...m.dataOf("ConfigMap", "calcbridge-edge"),
      ...m.dataOf("Secret", "calcbridge-edge"),
    };
    const config = parseConfig({ ...env, NODE_ID: "x" });
    t.same(
      config.nats?.servers,
      servers.map((s) => `nats://${s}:${clientPort}`),
      "NATS_URL",
    );
  });

  t.test(
    `${name}: the variables nats.conf reads are set, and the edge's credentials are its users`,
    async (t) => {
      const env = new Map((nats["env"] as JsonObject[]).map((e) => [String(e["name"]), e]));
      const used = [...new Set([...conf.matchAll(/\$(\w+)/g)].map((v) => v[1]!))];
      t.ok(used.length > 0);
      for (const v of used) t.ok(env.has(v), `$${v} is in the container's env`);
      t.same(
        env.get("POD_NAME")?.["valueFrom"],
        { fieldRef: { fieldPath: "metadata.name" } },
        "server_name",
      );
      t.equal(setting(conf, "server_name"), "$POD_NAME", "each server is named after its pod");
      for (const e of env.values()) {
        const ref = (e["valueFrom"] as JsonObject | undefined)?.["secretKeyRef"] as
          JsonObject | undefined;
        if (ref === undefined) continue;
        const data = m.dataOf("Secret", String(ref["name"]));
        t.ok(String(ref["key"]) in data, `secret ${ref["name"]} has ${ref["key"]}`);
      }
      const secret = m.dataOf("Secret", "calcbridge-edge");
      t.match(conf, new RegExp(`user:\\s*${secret["NATS_USER"]}\\b`), "NATS_USER is a NATS user");
      const password = (env.get("NATS_EDGE_PASSWORD")?.["valueFrom"] as JsonObject)[
        "secretKeyRef"
      ] as JsonObject;
      t.same(
        [password["name"], password["key"]],
        ["calcbridge-edge", "NATS_PASSWORD"],
        "and its password the edge's",
      );
    },
  );

  t.test(`${name}: config, pid file and lame duck mode fit the pod`, async (t) => {
    const mounts = nats["volumeMounts"] as JsonObject[];
    const args = nats["args"] as string[];
    const confPath = args[args.indexOf("--config") + 1]!;
    const configMount = mounts.find((v) => v["mountPath"] === dirname(confPath));
    const configVolume = (pod["volumes"] as JsonObject[]).find(
      (v) => v["name"] === configMount?.["name"],
    );
    t.equal(
      (configVolume?.["configMap"] as JsonObject | undefined)?.["name"],
      "nats",
      "--config is the ConfigMap",
    );
    const pidFile = setting(conf, "pid_file")!;
    t.ok(
      mounts.some((v) => v["mountPath"] === dirname(pidFile)),
      "the pid file is on a writable mount",
    );
    const preStop = ((nats["lifecycle"] as JsonObject)["preStop"] as JsonObject)[
      "exec"
    ] as JsonObject;
    t.match(
      (preStop["command"] as string[]).join(" "),
      `ldm=${pidFile}`,
      "preStop enters lame duck mode",
    );
    const lameDuck = seconds(setting(conf, "lame_duck_duration") ?? "2m");
    const grace = Number(pod["terminationGracePeriodSeconds"] ?? 30);
    t.ok(grace > lameDuck + preStopSleepSeconds({}), `grace ${grace} s > lame duck ${lameDuck} s`);
  });

  t.test(`${name}: nats-server accepts the configuration`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "calcbridge-nats-conf-"));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "nats.conf");
    writeFileSync(file, conf);
    const env = { PATH: process.env["PATH"] ?? "", POD_NAME: "nats-0", NATS_EDGE_PASSWORD: "x" };
    const ok = spawnSync(natsServer, ["-t", "-c", file], { encoding: "utf8", env });
    t.equal(ok.status, 0, `nats-server -t: ${ok.stdout}${ok.stderr}`);
    const { POD_NAME: _, ...without } = env;
    const missing = spawnSync(natsServer, ["-t", "-c", file], {
      encoding: "utf8",
      env: without,
    });
    t.not(missing.status, 0, "and refuses it without the pod's variables (the check is real)");
  });
}
