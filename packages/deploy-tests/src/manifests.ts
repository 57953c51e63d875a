/** Rendered manifests with typed lookups of the objects the checks need. */
import { kustomizationDirs, renderKustomization, type K8sObject } from "./kustomize.js";
import { fromRoot } from "./paths.js";
import { isObject, type JsonObject } from "./strategic-merge.js";

export interface Manifests {
  readonly objects: readonly K8sObject[];
  /** The only object of `kind` named `name`; throws if there is none. */
  get(kind: string, name: string): K8sObject;
  all(kind: string): K8sObject[];
  /** `data` merged with `stringData` of a ConfigMap or Secret (Secret `data` decoded). */
  dataOf(kind: "ConfigMap" | "Secret", name: string): Record<string, string>;
  /** The pod spec of a workload's template. */
  podSpec(kind: string, name: string): JsonObject;
  /** A container of a workload's pod template. */
  container(kind: string, name: string, container: string): JsonObject;
}

export function manifests(objects: readonly K8sObject[]): Manifests {
  const get = (kind: string, name: string): K8sObject => {
    const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
    if (found.length !== 1) throw new Error(`expected one ${kind}/${name}, found ${found.length}`);
    return found[0]!;
  };
  const podSpec = (kind: string, name: string): JsonObject => {
    const spec = get(kind, name)["spec"];
    const template = isObject(spec ?? null) ? (spec as JsonObject)["template"] : undefined;
    const pod = isObject(template ?? null) ? (template as JsonObject)["spec"] : undefined;
    if (!isObject(pod ?? null)) throw new Error(`${kind}/${name} has no pod template`);
    return pod as JsonObject;
  };
  return {
    objects,
    get,
    all: (kind) => objects.filter((o) => o.kind === kind),
    dataOf(kind, name) {
      const o = get(kind, name);
      const out: Record<string, string> = {};
      for (const [key, value] of Object.entries((o["data"] as JsonObject | undefined) ?? {})) {
        out[key] =
          kind === "Secret" ? Buffer.from(String(value), "base64").toString("utf8") : String(value);
      }
      for (const [key, value] of Object.entries(
        (o["stringData"] as JsonObject | undefined) ?? {},
      )) {
        out[key] = String(value);
      }
      return out;
    },
    podSpec,
    container(kind, name, container) {
      const found = ((podSpec(kind, name)["containers"] as JsonObject[] | undefined) ?? []).filter(
        (c) => c["name"] === container,
      );
      if (found.length !== 1) throw new Error(`${kind}/${name} has no container ${container}`);
      return found[0]!;
    },
  };
}

/** The rendered kustomizations of the repository: the base and each overlay. */
export interface Rendered {
  /** `base` or `overlays/<name>`. */
  readonly name: string;
  readonly dir: string;
  readonly m: Manifests;
}

export function renderAll(): Rendered[] {
  return kustomizationDirs(fromRoot("k8s")).map(({ name, dir }) => ({
    name,
    dir,
    m: manifests(renderKustomization(dir)),
  }));
}
