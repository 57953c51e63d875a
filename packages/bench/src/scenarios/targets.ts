import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { freePorts } from "@calcbridge/testing";
import type { ClientMode } from "../client/connection.js";
import { Child, waitForHttp, type ProcessSet } from "../infra/proc.js";
import { BENCH_ROOM, BENCH_TENANT } from "../publisher/payload.js";

/*
 * The servers a scenario can run against, each started as child processes
 * on free loopback ports: our edge (its CLI), the except server that embeds
 * the edge's `Server`, the Socket.IO 4.8 baselines and the bare uWS relay.
 */

export type ServerKind = "edge" | "edge-except" | "sio-ws" | "sio-uws" | "uws-relay";

/** What a scenario needs to know of running servers. */
export interface RunningServers {
  kind: ServerKind;
  /** How the edge was started (its CLI). */
  launcher?: "cli";
  ports: number[];
  pids: number[];
  /** The processes, in port order (the recovery scenario drains one with SIGTERM). */
  children: Child[];
  stop(): Promise<void>;
}

export interface ServerEnv {
  procs: ProcessSet;
  natsUrl: string;
  redisUrl?: string;
  secret: string;
  /** Socket.IO baselines: which room the server joins each socket to. */
  rooms?: "job" | "user";
  /** except servers: the NATS subject of the trigger. */
  exceptSubject?: string;
  /** The relay's subject. */
  relaySubject?: string;
  /** The edge's HISTORY setting. @default "off" (the bare fan-out path) */
  edgeHistory?: "off" | "jetstream";
  /** More edge settings (DRAIN_SECONDS, RECOVERY_MAX_DISCONNECTION_SECONDS, ...). */
  edgeEnv?: Record<string, string>;
  /** Start Node.js servers with an inspector on a free loopback port (conns: GC before reading RSS). */
  inspect?: boolean;
}

/** NODE_OPTIONS that open an inspector on a free loopback port, when asked for. */
function inspectEnv(env: ServerEnv): Record<string, string> {
  if (env.inspect !== true) return {};
  return { NODE_OPTIONS: `${process.env["NODE_OPTIONS"] ?? ""} --inspect=127.0.0.1:0`.trim() };
}

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
/** The edge CLI's build output (the root `pnpm bench` builds it first). */
export const EDGE_CLI = fileURLToPath(new URL("../../../../edge/dist/src/cli.js", import.meta.url));

export function edgeLauncherInfo(): { launcher: string; note: string } {
  return { launcher: "its CLI (packages/edge/dist/src/cli.js)", note: "" };
}

const READY_TIMEOUT_MS = 20_000;

/** One edge node: the CLI, configured from the environment as an operator would. */
async function startEdgeNode(
  env: ServerEnv,
  port: number,
  nodeId: string,
): Promise<{ child: Child; launcher: "cli" }> {
  if (!existsSync(EDGE_CLI)) throw new Error(`${EDGE_CLI} not found: build first (pnpm run build)`);
  const child = env.procs.node(`edge ${nodeId}`, EDGE_CLI, [], {
    PORT: String(port),
    HOST: "127.0.0.1",
    NATS_URL: env.natsUrl,
    JWT_SECRET: env.secret,
    LOG_LEVEL: "warn",
    NODE_ENV: "production",
    NODE_ID: nodeId,
    HISTORY: env.edgeHistory ?? "off",
    ...env.edgeEnv,
    ...inspectEnv(env),
  });
  await waitForHttp(`http://127.0.0.1:${port}/readyz`, READY_TIMEOUT_MS, child);
  return { child, launcher: "cli" };
}

/** Starts `count` servers of `kind`, each its own process on its own port. */
export async function startServers(
  kind: ServerKind,
  count: number,
  env: ServerEnv,
): Promise<RunningServers> {
  const ports = await freePorts(count);
  const children: Child[] = [];
  let launcher: "cli" | undefined;
  const stop = async () => {
    await Promise.all(children.map((c) => c.stop()));
  };
  try {
    for (let i = 0; i < count; i++) {
      const port = ports[i]!;
      const base = {
        PORT: String(port),
        HOST: "127.0.0.1",
        JWT_SECRET: env.secret,
        NATS_URL: env.natsUrl,
        ...inspectEnv(env),
      };
      let child: Child;
      switch (kind) {
        case "edge": {
          const started = await startEdgeNode(env, port, `bench-edge-${i + 1}`);
          child = started.child;
          launcher = started.launcher;
          break;
        }
        case "edge-except":
          child = env.procs.node("except server (edge)", here("../servers/except-edge.js"), [], {
            ...base,
            EXCEPT_SUBJECT: env.exceptSubject,
          });
          await child.waitForLine(/READY (\d+)/, READY_TIMEOUT_MS);
          break;
        case "sio-ws":
        case "sio-uws":
          child = env.procs.node(
            `socket.io ${kind === "sio-ws" ? "ws" : "uws"} ${i + 1}`,
            here("../servers/socketio.js"),
            [],
            {
              ...base,
              ENGINE: kind === "sio-ws" ? "ws" : "uws",
              REDIS_URL: env.redisUrl,
              ROOMS: env.rooms ?? "job",
              ...(env.exceptSubject === undefined ? {} : { EXCEPT_SUBJECT: env.exceptSubject }),
            },
          );
          await child.waitForLine(/READY (\d+)/, READY_TIMEOUT_MS);
          break;
        case "uws-relay":
          child = env.procs.node("uws relay", here("../servers/uws-relay.js"), [], {
            ...base,
            SUBJECT: env.relaySubject ?? "bench.relay",
          });
          await child.waitForLine(/READY (\d+)/, READY_TIMEOUT_MS);
          break;
      }
      children.push(child);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    kind,
    ...(launcher === undefined ? {} : { launcher }),
    ports,
    pids: children.map((c) => c.pid),
    children,
    stop,
  };
}

/** How clients of a server kind connect in a given wire format. */
export interface ClientPlan {
  mode: ClientMode;
  path: string;
  rooms: string[];
  /** Token subject: a fixed user, or `u{i}` for one user per client. */
  user: string;
}

/**
 * Client plans:
 * - edge, Socket.IO format: Engine.IO over WebSocket, CONNECT with the token,
 *   then `subscribe` to the room;
 * - edge, raw format: `/ws/jobs/bench?token=` (or `/ws/notifications`) subscribes by itself;
 * - Socket.IO baselines and the except servers: CONNECT with the token; the
 *   server joins the room;
 * - relay and self-check: a bare WebSocket.
 */
export function clientPlan(
  kind: ServerKind | "self-check",
  format: "socketio" | "raw",
  perUser: boolean,
): ClientPlan {
  const user = perUser ? "u{i}" : "bench-user";
  const sioPath = "/socket.io/?EIO=4&transport=websocket";
  switch (kind) {
    case "edge":
      if (format === "raw") {
        return {
          mode: "raw",
          path: perUser
            ? "/ws/notifications?token={token}"
            : `/ws/jobs/${BENCH_ROOM.slice(4)}?token={token}`,
          rooms: [],
          user,
        };
      }
      return {
        mode: "socketio",
        path: sioPath,
        rooms: [perUser ? "notifications:{user}" : BENCH_ROOM],
        user,
      };
    case "edge-except":
    case "sio-ws":
    case "sio-uws":
      return { mode: "socketio", path: sioPath, rooms: [], user };
    case "uws-relay":
    case "self-check":
      return { mode: "plain", path: "/", rooms: [], user };
  }
}

export const TENANT = BENCH_TENANT;
