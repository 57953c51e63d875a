import type { ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { delimiter, join } from "node:path";
import { routeCount } from "./monitor.js";
import { freePorts } from "./ports.js";
import { processes as defaultTracker, type ProcessTracker, type Teardown } from "./processes.js";
import { delay } from "./wait.js";

/** Bound on the wait for a server to accept connections. */
export const DEFAULT_NATS_START_TIMEOUT_MS = 10_000;
/** Bound on the wait for a cluster's full mesh of routes. */
export const DEFAULT_NATS_ROUTES_TIMEOUT_MS = 10_000;

export interface StartNatsOptions {
  /** Enable JetStream (`-js`) with a fresh temporary store dir (`-sd`). @default false */
  jetstream?: boolean;
  /** Extra nats-server arguments, appended last. */
  args?: string[];
  /** Server name (`-n`). @default "calcbridge-test-<port>" */
  name?: string;
  /** Stop the server on this test's teardown. */
  t?: Teardown;
  /** @default DEFAULT_NATS_START_TIMEOUT_MS */
  startTimeout?: number;
  /** @default the shared `processes` tracker */
  tracker?: ProcessTracker;
}

export interface NatsServerHandle {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** `http://127.0.0.1:<monitor port>` */
  readonly monitorUrl: string;
  readonly monitorPort: number;
  /** The current process's PID (changes on restart). */
  readonly pid: number;
  readonly name: string;
  /** The JetStream store dir, kept across restarts. */
  readonly storeDir: string | undefined;
  /** `nats://127.0.0.1:<cluster port>` when part of a cluster. */
  readonly clusterUrl: string | undefined;
  readonly running: boolean;
  /** The server's log output so far (nats-server logs to stderr). */
  output(): string;
  /** SIGTERM by PID, wait for exit, SIGKILL after 5 s. */
  stop(): Promise<void>;
  /** SIGKILL by PID (a crash); the store dir stays for `restart`. */
  kill(): Promise<void>;
  /** Stop if running, then start again on the same ports and store dir. */
  restart(): Promise<void>;
}

export interface NatsClusterHandle {
  readonly servers: NatsServerHandle[];
  /** Client URLs, one per server, in order. */
  readonly urls: string[];
  /** Resolves once every running server has routes to every other running one. */
  waitForRoutes(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The nats-server binary: `$NATS_SERVER_BIN`, else the first on `PATH`, else
 * `/usr/sbin/nats-server` or `/usr/local/bin/nats-server`.
 */
export function findNatsServer(): string {
  const fromEnv = process.env["NATS_SERVER_BIN"];
  const candidates = [
    ...(fromEnv ? [fromEnv] : []),
    ...(process.env["PATH"] ?? "")
      .split(delimiter)
      .filter(Boolean)
      .map((dir) => join(dir, "nats-server")),
    "/usr/sbin/nats-server",
    "/usr/local/bin/nats-server",
  ];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new Error(
    "nats-server not found on PATH, /usr/sbin or /usr/local/bin; install it or set NATS_SERVER_BIN",
  );
}

interface Ports {
  client: number;
  monitor: number;
  cluster?: number;
}

/** Starts a real nats-server on 127.0.0.1 and waits until it accepts connections. */
export async function startNats(options: StartNatsOptions = {}): Promise<NatsServerHandle> {
  const [client, monitor] = await freePorts(2);
  return launchServer({ client: client!, monitor: monitor! }, [], options);
}

/**
 * Starts `n` nats-servers routed to each other as one cluster and waits until
 * each has a route to every other.
 */
export async function startNatsCluster(
  n = 3,
  options: StartNatsOptions & { clusterName?: string; routesTimeout?: number } = {},
): Promise<NatsClusterHandle> {
  if (!Number.isInteger(n) || n < 2) throw new Error(`startNatsCluster: n must be >= 2 (got ${n})`);
  const ports = await freePorts(3 * n);
  const clusterName = options.clusterName ?? `calcbridge-test-${process.pid}-${ports[0]}`;
  const layout: Ports[] = Array.from({ length: n }, (_, i) => ({
    client: ports[3 * i]!,
    monitor: ports[3 * i + 1]!,
    cluster: ports[3 * i + 2]!,
  }));
  const started = await Promise.allSettled(
    layout.map((own, i) => {
      const routes = layout
        .filter((_, j) => j !== i)
        .map((peer) => `nats://127.0.0.1:${peer.cluster}`)
        .join(",");
      const clusterArgs = ["--cluster_name", clusterName, "--routes", routes];
      const { t: _t, name: _name, ...rest } = options;
      return launchServer(own, clusterArgs, { ...rest, name: `${clusterName}-${i}` });
    }),
  );
  const servers = started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((server) => server.stop()));
  };
  const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    await stop();
    throw failed.reason;
  }
  const cluster: NatsClusterHandle = {
    servers,
    urls: servers.map((server) => server.url),
    stop,
    waitForRoutes: (timeoutMs = options.routesTimeout ?? DEFAULT_NATS_ROUTES_TIMEOUT_MS) =>
      waitForRoutes(servers, timeoutMs),
  };
  options.t?.teardown(stop);
  try {
    await cluster.waitForRoutes();
  } catch (err) {
    await stop();
    throw err;
  }
  return cluster;
}

async function waitForRoutes(servers: NatsServerHandle[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let counts: number[] = [];
  for (;;) {
    const running = servers.filter((server) => server.running);
    counts = await Promise.all(running.map((s) => routeCount(s.monitorUrl).catch(() => -1)));
    if (counts.every((count) => count === running.length - 1)) return;
    if (Date.now() >= deadline) break;
    await delay(50);
  }
  throw new Error(
    `NATS cluster routes not established within ${timeoutMs} ms: routes per server ${JSON.stringify(counts)}, ` +
      `want ${servers.filter((s) => s.running).length - 1} each`,
  );
}

const MAX_OUTPUT_CHARS = 64 * 1024;

async function launchServer(
  ports: Ports,
  extraArgs: string[],
  options: StartNatsOptions,
): Promise<NatsServerHandle> {
  const bin = findNatsServer();
  const tracker = options.tracker ?? defaultTracker;
  const startTimeout = options.startTimeout ?? DEFAULT_NATS_START_TIMEOUT_MS;
  const name = options.name ?? `calcbridge-test-${ports.client}`;
  const storeDir = options.jetstream ? tracker.tempDir("calcbridge-nats-js-") : undefined;
  const args = [
    "-a",
    "127.0.0.1",
    "-p",
    String(ports.client),
    "-m",
    String(ports.monitor),
    "-n",
    name,
    ...(storeDir ? ["-js", "-sd", storeDir] : []),
    ...(ports.cluster ? ["--cluster", `nats://127.0.0.1:${ports.cluster}`] : []),
    ...extraArgs,
    ...(options.args ?? []),
  ];

  let child: ChildProcess | undefined;
  let output = "";

  const start = async (): Promise<void> => {
    output = "";
    const proc = tracker.spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    child = proc;
    const append = (chunk: Buffer): void => {
      output += chunk.toString("utf8");
      if (output.length > MAX_OUTPUT_CHARS) output = output.slice(-MAX_OUTPUT_CHARS);
    };
    proc.stdout?.on("data", append);
    proc.stderr?.on("data", append);
    try {
      await waitUntilReady(proc, ports, startTimeout);
    } catch (err) {
      await tracker.kill(proc);
      const detail = output.trim() ? `\n--- nats-server output ---\n${output.trim()}` : "";
      throw new Error(`${(err as Error).message} (${bin} ${args.join(" ")})${detail}`, {
        cause: err,
      });
    }
  };

  const isRunning = (): boolean =>
    child !== undefined && child.exitCode === null && child.signalCode === null;

  const handle: NatsServerHandle = {
    url: `nats://127.0.0.1:${ports.client}`,
    port: ports.client,
    monitorUrl: `http://127.0.0.1:${ports.monitor}`,
    monitorPort: ports.monitor,
    get pid() {
      return child?.pid ?? -1;
    },
    name,
    storeDir,
    clusterUrl: ports.cluster ? `nats://127.0.0.1:${ports.cluster}` : undefined,
    get running() {
      return isRunning();
    },
    output: () => output,
    stop: async () => {
      if (child) await tracker.terminate(child);
    },
    kill: async () => {
      if (child) await tracker.kill(child);
    },
    restart: async () => {
      if (child) await tracker.terminate(child);
      await start();
    },
  };

  await start();
  options.t?.teardown(() => handle.stop());
  return handle;
}

/**
 * Ready means: the monitor's `/healthz` answers 200 and the client port sends
 * its `INFO` line. Fails early if the process exits.
 */
async function waitUntilReady(child: ChildProcess, ports: Ports, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitedWith: string | undefined;
  const onExit = (code: number | null, sig: NodeJS.Signals | null): void => {
    exitedWith = sig ? `signal ${sig}` : `code ${code}`;
  };
  child.once("exit", onExit);
  try {
    for (;;) {
      if (exitedWith !== undefined) {
        throw new Error(`nats-server exited with ${exitedWith} before accepting connections`);
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      if (
        (await healthy(ports.monitor, Math.min(remaining, 500))) &&
        (await sendsInfo(ports.client, Math.min(remaining, 500)))
      ) {
        return;
      }
      await delay(25);
    }
    // An exit during the last probe reads better than a timeout.
    if (exitedWith !== undefined) {
      throw new Error(`nats-server exited with ${exitedWith} before accepting connections`);
    }
    throw new Error(
      `nats-server did not accept connections on 127.0.0.1:${ports.client} within ${timeoutMs} ms`,
    );
  } finally {
    child.off("exit", onExit);
  }
}

async function healthy(monitorPort: number, timeoutMs: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

function sendsInfo(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    let settled = false;
    const finish = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once("data", (chunk) => finish(chunk.toString("latin1").startsWith("INFO ")));
    socket.once("error", () => finish(false));
    socket.once("close", () => finish(false));
  });
}
