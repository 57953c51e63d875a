/**
 * Validation of Kubernetes objects against the API schemas of
 * `kubernetes-models` (built-in kinds) and `@kubernetes-models/*` (custom
 * resources such as the Prometheus Operator's), in two passes:
 *
 * 1. `validate()`: the JSON Schema of the Kubernetes OpenAPI (types, required
 *    fields, enums, formats).
 * 2. Unknown fields: those schemas allow any extra property, as the OpenAPI
 *    does, but the API server (and `kubectl apply --validate=strict`) rejects
 *    them. Each object is type-checked as an object literal against the
 *    package's TypeScript interface, so a misspelled field is an excess
 *    property error.
 */
import ts from "typescript";
import { join } from "node:path";
import type { K8sObject } from "./kustomize.js";
import { packageDir } from "./paths.js";

/** Packages with models of custom resources, by API group. */
export const CRD_MODEL_PACKAGES: Readonly<Record<string, string>> = Object.freeze({
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
});

/** The module of the model of `apiVersion`/`kind`, e.g. `kubernetes-models/apps/v1/Deployment`. */
export function modelModule(apiVersion: string, kind: string): string {
  const slash = apiVersion.indexOf("/");
  const group = slash === -1 ? "" : apiVersion.slice(0, slash);
  const pkg = CRD_MODEL_PACKAGES[group];
  if (pkg !== undefined) return `${pkg}/${apiVersion}/${kind}`;
  // Built-in groups: the core group, dotless ones (apps, policy, ...) and *.k8s.io.
  if (group === "" || !group.includes(".") || group.endsWith(".k8s.io")) {
    return `kubernetes-models/${apiVersion}/${kind}`;
  }
  throw new Error(`no model package for API group ${group} (add it to CRD_MODEL_PACKAGES)`);
}

interface ModelClass {
  new (data: unknown): { validate(): void };
}

/** The label of an object in messages: `Deployment/calcbridge-edge`. */
export function nameOf(o: K8sObject): string {
  return `${o.kind}/${o.metadata.name}`;
}

/**
 * Validates `o` with its model's JSON Schema; resolves to the schema errors
 * (none: valid). Rejects when no model exists for the kind.
 */
export async function schemaErrors(o: K8sObject): Promise<string[]> {
  const mod = (await import(modelModule(o.apiVersion, o.kind))) as Record<string, unknown>;
  const Model = mod[o.kind] as ModelClass | undefined;
  if (typeof Model !== "function")
    throw new Error(`${modelModule(o.apiVersion, o.kind)} exports no ${o.kind}`);
  try {
    new Model(o).validate();
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

/**
 * Type-checks every object against its model's interface; returns, per
 * object, the compiler's messages (unknown fields, wrong types). One program
 * for all objects: the model declarations are loaded once.
 */
export function typeErrors(objects: readonly K8sObject[]): Map<K8sObject, string[]> {
  const file = join(packageDir(), "__manifests__.ts");
  const lines: string[] = objects.map(
    (o, i) =>
      `import type { I${o.kind} as T${i} } from ${JSON.stringify(modelModule(o.apiVersion, o.kind))};`,
  );
  // First line (0-based) of each object's literal.
  const starts: number[] = [];
  for (const [i, o] of objects.entries()) {
    starts.push(lines.length);
    lines.push(...`export const o${i}: T${i} = ${JSON.stringify(o, null, 2)};`.split("\n"));
  }
  const source = lines.join("\n");
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, languageVersion, ...rest) =>
    name === file
      ? ts.createSourceFile(name, source, languageVersion, true)
      : getSourceFile(name, languageVersion, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (name === file ? source : readFile(name));
  const program = ts.createProgram({ rootNames: [file], options, host });

  const out = new Map<K8sObject, string[]>(objects.map((o) => [o, []]));
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const text = ts.flattenDiagnosticMessageText(d.messageText, "\n");
    if (d.file?.fileName !== file || d.start === undefined) {
      throw new Error(`type check of the manifests failed outside them: ${text}`);
    }
    const line = d.file.getLineAndCharacterOfPosition(d.start).line;
    let index = starts.length - 1;
    while (index >= 0 && starts[index]! > line) index--;
    if (index < 0) throw new Error(`type check of the manifests: ${text}`);
    const path = lineagePath(source, d.start);
    out.get(objects[index]!)!.push(`${path ? `${path}: ` : ""}${text}`);
  }
  return out;
}

/** The JSON path (keys only) of the position in a generated literal, for messages. */
function lineagePath(source: string, position: number): string {
  const own = /^"([^"]+)":/.exec(source.slice(position));
  const keys: string[] = own ? [own[1]!] : [];
  const lines = source.slice(0, position).split("\n");
  let indent = lines[lines.length - 1]!.match(/^ */)![0].length;
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (line.startsWith("export const")) break;
    const depth = line.match(/^ */)![0].length;
    const key = line.match(/^ *"([^"]+)":/);
    if (key && depth < indent) {
      keys.unshift(key[1]!);
      indent = depth;
    }
  }
  return keys.join(".");
}
