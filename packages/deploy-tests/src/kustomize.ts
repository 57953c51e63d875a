/**
 * A small kustomize renderer for the fields our kustomizations use:
 * `resources` (files and directories), `namespace`, `labels`, `images`,
 * `replicas` and strategic-merge `patches`. Anything else in a
 * kustomization, and any transformer entry that matches no object (which
 * kustomize silently ignores), is an error: the renderer refuses what it
 * cannot do exactly. When `kubectl` is on PATH the tests also check that
 * `kubectl kustomize` renders the same objects.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseAllDocuments } from "yaml";
import { isObject, strategicMerge, type Json, type JsonObject } from "./strategic-merge.js";

/** A Kubernetes object as a manifest states it. */
export interface K8sObject extends JsonObject {
  apiVersion: string;
  kind: string;
  metadata: JsonObject & { name: string; namespace?: string };
}

export class KustomizeError extends Error {
  override name = "KustomizeError";
  readonly code = "ERR_KUSTOMIZE";
}

export const SUPPORTED_FIELDS: readonly string[] = Object.freeze([
  "apiVersion",
  "kind",
  "namespace",
  "resources",
  "labels",
  "images",
  "replicas",
  "patches",
]);

/** Kinds without a namespace (the ones a CalcBridge kustomization could hold). */
const CLUSTER_SCOPED = new Set([
  "Namespace",
  "ClusterRole",
  "ClusterRoleBinding",
  "CustomResourceDefinition",
  "PersistentVolume",
  "StorageClass",
  "PriorityClass",
  "IngressClass",
]);

/** Kinds whose `spec.template` is a pod template. */
const WORKLOADS = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"]);

/** Kinds with `spec.replicas` that the replicas transformer may set. */
const SCALABLE = new Set(["Deployment", "StatefulSet", "ReplicaSet"]);

/** Parses every document of a YAML file (empty documents skipped), failing on YAML errors. */
export function readYamlDocuments(path: string): Json[] {
  const docs = parseAllDocuments(readFileSync(path, "utf8"), { prettyErrors: true });
  const out: Json[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      throw new KustomizeError(`${path}: ${doc.errors.map((e) => e.message).join("; ")}`);
    }
    const value = doc.toJS() as Json;
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

/** Reads one YAML document. */
export function readYaml(path: string): Json {
  const docs = readYamlDocuments(path);
  if (docs.length !== 1)
    throw new KustomizeError(`${path}: expected one YAML document, got ${docs.length}`);
  return docs[0]!;
}

function asObject(value: Json, where: string): K8sObject {
  if (
    !isObject(value) ||
    typeof value["apiVersion"] !== "string" ||
    typeof value["kind"] !== "string" ||
    !isObject(value["metadata"] ?? null) ||
    typeof (value["metadata"] as JsonObject)["name"] !== "string"
  ) {
    throw new KustomizeError(`${where}: not a Kubernetes object (apiVersion, kind, metadata.name)`);
  }
  return value as K8sObject;
}

/** `group/Kind/namespace/name`, the identity kustomize keys objects by. */
export function idOf(o: K8sObject): string {
  const group = o.apiVersion.includes("/") ? o.apiVersion.split("/")[0] : "";
  return `${group}/${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
}

/** Renders the kustomization in `dir` (a directory holding `kustomization.yaml`). */
export function renderKustomization(dir: string): K8sObject[] {
  const file = join(dir, "kustomization.yaml");
  const k = readYaml(file);
  if (!isObject(k)) throw new KustomizeError(`${file}: not a mapping`);
  const unsupported = Object.keys(k).filter((key) => !SUPPORTED_FIELDS.includes(key));
  if (unsupported.length > 0) {
    throw new KustomizeError(
      `${file}: ${unsupported.join(", ")} not supported by this renderer (supported: ${SUPPORTED_FIELDS.join(", ")})`,
    );
  }
  if (k["kind"] !== "Kustomization")
    throw new KustomizeError(`${file}: kind must be Kustomization`);

  let objects: K8sObject[] = [];
  for (const entry of list(k["resources"], `${file} resources`)) {
    if (typeof entry !== "string") throw new KustomizeError(`${file}: a resource must be a path`);
    const path = resolve(dir, entry);
    if (statSync(path).isDirectory()) objects.push(...renderKustomization(path));
    else objects.push(...readYamlDocuments(path).map((doc) => asObject(doc, path)));
  }
  const seen = new Set<string>();
  for (const o of objects) {
    if (seen.has(idOf(o))) throw new KustomizeError(`${file}: ${idOf(o)} is defined twice`);
    seen.add(idOf(o));
  }

  for (const entry of list(k["patches"], `${file} patches`))
    objects = applyPatch(objects, entry, dir, file);
  if (k["namespace"] !== undefined) setNamespace(objects, k["namespace"], file);
  for (const entry of list(k["labels"], `${file} labels`)) addLabels(objects, entry, file);
  for (const entry of list(k["images"], `${file} images`)) setImage(objects, entry, file);
  for (const entry of list(k["replicas"], `${file} replicas`)) setReplicas(objects, entry, file);
  return objects;
}

function list(value: Json | undefined, where: string): Json[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new KustomizeError(`${where}: must be a list`);
  return value;
}

function applyPatch(objects: K8sObject[], entry: Json, dir: string, file: string): K8sObject[] {
  if (!isObject(entry)) throw new KustomizeError(`${file}: a patch must be a mapping`);
  const extra = Object.keys(entry).filter((key) => key !== "path" && key !== "patch");
  if (extra.length > 0) {
    throw new KustomizeError(
      `${file}: patch fields ${extra.join(", ")} not supported (strategic merge by path or patch only)`,
    );
  }
  const docs =
    typeof entry["path"] === "string"
      ? readYamlDocuments(resolve(dir, entry["path"]))
      : typeof entry["patch"] === "string"
        ? parseAllDocuments(entry["patch"]).map((d) => d.toJS() as Json)
        : [];
  if (docs.length === 0)
    throw new KustomizeError(`${file}: a patch needs a path or an inline patch`);
  let out = objects;
  for (const doc of docs) {
    if (Array.isArray(doc))
      throw new KustomizeError(`${file}: JSON 6902 patches are not supported`);
    const patch = asObject(doc, `${file} patch`);
    const matches = out.filter(
      (o) =>
        o.apiVersion === patch.apiVersion &&
        o.kind === patch.kind &&
        o.metadata.name === patch.metadata.name &&
        (patch.metadata.namespace === undefined ||
          o.metadata.namespace === patch.metadata.namespace),
    );
    if (matches.length !== 1) {
      throw new KustomizeError(
        `${file}: patch ${patch.kind}/${patch.metadata.name} matches ${matches.length} objects, want 1`,
      );
    }
    const target = matches[0]!;
    out = out.map((o) => (o === target ? (strategicMerge(o, patch) as K8sObject) : o));
  }
  return out;
}

function setNamespace(objects: K8sObject[], namespace: Json, file: string): void {
  if (typeof namespace !== "string")
    throw new KustomizeError(`${file}: namespace must be a string`);
  for (const o of objects) {
    if (o.kind === "Namespace") {
      if (o.metadata.name !== namespace) {
        throw new KustomizeError(
          `${file}: Namespace ${o.metadata.name} differs from namespace ${namespace}`,
        );
      }
    } else if (o.kind.endsWith("RoleBinding")) {
      throw new KustomizeError(`${file}: ${o.kind} subjects are not renamespaced by this renderer`);
    } else if (!CLUSTER_SCOPED.has(o.kind)) {
      o.metadata = { ...o.metadata, namespace };
    }
  }
}

function addLabels(objects: K8sObject[], entry: Json, file: string): void {
  if (!isObject(entry) || !isObject(entry["pairs"] ?? null)) {
    throw new KustomizeError(`${file}: a labels entry needs pairs`);
  }
  const extra = Object.keys(entry).filter((key) => key !== "pairs" && key !== "includeTemplates");
  if (extra.length > 0 || entry["includeSelectors"] === true) {
    throw new KustomizeError(
      `${file}: labels ${extra.join(", ")} not supported (pairs, includeTemplates)`,
    );
  }
  const pairs = entry["pairs"] as JsonObject;
  const label = (meta: Json | undefined): JsonObject => {
    const m = isObject(meta ?? null) ? (meta as JsonObject) : {};
    const labels = isObject(m["labels"] ?? null) ? (m["labels"] as JsonObject) : {};
    return { ...m, labels: { ...labels, ...pairs } };
  };
  for (const o of objects) {
    o.metadata = label(o.metadata) as K8sObject["metadata"];
    if (entry["includeTemplates"] !== true || !WORKLOADS.has(o.kind)) continue;
    const spec = o["spec"] as JsonObject;
    const template = spec["template"] as JsonObject;
    template["metadata"] = label(template["metadata"]);
    if (Array.isArray(spec["volumeClaimTemplates"])) {
      spec["volumeClaimTemplates"] = spec["volumeClaimTemplates"].map((vct) => ({
        ...(vct as JsonObject),
        metadata: label((vct as JsonObject)["metadata"]),
      }));
    }
  }
}

/** Every container (and init container) of every pod template. */
export function containersOf(o: K8sObject): JsonObject[] {
  if (!WORKLOADS.has(o.kind)) return [];
  const pod = ((o["spec"] as JsonObject)["template"] as JsonObject)["spec"] as JsonObject;
  return [
    ...((pod["initContainers"] as JsonObject[] | undefined) ?? []),
    ...((pod["containers"] as JsonObject[] | undefined) ?? []),
  ];
}

/** `name[:tag][@digest]` split at the tag's colon, not a registry port's. */
export function parseImage(image: string): { name: string; tag?: string; digest?: string } {
  const [rest, digest] = image.split("@") as [string, string | undefined];
  const slash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  const name = colon > slash ? rest.slice(0, colon) : rest;
  const tag = colon > slash ? rest.slice(colon + 1) : undefined;
  return { name, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

function setImage(objects: K8sObject[], entry: Json, file: string): void {
  if (!isObject(entry) || typeof entry["name"] !== "string") {
    throw new KustomizeError(`${file}: an images entry needs a name`);
  }
  const extra = Object.keys(entry).filter(
    (key) => !["name", "newName", "newTag", "digest"].includes(key),
  );
  if (extra.length > 0)
    throw new KustomizeError(`${file}: images fields ${extra.join(", ")} not supported`);
  let matched = 0;
  for (const container of objects.flatMap(containersOf)) {
    const image = parseImage(String(container["image"]));
    if (image.name !== entry["name"]) continue;
    matched++;
    const name = typeof entry["newName"] === "string" ? entry["newName"] : image.name;
    const digest = typeof entry["digest"] === "string" ? entry["digest"] : undefined;
    const tag = typeof entry["newTag"] === "string" ? entry["newTag"] : image.tag;
    container["image"] = digest ? `${name}@${digest}` : tag ? `${name}:${tag}` : name;
  }
  if (matched === 0)
    throw new KustomizeError(`${file}: images entry ${entry["name"]} matches no container image`);
}

function setReplicas(objects: K8sObject[], entry: Json, file: string): void {
  if (!isObject(entry) || typeof entry["name"] !== "string" || typeof entry["count"] !== "number") {
    throw new KustomizeError(`${file}: a replicas entry needs a name and a count`);
  }
  const targets = objects.filter((o) => SCALABLE.has(o.kind) && o.metadata.name === entry["name"]);
  if (targets.length === 0)
    throw new KustomizeError(`${file}: replicas entry ${entry["name"]} matches nothing`);
  for (const o of targets) o["spec"] = { ...(o["spec"] as JsonObject), replicas: entry["count"] };
}

/** The kustomization directories of the repository: the base and every overlay. */
export function kustomizationDirs(k8sDir: string): { name: string; dir: string }[] {
  const overlays = join(k8sDir, "overlays");
  const names = existsSync(overlays)
    ? readdirSync(overlays)
        .filter((n) => existsSync(join(overlays, n, "kustomization.yaml")))
        .sort()
    : [];
  return [
    { name: "base", dir: join(k8sDir, "base") },
    ...names.map((n) => ({ name: `overlays/${n}`, dir: join(overlays, n) })),
  ];
}
