export { fromRoot, packageDir, repoRoot } from "./paths.js";
export {
  KustomizeError,
  SUPPORTED_FIELDS,
  containersOf,
  idOf,
  kustomizationDirs,
  parseImage,
  readYaml,
  readYamlDocuments,
  renderKustomization,
} from "./kustomize.js";
export {
  MERGE_KEYS,
  StrategicMergeError,
  isObject,
  mergeKeyOf,
  strategicMerge,
} from "./strategic-merge.js";
export { CRD_MODEL_PACKAGES, modelModule, nameOf, schemaErrors, typeErrors } from "./k8s-schema.js";
export {
  PromQLError,
  SYNTHETIC_SERIES,
  exposedFamilies,
  metricNames,
  seriesNames,
} from "./promql.js";
export {
  envOf,
  execForm,
  finalStage,
  instructionsOf,
  parseDockerfile,
  readDockerfile,
} from "./dockerfile.js";
export { edgeDistDir, edgePackageDir, get, loadEdgeConfig, startEdge } from "./edge.js";
export { manifests, renderAll, type Manifests, type Rendered } from "./manifests.js";
export { httpProbes, preStopSleepSeconds, resolvePort, seconds, selects } from "./workload.js";

export type { K8sObject } from "./kustomize.js";
export type { Json, JsonObject } from "./strategic-merge.js";
export type { Dockerfile, Instruction, Stage } from "./dockerfile.js";
export type { EdgeNode, EnvVarDoc, RunningEdge, Teardown } from "./edge.js";
