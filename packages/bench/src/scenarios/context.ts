import type { NatsServerHandle } from "@calcbridge/testing";
import type { OpenResult } from "../client/pool.js";
import type { MachineInfo } from "../infra/machine.js";
import type { ProcessSet } from "../infra/proc.js";
import type { RedisHandle } from "../infra/redis.js";
import type { BenchOptions, ScenarioName } from "../options.js";
import type { Progress } from "../report/progress.js";
import type { SeriesResult } from "./stepper.js";
import type { ServerKind } from "./targets.js";

/** What every scenario runs with. */
export interface BenchContext {
  options: Readonly<BenchOptions>;
  procs: ProcessSet;
  progress: Progress;
  nats: NatsServerHandle;
  /** Started when baselines run. */
  redis: RedisHandle | undefined;
  /** HS256 secret shared by the servers and the generator. */
  secret: string;
  machine: MachineInfo;
}

export type Format = "socketio" | "raw" | "plain";

/** One server under one load, stepped up: a row group of the report. */
export interface SeriesReport extends SeriesResult {
  /** `<scenario>/<server>/<format>/<nodes>`, e.g. `fanout/edge/socketio/1`. */
  id: string;
  scenario: ScenarioName;
  server: ServerKind | "self-check";
  format: Format;
  nodes: number;
  setup: OpenResult | undefined;
  /** For the edge: how it was started (its CLI). */
  launcher?: string;
  /** Set when the series could not run; its figures are then empty. */
  error?: string;
}

/** Idle connections: memory and setup rate. */
export interface ConnsReport {
  id: string;
  server: ServerKind;
  clients: number;
  /** Generator worker processes that opened them. */
  workers: number;
  setup: OpenResult | undefined;
  rssBeforeBytes: number;
  /** After the settle period and a full GC (as `rssBeforeBytes`). */
  rssAfterBytes: number;
  /** After the settle period, before that GC. */
  rssAfterNoGcBytes: number;
  /** (after - before) / open connections, both after a full GC. */
  perConnectionBytes: number;
  /** The same with the RSS read before the last GC (garbage included). */
  perConnectionNoGcBytes: number;
  settleMs: number;
  /** Server CPU per connection set up, µs (the JWT check, handshake, bookkeeping). */
  serverCpuUsPerConnection: number;
  /** Generator CPU per connection set up, µs. */
  generatorCpuUsPerConnection: number;
  /** The machine's busy cores during setup. */
  machineCpuDuringSetup: number;
  launcher?: string;
  error?: string;
}

/** A distribution in ms (nearest rank over every sample, no histogram). */
export interface Distribution {
  samples: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/**
 * A reconnect storm: clients of node A, drained with SIGTERM, come back to
 * node B with Socket.IO connection state recovery (HISTORY=jetstream).
 */
export interface RecoveryReport {
  /** `recovery/edge/socketio/2`. */
  id: string;
  clients: number;
  /** Events/s published to the clients' room throughout. */
  rate: number;
  /** DRAIN_SECONDS of node A. */
  drainSeconds: number;
  /** Per client: bound on getting back on node B (then counted as failed), s. */
  timeoutSeconds: number;
  /** Clients connected and subscribed on node A. */
  setup: OpenResult | undefined;
  /** Events the publisher sent; the highest offset any client saw. */
  published: number;
  finalOffset: number;
  /** Clients node A closed, and their close codes. */
  closed: number;
  closeCodes: Record<string, number>;
  /** From SIGTERM: the first and the last close a client saw, ms. */
  firstCloseMs: number;
  lastCloseMs: number;
  /** From SIGTERM to every client back on B or failed (polled every 50 ms), ms. */
  stormMs: number;
  /** From SIGTERM to the last client back on B with its replay, ms. */
  lastBackMs: number;
  /** Clients with a CONNECT reply from B; of them, same pid (recovered) or a new session. */
  back: number;
  recovered: number;
  notRecovered: number;
  /** Recovered by pid with another sid (socket.io keeps the id): should be 0. */
  recoveredOtherSid: number;
  /** Not back on B (refused, timed out), with the first reasons. */
  failed: number;
  failures: string[];
  /** A's close to B's CONNECT reply. */
  reconnectMs: Distribution;
  /** A's close to the last replayed event received (recovered clients). */
  catchUpMs: Distribution;
  /**
   * Offsets never received, per kind of client: recovered (must be 0), not
   * recovered (what recovery would have replayed), and on A before the drain.
   */
  missedRecovered: number;
  /** Recovered clients with any offset missed. */
  recoveredClientsMissing: number;
  missedNotRecovered: number;
  missedOnA: number;
  /** Offsets received twice (all clients). */
  duplicates: number;
  /** Events from the history after a recovered CONNECT (published before it). */
  replayed: number;
  replayedMaxPerClient: number;
  /** Replayed events per second over the storm (first close to the last replayed event). */
  replayPerSecond: number;
  /** CPU in cores (1 = one core): node B over the storm, and after it with every client on B. */
  nodeBCpuStorm: number;
  nodeBCpuAfter: number;
  /** Node B's CPU over the storm per client A closed, µs (includes its live fan-out meanwhile). */
  nodeBCpuUsPerReconnect: number;
  nodeBRssMiB: number;
  /**
   * Over the storm: node A (until it exited), NATS (JetStream), the clients'
   * workers, the publisher, the machine's busy cores, and what of them no
   * process of the scenario accounts for (other load on a shared machine).
   */
  nodeACpu: number;
  busCpu: number;
  generatorCpu: number;
  publisherCpu: number;
  machineCpu: number;
  otherCpu: number;
  error?: string;
}

export function seriesId(
  scenario: ScenarioName,
  server: string,
  format: Format,
  nodes: number,
  variant?: string,
): string {
  return `${scenario}/${server}${variant === undefined ? "" : `+${variant}`}/${format}/${nodes}`;
}
