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
  setup: OpenResult | undefined;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  /** (after - before) / ready connections, after the settle period. */
  perConnectionBytes: number;
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

export function seriesId(
  scenario: ScenarioName,
  server: string,
  format: Format,
  nodes: number,
  variant?: string,
): string {
  return `${scenario}/${server}${variant === undefined ? "" : `+${variant}`}/${format}/${nodes}`;
}
