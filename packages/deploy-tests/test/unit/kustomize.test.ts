import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import t from "tap";
import { parseAllDocuments } from "yaml";
import {
  KustomizeError,
  StrategicMergeError,
  containersOf,
  idOf,
  parseImage,
  readYaml,
  renderAll,
  renderKustomization,
  strategicMerge,
  type Json,
  type JsonObject,
  type K8sObject,
} from "../../src/index.js";

t.test(
  "strategic merge: maps merge, keyed lists merge by their key, other lists are replaced",
  async (t) => {
    const base: Json = {
      spec: {
        ports: [
          { name: "http", port: 80, targetPort: "http" },
          { name: "metrics", port: 9464 },
        ],
        template: {
          spec: {
            containers: [
              {
                name: "edge",
                image: "a:1",
                args: ["--x"],
                env: [{ name: "A", value: "1" }],
                ports: [{ name: "http", containerPort: 8080 }],
              },
              { name: "sidecar", image: "b:1" },
            ],
          },
        },
      },
    };
    const patch: Json = {
      spec: {
        ports: [{ port: 80, targetPort: 8080 }],
        template: {
          spec: {
            containers: [
              {
                name: "edge",
                args: ["--y"],
                env: [
                  { name: "A", value: "2" },
                  { name: "B", value: "3" },
                ],
                ports: [{ containerPort: 8080, protocol: "TCP" }],
              },
            ],
          },
        },
      },
    };
    const merged = strategicMerge(base, patch) as JsonObject;
    const spec = merged["spec"] as JsonObject;
    t.same(spec["ports"], [
      { name: "http", port: 80, targetPort: 8080 },
      { name: "metrics", port: 9464 },
    ]);
    const containers = ((spec["template"] as JsonObject)["spec"] as JsonObject)[
      "containers"
    ] as JsonObject[];
    t.equal(containers.length, 2, "the sidecar is kept");
    t.same(containers[0], {
      name: "edge",
      image: "a:1",
      args: ["--y"],
      env: [
        { name: "A", value: "2" },
        { name: "B", value: "3" },
      ],
      ports: [{ name: "http", containerPort: 8080, protocol: "TCP" }],
    });
    t.not(merged, base, "the base is not modified");
    t.same(strategicMerge({ a: 1, b: 2 }, { b: null }), { a: 1 }, "null deletes");
    t.throws(() => strategicMerge({ a: [] }, { a: [], $patch: "replace" }), StrategicMergeError);
  },
);

t.test("image references split at the tag, not at a registry port", async (t) => {
  t.same(parseImage("nats:2.10-alpine"), { name: "nats", tag: "2.10-alpine" });
  t.same(parseImage("registry.local:5000/x/edge"), { name: "registry.local:5000/x/edge" });
  t.same(parseImage("registry.local:5000/x/edge:1.2@sha256:ab"), {
    name: "registry.local:5000/x/edge",
    tag: "1.2",
    digest: "sha256:ab",
  });
});

t.test("the renderer refuses what it cannot do exactly", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "calcbridge-kustomize-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const deployment =
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  selector: {}\n" +
    "  template:\n    spec:\n      containers:\n        - name: c\n          image: x:1\n";
  writeFileSync(join(dir, "d.yaml"), deployment);
  const render = (kustomization: string): K8sObject[] => {
    writeFileSync(join(dir, "kustomization.yaml"), kustomization);
    return renderKustomization(dir);
  };
  const head =
    "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [d.yaml]\n";
  t.equal(render(head).length, 1);
  t.throws(() => render(head + "configMapGenerator: []\n"), KustomizeError, "an unsupported field");
  t.throws(
    () => render(head + "images:\n  - name: y\n    newTag: '2'\n"),
    /matches no container image/,
  );
  t.throws(() => render(head + "replicas:\n  - name: nope\n    count: 2\n"), /matches nothing/);
  t.throws(
    () =>
      render(
        head +
          "patches:\n  - patch: |\n      apiVersion: apps/v1\n      kind: Deployment\n      metadata: {name: e}\n",
      ),
    /matches 0 objects/,
  );
  const [patched] = render(head + "images:\n  - name: x\n    newName: r/x\n    newTag: '2'\n");
  t.equal(containersOf(patched!)[0]?.["image"], "r/x:2", "an images entry renames and retags");
});

const rendered = renderAll();

t.test("there is a base and at least one overlay", async (t) => {
  t.equal(rendered[0]?.name, "base");
  t.ok(rendered.length >= 2, `kustomizations: ${rendered.map((r) => r.name).join(", ")}`);
});

for (const { name, dir, m } of rendered) {
  t.test(`${name}: every object has a namespace and a unique identity`, async (t) => {
    const ids = m.objects.map(idOf);
    t.equal(new Set(ids).size, ids.length, "no duplicates");
    for (const o of m.objects) {
      if (o.kind === "Namespace") continue;
      t.equal(o.metadata.namespace, "calcbridge", `${o.kind}/${o.metadata.name} namespace`);
    }
  });

  if (name === "base") continue;
  t.test(`${name}: every patch of the overlay changes its target`, async (t) => {
    const base = rendered[0]!.m;
    const k = readYaml(join(dir, "kustomization.yaml")) as JsonObject;
    const patches = (k["patches"] as JsonObject[] | undefined) ?? [];
    t.ok(patches.length > 0, "the overlay patches something");
    for (const p of patches) {
      const doc = readYaml(join(dir, String(p["path"]))) as K8sObject;
      const before = base.get(doc.kind, doc.metadata.name);
      const after = m.get(doc.kind, doc.metadata.name);
      t.notSame(after, before, `${p["path"]} changes ${doc.kind}/${doc.metadata.name}`);
    }
  });
}

t.test("kubectl kustomize renders the same objects as this renderer", async (t) => {
  // kubectl is part of the test setup (.ci/run installs it): missing, this fails.
  const kubectl = spawnSync("kubectl", ["version", "--client"], { encoding: "utf8" });
  t.equal(kubectl.status, 0, "kubectl is on PATH (apt-get install -y kubectl)");
  for (const { name, dir, m } of rendered) {
    const out = spawnSync("kubectl", ["kustomize", dir], { encoding: "utf8" });
    t.equal(out.status, 0, `kubectl kustomize ${name}: ${out.stderr}`);
    const theirs = parseAllDocuments(out.stdout).map((d) => d.toJS() as K8sObject);
    const ours = new Map(
      m.objects.map((o) => [idOf(o), JSON.parse(JSON.stringify(o)) as K8sObject]),
    );
    t.same(theirs.map(idOf).sort(), [...ours.keys()].sort(), `${name}: the same objects`);
    for (const o of theirs) {
      t.ok(isDeepStrictEqual(ours.get(idOf(o)), o), `${name}: ${idOf(o)} rendered alike`);
    }
  }
});
