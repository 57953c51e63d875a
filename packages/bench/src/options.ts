import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { z } from "zod";
import { DEFAULT_THRESHOLDS, type Thresholds } from "./report/thresholds.js";

export const SCENARIOS = [
  "self-check",
  "fanout",
  "cluster",
  "rooms",
  "conns",
  "except",
  "recovery",
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** Everything a run is configured by. */
export interface BenchOptions {
  /** A smoke run of seconds: few clients, two steps, no baselines, no thresholds. @default false */
  quick: boolean;
  /** Scenarios to run, in this order. @default all of SCENARIOS */
  scenarios: ScenarioName[];
  /** Run the Socket.IO baselines and the bare uWS relay. @default true (false with --quick) */
  baselines: boolean;
  /** Load-generator worker processes. @default 2 */
  workers: number;
  /** Clients of fanout, cluster and except. @default 2000 (200 with --quick) */
  clients: number;
  /** Clients (= users, = rooms) of the rooms scenario. @default 10000 (200 with --quick) */
  roomsClients: number;
  /** Idle connections of the conns scenario. @default 10000 (200 with --quick) */
  connsClients: number;
  /** Clients of the recovery scenario (reconnect storm after a drain). @default 1000 (100 with --quick) */
  recoveryClients: number;
  /** Events/s published to their room throughout the recovery scenario. @default 200 */
  recoveryRate: number;
  /** DRAIN_SECONDS of the drained node in the recovery scenario. @default 1 */
  recoveryDrainSeconds: number;
  /** Per client of the recovery scenario: bound on getting back on the second node, s. @default 30 */
  recoveryTimeoutSeconds: number;
  /** Nodes of the cluster scenario. @default 3 */
  clusterNodes: number;
  /** Offered events/s of fanout, cluster, except and self-check, in order. @default DEFAULT_RATES */
  rates: number[];
  /** Offered events/s of the rooms scenario. @default DEFAULT_ROOM_RATES */
  roomRates: number[];
  /** Per step: warm-up, measured window, bound on the drain, in ms. @default 1000, 4000, 5000 */
  warmupMs: number;
  windowMs: number;
  drainMs: number;
  /** Size of a Socket.IO event frame, bytes. @default 200 */
  frameBytes: number;
  /** Time one event in this many for latency. @default 64 */
  sampleEvery: number;
  /**
   * Handshakes in flight, all workers together. Kept well under a server's
   * listen backlog (uWS: 512; Node.js: 511): once the accept queue is full,
   * the kernel drops SYNs and the client waits a second to retry, which
   * measures the backlog, not the server. @default 256
   */
  concurrency: number;
  /** Idle time before the conns scenario reads RSS, ms. @default 5000 */
  settleMs: number;
  /** Assert these (null: report figures only). @default DEFAULT_THRESHOLDS (null with --quick) */
  thresholds: Thresholds | null;
  /** Where the Markdown and JSON go. @default packages/bench/results */
  outDir: string;
}

/**
 * Steps of about 15% where 2-core machines top out (1-3M deliveries/s with
 * 2,000 clients): a server's max sustained is its last passing step, so a
 * coarse ladder there (1500 -> 2000 is a third) decides the ratios between
 * servers more than the servers do.
 */
export const DEFAULT_RATES = [
  25, 50, 100, 250, 500, 750, 1000, 1250, 1500, 1750, 2000, 2250, 2500, 3000, 3500, 4000, 5000,
];
/** As DEFAULT_RATES: finer where 2-core machines top out (20-50k events/s to single users). */
export const DEFAULT_ROOM_RATES = [
  1000, 2500, 5000, 10000, 20000, 25000, 30000, 35000, 40000, 50000, 60000,
];

const rateList = z
  .string()
  .transform((s) => s.split(",").map((x) => Number(x.trim())))
  .pipe(z.array(z.number().positive()).min(1));

const schema = z.object({
  quick: z.boolean(),
  scenarios: z.array(z.enum(SCENARIOS)).min(1),
  baselines: z.boolean(),
  workers: z.number().int().min(1).max(16),
  clients: z.number().int().min(2).max(20000),
  roomsClients: z.number().int().min(1).max(20000),
  connsClients: z.number().int().min(1).max(20000),
  recoveryClients: z.number().int().min(1).max(20000),
  recoveryRate: z.number().positive().max(10_000),
  recoveryDrainSeconds: z.number().min(0).max(60),
  recoveryTimeoutSeconds: z.number().min(1).max(600),
  clusterNodes: z.number().int().min(2).max(8),
  rates: z.array(z.number().positive()).min(1),
  roomRates: z.array(z.number().positive()).min(1),
  warmupMs: z.number().int().min(0).max(60_000),
  windowMs: z.number().int().min(500).max(600_000),
  drainMs: z.number().int().min(0).max(60_000),
  frameBytes: z.number().int().min(150).max(16_384),
  sampleEvery: z.number().int().min(1).max(100_000),
  concurrency: z.number().int().min(1).max(10_000),
  settleMs: z.number().int().min(0).max(120_000),
  thresholds: z.any(),
  outDir: z.string().min(1),
});

export class OptionsError extends Error {
  override name = "OptionsError";
  readonly code = "ERR_BENCH_OPTIONS";
}

export const HELP = `pnpm bench [options]   (node packages/bench/dist/src/cli.js)

  --quick               smoke run: 200 clients, 2 short steps, no baselines, no thresholds
  --scenario <name>     run one scenario (repeatable or comma separated): ${SCENARIOS.join(", ")}
  --self-check          only measure the load generator's own ceiling
  --no-baselines        skip Socket.IO and the bare uWS relay
  --no-thresholds       report figures without asserting
  --thresholds <file>   JSON overriding threshold values (see report/thresholds.ts)
  --workers <n>         generator worker processes (default 2)
  --concurrency <n>     handshakes in flight, all workers together (default 256)
  --clients <n>         clients of fanout, cluster, except (default 2000)
  --rooms-clients <n>   clients of rooms (default 10000)
  --conns-clients <n>   connections of conns (default 10000)
  --recovery-clients <n>  clients of recovery (default 1000)
  --recovery-rate <n>   events/s during recovery (default 200)
  --recovery-drain <s>  DRAIN_SECONDS of the drained node in recovery (default 1)
  --recovery-timeout <s>  per client, bound on getting back on the other node (default 30)
  --rates <a,b,...>     offered events/s steps (default ${DEFAULT_RATES.join(",")})
  --room-rates <a,b>    rooms steps (default ${DEFAULT_ROOM_RATES.join(",")})
  --window <ms>         measured window per step (default 4000)
  --warmup <ms>         warm-up per step (default 1000)
  --out <dir>           results directory (default packages/bench/results)
`;

/** Parses the command line into frozen, validated options. */
export function parseOptions(
  argv: readonly string[],
  defaultOutDir: string,
): Readonly<BenchOptions> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        quick: { type: "boolean", default: false },
        scenario: { type: "string", multiple: true },
        "self-check": { type: "boolean", default: false },
        "no-baselines": { type: "boolean", default: false },
        "no-thresholds": { type: "boolean", default: false },
        thresholds: { type: "string" },
        workers: { type: "string" },
        concurrency: { type: "string" },
        clients: { type: "string" },
        "rooms-clients": { type: "string" },
        "conns-clients": { type: "string" },
        "recovery-clients": { type: "string" },
        "recovery-rate": { type: "string" },
        "recovery-drain": { type: "string" },
        "recovery-timeout": { type: "string" },
        rates: { type: "string" },
        "room-rates": { type: "string" },
        window: { type: "string" },
        warmup: { type: "string" },
        drain: { type: "string" },
        out: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new OptionsError(err instanceof Error ? err.message : String(err));
  }
  const quick = values.quick === true;
  const num = (name: string, v: string | undefined, fallback: number): number => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n))
      throw new OptionsError(`--${name} must be a number (got ${JSON.stringify(v)})`);
    return n;
  };
  const list = (name: string, v: string | undefined, fallback: number[]): number[] => {
    if (v === undefined) return fallback;
    const r = rateList.safeParse(v);
    if (!r.success)
      throw new OptionsError(`--${name} must be a comma-separated list of positive numbers`);
    return r.data;
  };
  let scenarios: string[] = values["self-check"] ? ["self-check"] : [...SCENARIOS];
  if (values.scenario !== undefined)
    scenarios = values.scenario.flatMap((s) => s.split(",")).map((s) => s.trim());
  let thresholds: Thresholds | null =
    quick || values["no-thresholds"] ? null : { ...DEFAULT_THRESHOLDS };
  if (values.thresholds !== undefined && thresholds !== null) {
    try {
      thresholds = {
        ...thresholds,
        ...(JSON.parse(readFileSync(values.thresholds, "utf8")) as Partial<Thresholds>),
      };
    } catch (err) {
      throw new OptionsError(
        `--thresholds ${values.thresholds}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }
  const raw = {
    quick,
    scenarios,
    baselines: !quick && values["no-baselines"] !== true,
    workers: num("workers", values.workers, 2),
    clients: num("clients", values.clients, quick ? 200 : 2000),
    roomsClients: num("rooms-clients", values["rooms-clients"], quick ? 200 : 10_000),
    connsClients: num("conns-clients", values["conns-clients"], quick ? 200 : 10_000),
    recoveryClients: num("recovery-clients", values["recovery-clients"], quick ? 100 : 1000),
    recoveryRate: num("recovery-rate", values["recovery-rate"], 200),
    recoveryDrainSeconds: num("recovery-drain", values["recovery-drain"], 1),
    recoveryTimeoutSeconds: num("recovery-timeout", values["recovery-timeout"], 30),
    clusterNodes: 3,
    rates: list("rates", values.rates, quick ? [50, 200] : DEFAULT_RATES),
    roomRates: list("room-rates", values["room-rates"], quick ? [200, 500] : DEFAULT_ROOM_RATES),
    warmupMs: num("warmup", values.warmup, quick ? 300 : 1000),
    windowMs: num("window", values.window, quick ? 1000 : 4000),
    drainMs: num("drain", values.drain, quick ? 2000 : 5000),
    frameBytes: 200,
    sampleEvery: quick ? 4 : 64,
    concurrency: num("concurrency", values.concurrency, 256),
    settleMs: quick ? 500 : 5000,
    thresholds,
    outDir: values.out ?? defaultOutDir,
  };
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new OptionsError(
      `option ${issue?.path.join(".") ?? "?"}: ${issue?.message ?? "invalid"}`,
    );
  }
  return Object.freeze({ ...parsed.data, thresholds }) as Readonly<BenchOptions>;
}

export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes("--help") || argv.includes("-h");
}
