import t from "tap";
import {
  nameOf,
  renderAll,
  schemaErrors,
  typeErrors,
  type JsonObject,
  type K8sObject,
} from "../../src/index.js";

// Every object of the base and of each overlay, as kustomize renders them,
// against the Kubernetes API schemas (kubernetes-models) and the Prometheus
// Operator's CRD models (@kubernetes-models/prometheus-operator).
const rendered = renderAll();

for (const { name, m } of rendered) {
  t.test(`${name}: every object validates against its Kubernetes schema`, async (t) => {
    for (const o of m.objects) t.same(await schemaErrors(o), [], `${nameOf(o)} (${o.apiVersion})`);
  });

  t.test(`${name}: no object has a field its API does not know`, async (t) => {
    for (const [o, errors] of typeErrors(m.objects)) t.same(errors, [], nameOf(o));
  });
}

t.test("the validators reject broken objects (they are not vacuous)", async (t) => {
  const { m } = rendered[0]!;
  const deployment = structuredClone(m.get("Deployment", "calcbridge-edge"));
  const pod = (deployment["spec"] as JsonObject)["template"] as JsonObject;
  const container = ((pod["spec"] as JsonObject)["containers"] as JsonObject[])[0]!;
  (container["ports"] as JsonObject[])[0]!["containerPort"] = "8080";
  t.match(await schemaErrors(deployment), [/containerPort must be integer/]);

  const misspelled = structuredClone(m.get("Deployment", "calcbridge-edge"));
  const c = (((misspelled["spec"] as JsonObject)["template"] as JsonObject)["spec"] as JsonObject)[
    "containers"
  ] as JsonObject[];
  (c[0]!["securityContext"] as JsonObject)["runAsNonRot"] = true;
  const monitor = structuredClone(m.get("ServiceMonitor", "calcbridge-edge"));
  ((monitor["spec"] as JsonObject)["endpoints"] as JsonObject[])[0]!["intervall"] = "15s";
  const missing = structuredClone(m.get("Service", "calcbridge-edge"));
  delete ((missing["spec"] as JsonObject)["ports"] as JsonObject[])[0]!["port"];
  t.same(await schemaErrors(misspelled), [], "JSON Schema alone lets an unknown field through");
  const errors = typeErrors([misspelled, monitor, missing]);
  t.match(errors.get(misspelled), [/securityContext\.runAsNonRot: .*does not exist/]);
  t.match(errors.get(monitor), [/endpoints\.intervall: .*does not exist/]);
  t.match(errors.get(missing), [/port.*missing/]);

  const unknownKind: K8sObject = {
    apiVersion: "example.com/v1",
    kind: "Widget",
    metadata: { name: "w" },
  };
  await t.rejects(schemaErrors(unknownKind), /no model package for API group example\.com/);
});
