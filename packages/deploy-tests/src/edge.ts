/**
 * The edge's own code, loaded from its build (`@calcbridge/edge`'s dist):
 * the configuration table, a real node on port 0, its metrics. The package
 * exports only its public API, so the modules are loaded by file next to its
 * entry point; their types come from the edge project (a tsconfig reference).
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type * as ConfigModule from "../../edge/src/config.js";
import type * as LoggerModule from "../../edge/src/logger.js";
import type * as NodeModule from "../../edge/src/node.js";
import type { EdgeNode } from "../../edge/src/node.js";

export type { EdgeNode };
export type { EnvVarDoc } from "../../edge/src/config.js";

/** `file:` URL of the edge's `dist/src/index.js`, resolved as a dependent resolves it. */
function edgeEntry(): string {
  return import.meta.resolve("@calcbridge/edge");
}

/** The edge's built `dist/src` directory. */
export function edgeDistDir(): string {
  return dirname(fileURLToPath(edgeEntry()));
}

/** The edge package's root directory. */
export function edgePackageDir(): string {
  return join(edgeDistDir(), "..", "..");
}

async function edgeModule<T>(file: string): Promise<T> {
  return (await import(new URL(file, edgeEntry()).href)) as T;
}

export function loadEdgeConfig(): Promise<typeof ConfigModule> {
  return edgeModule("./config.js");
}

/** What a helper needs of a tap test: a place to register cleanup. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface RunningEdge {
  readonly node: EdgeNode;
  /** `http://127.0.0.1:<port>` of the main listener. */
  readonly url: string;
  /** `http://127.0.0.1:<port>` of the metrics listener (the main one without `metricsPort`). */
  readonly metricsUrl: string;
}

/**
 * A real edge node (native uWS, embedded bus) on 127.0.0.1, closed on the
 * test's teardown. `separateMetrics` serves /metrics on its own port, as the
 * manifests configure it (METRICS_PORT).
 */
export async function startEdge(
  t: Teardown,
  options: { separateMetrics?: boolean } = {},
): Promise<RunningEdge> {
  const { EdgeNode } = await edgeModule<typeof NodeModule>("./node.js");
  const { createLogger } = await edgeModule<typeof LoggerModule>("./logger.js");
  const node = await EdgeNode.create({
    auth: { secret: "deploy-tests-secret-".padEnd(48, "x") },
    nodeId: "deploy-tests",
    logger: createLogger({ level: "silent", nodeId: "deploy-tests" }),
    ...(options.separateMetrics ? { metricsPort: 0 } : {}),
  });
  t.teardown(() => node.close());
  const port = await node.listen(0, "127.0.0.1");
  const url = `http://127.0.0.1:${port}`;
  const metricsPort = options.separateMetrics ? node.metricsListenPort : port;
  if (metricsPort === undefined) throw new Error("the edge node did not report its metrics port");
  return { node, url, metricsUrl: `http://127.0.0.1:${metricsPort}` };
}

/** GET `url`; the status and body. */
export async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text() };
}
