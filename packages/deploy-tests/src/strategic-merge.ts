/**
 * The subset of Kubernetes strategic merge patch that the overlays use:
 * maps merge key by key, `null` deletes a key, lists of objects merge by
 * their patch merge key (`x-kubernetes-patch-merge-key` of the Kubernetes
 * OpenAPI) and every other list is replaced. Patch directives (`$patch`,
 * `$setElementOrder`, `$retainKeys`, `$deleteFromPrimitiveList`) are refused
 * rather than half-applied.
 */

/** A JSON-like value, as YAML parses a manifest. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/**
 * Merge keys by field name, from the Kubernetes OpenAPI. `ports` depends on
 * where it is: a container's ports merge by `containerPort`, a Service's by
 * `port` (see {@link mergeKeyOf}).
 */
export const MERGE_KEYS: Readonly<Record<string, string>> = Object.freeze({
  containers: "name",
  initContainers: "name",
  ephemeralContainers: "name",
  env: "name",
  volumes: "name",
  volumeMounts: "mountPath",
  volumeDevices: "devicePath",
  imagePullSecrets: "name",
  hostAliases: "ip",
  topologySpreadConstraints: "topologyKey",
  ownerReferences: "uid",
  conditions: "type",
});

export class StrategicMergeError extends Error {
  override name = "StrategicMergeError";
  readonly code = "ERR_STRATEGIC_MERGE";
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The merge key of the list at `path` (keys from the document root), if it has one. */
export function mergeKeyOf(path: readonly string[]): string | undefined {
  const field = path[path.length - 1];
  if (field === undefined) return undefined;
  if (field === "ports") {
    // spec.ports of a Service; containers[].ports (the parent is a list index).
    if (path.length === 2 && path[0] === "spec") return "port";
    const parent = path[path.length - 3];
    if (parent === "containers" || parent === "initContainers") return "containerPort";
    return undefined;
  }
  return MERGE_KEYS[field];
}

/** `patch` applied to `base`; neither is modified. */
export function strategicMerge(base: Json, patch: Json, path: readonly string[] = []): Json {
  if (isObject(patch)) {
    for (const key of Object.keys(patch)) {
      if (key.startsWith("$")) {
        throw new StrategicMergeError(
          `patch directive ${key} at ${path.join(".") || "<root>"} is not supported here`,
        );
      }
    }
    if (!isObject(base)) return stripNulls(patch);
    const out: JsonObject = { ...base };
    for (const [key, value] of Object.entries(patch)) {
      if (value === null) delete out[key];
      else out[key] = key in base ? strategicMerge(base[key]!, value, [...path, key]) : value;
    }
    return out;
  }
  if (Array.isArray(patch) && Array.isArray(base)) {
    const key = mergeKeyOf(path);
    if (key === undefined || !patch.every(isObject) || !base.every(isObject)) return patch;
    const out: Json[] = [...base];
    patch.forEach((item, index) => {
      const id = (item as JsonObject)[key];
      if (id === undefined) {
        throw new StrategicMergeError(
          `${path.join(".")}[${index}] has no merge key "${key}" in the patch`,
        );
      }
      const at = out.findIndex((existing) => (existing as JsonObject)[key] === id);
      if (at === -1) out.push(item);
      else out[at] = strategicMerge(out[at]!, item, [...path, String(at)]);
    });
    return out;
  }
  return patch;
}

function stripNulls(value: JsonObject): JsonObject {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null));
}
