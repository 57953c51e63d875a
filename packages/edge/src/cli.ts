#!/usr/bin/env node
import { hostname } from "node:os";
import type { Bus, History, SessionStore } from "@calcbridge/protocol";
import {
  JetStreamHistory,
  JetStreamSessionStore,
  NatsBus,
  natsBusOptionsFromConfig,
} from "@calcbridge/bridge-nats";
import { MemoryBus } from "./bus/memory-bus.js";
import { MemoryHistory } from "./history/memory-history.js";
import { generateDevSecret, signDevToken } from "./auth/dev.js";
import type { AuthOptions } from "./auth/verifier.js";
import { ConfigError, formatHelp, parseConfig, type EdgeConfig } from "./config.js";
import { createLogger, type Logger } from "./logger.js";
import { EdgeNode } from "./node.js";

/** `calcbridge-edge`: one edge node, configured from the environment. */
async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`calcbridge-edge: CalcBridge Realtime edge node\n\n${formatHelp()}\n`);
    return 0;
  }
  let config: Readonly<EdgeConfig>;
  try {
    config = parseConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`calcbridge-edge: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger({ level: config.logLevel, nodeId: config.nodeId });
  const { auth, devSecret } = authOf(config);
  const { bus, history, sessions } = await busOf(config);
  const node = await EdgeNode.create({
    auth,
    bus,
    nodeId: config.nodeId,
    io: {
      pingInterval: config.pingIntervalMs,
      pingTimeout: config.pingTimeoutMs,
      maxPayload: config.maxPayloadBytes,
      maxBackpressure: config.maxBackpressureBytes,
      maxRoomsPerSocket: config.maxRoomsPerSocket,
      allowUwsFallback: config.allowUwsFallback,
      cors: config.corsOrigin === undefined ? {} : { origin: config.corsOrigin },
    },
    raw: {
      maxBackpressure: config.maxBackpressureBytes,
      // A raw client silent past one Engine.IO ping cycle is closed with 4008.
      heartbeatTimeoutMs: config.pingIntervalMs + config.pingTimeoutMs,
    },
    logger: log,
    history: history ?? false,
    ...(sessions !== undefined ? { sessions } : {}),
    historyLimits: {
      maxAgeMs: config.history.maxAgeMs,
      maxPerRoom: config.history.maxPerRoom,
      maxBytes: config.history.maxBytes,
    },
    maxDisconnectionMs: config.recoveryMaxDisconnectionMs,
    ...(config.metricsPort !== undefined ? { metricsPort: config.metricsPort } : {}),
    // On in dev mode; elsewhere CONSOLE_ENABLED turns it on (with CONSOLE_TOKEN in production).
    consoleEnabled: config.consoleEnabled || config.devMode,
    ...(config.consoleToken !== undefined ? { consoleToken: config.consoleToken } : {}),
  });
  const port = await node.listen(config.port, config.host);
  log.info({ port, host: config.host, bus: bus.kind }, "edge node listening");
  if (config.consoleEnabled && !config.devMode && config.consoleToken === undefined)
    log.warn(
      "the console's overview API is open to anyone who reaches this port: set CONSOLE_TOKEN",
    );
  if (devSecret !== undefined) await printDevHelp(log, devSecret, port);
  installSignals(node, config, log);
  return -1;
}

/** The bus, and the history and session store that go with it. */
async function busOf(config: Readonly<EdgeConfig>): Promise<{
  bus: Bus;
  history: History | undefined;
  sessions: SessionStore | undefined;
}> {
  const h = config.history;
  if (config.nats === undefined) {
    const limits = { maxAgeMs: h.maxAgeMs, maxPerRoom: h.maxPerRoom, maxBytes: h.maxBytes };
    return {
      bus: new MemoryBus(),
      history: h.mode === "memory" ? new MemoryHistory(limits) : undefined,
      sessions: undefined,
    };
  }
  const bus = await NatsBus.start({
    ...natsBusOptionsFromConfig(config.nats),
    name: config.nodeId,
  });
  if (h.mode !== "jetstream") return { bus, history: undefined, sessions: undefined };
  // A server without JetStream cannot keep history: say which setting to change.
  const explain = (err: unknown): never => {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(
      `HISTORY=jetstream but NATS refused the history streams (${reason}); ` +
        "run nats-server with JetStream (-js) or set HISTORY=off",
    );
  };
  const history = await JetStreamHistory.start(bus, {
    stream: h.stream,
    maxAgeMs: h.maxAgeMs,
    maxPerRoom: h.maxPerRoom,
    maxBytes: h.maxBytes,
    replicas: h.replicas,
    manage: h.manageStream,
  }).catch(explain);
  const sessions = await JetStreamSessionStore.start(bus, {
    ttlMs: config.recoveryMaxDisconnectionMs,
    replicas: h.replicas,
  }).catch(explain);
  return { bus, history, sessions };
}

function authOf(config: Readonly<EdgeConfig>): { auth: AuthOptions; devSecret?: string } {
  const base = {
    clockToleranceSec: config.auth.clockToleranceSec,
    ...(config.auth.issuer === undefined ? {} : { issuer: config.auth.issuer }),
    ...(config.auth.audience === undefined ? {} : { audience: config.auth.audience }),
  };
  if (config.devMode) {
    const secret = generateDevSecret();
    return { auth: { ...base, secret }, devSecret: secret };
  }
  if (config.auth.secret !== undefined) return { auth: { ...base, secret: config.auth.secret } };
  if (config.auth.publicKey !== undefined)
    return { auth: { ...base, publicKey: config.auth.publicKey } };
  return { auth: { ...base, jwksUrl: config.auth.jwksUrl! } };
}

/** Dev mode: a generated secret, a ready token and commands to try. Never in production. */
async function printDevHelp(log: Logger, secret: string, port: number): Promise<void> {
  const token = await signDevToken(secret, {
    sub: "dev-user",
    tenant_id: "dev-tenant",
    scope: "rt:publish",
  });
  log.warn("dev mode: no JWT key configured; a secret was generated for this process only");
  const base = `http://localhost:${port}`;
  process.stdout.write(
    [
      "",
      "CalcBridge Realtime is running in dev mode.",
      `Token (sub=dev-user, tenant_id=dev-tenant, scope=rt:publish, valid 12 h):`,
      `  ${token}`,
      "",
      "Open the web console (explorer and cluster overview), signed in with that token:",
      `  ${base}/console/#token=${token}`,
      "",
      "Watch a job's events (raw WebSocket):",
      `  npx wscat -c "ws://localhost:${port}/ws/jobs/job_1?token=${token}"`,
      "Publish one:",
      `  curl -X POST ${base}/v1/publish -H "Authorization: Bearer ${token}" -H "Content-Type: application/json" \\`,
      `    -d '{"tenant_id":"dev-tenant","room":"job:job_1","type":"job.progress","payload":{"job_id":"job_1","progress":42}}'`,
      "",
    ].join("\n") + "\n",
  );
}

function installSignals(node: EdgeNode, config: Readonly<EdgeConfig>, log: Logger): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, drainSeconds: config.drainSeconds }, "draining");
    node.drain(config.drainSeconds * 1000).then(
      () => {
        log.info("drained; exiting");
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, "drain failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(
      `calcbridge-edge: failed to start on ${hostname()}: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exit(1);
  },
);
