import { setTimeout as delay } from "node:timers/promises";
import type { LatencySummary } from "../client/latency.js";
import type { ClientPool, PoolStats } from "../client/pool.js";
import { busyCores, machineCpu } from "../infra/cpu.js";
import { sampleProcs } from "../infra/proc.js";
import type { RunResult } from "../publisher/handle.js";
import type { Progress } from "../report/progress.js";

/** Whatever offers events at a rate: the publisher process, or the self-check server. */
export interface Driver {
  readonly pid: number;
  run(rate: number, durationMs: number): Promise<RunResult>;
  /** Events sent so far and the driver's clock (ms since the epoch). */
  count(): Promise<{ sent: number; at: number }>;
}

export interface StepTarget {
  /** e.g. "edge · Socket.IO · 1 node". */
  label: string;
  serverPids: number[];
  busPids: number[];
  clients: number;
  /** Deliveries one event should make (clients in the room, minus one for except). */
  perEvent: number;
  driver: Driver;
  pool: ClientPool;
  workers: number;
}

export interface StepTiming {
  warmupMs: number;
  windowMs: number;
  /** Bound on waiting for the last deliveries after the publisher stops. */
  drainMs: number;
}

/** When a step counts as sustained. */
export interface StepCriteria {
  /** Share of the offered deliveries that must arrive within the window, and in all. @default 0.95 */
  minDelivered: number;
  /** @default 1000 */
  maxP99Ms: number;
}

export const DEFAULT_CRITERIA: StepCriteria = { minDelivered: 0.95, maxP99Ms: 1000 };

/** Below this share of the nominal rate the publisher, not the server, is what is measured. */
const PUBLISHER_FLOOR = 0.8;

export interface StepResult {
  /** Offered events/s. */
  rate: number;
  /** Offered deliveries/s (rate x deliveries per event). */
  offered: number;
  /** Events/s the publisher really sent during the window (a busy machine can hold it back). */
  sentRate: number;
  /** Deliveries/s measured in the window. */
  deliveries: number;
  /** deliveries / deliveries the publisher really offered in the window. */
  deliveredRatio: number;
  /** Deliveries that never arrived (after the drain), as a share of those expected. */
  lostRatio: number;
  latency: LatencySummary;
  /** Server CPU in cores (1.0 = one core busy), all server processes. */
  serverCpu: number;
  serverRssMiB: number;
  busCpu: number;
  /** Load generator CPU in cores, all workers. */
  generatorCpu: number;
  publisherCpu: number;
  /** The machine's busy cores. */
  machineCpu: number;
  /** Busy cores not accounted for by the processes of this run (other load on the machine, kernel threads). */
  otherCpu: number;
  /** Deliveries per server CPU-second. */
  perCpuSecond: number;
  /** Worst lag of the publisher behind its schedule, ms. */
  publisherLagMs: number;
  /** Connections the server closed during the step. */
  dropped: number;
  pass: boolean;
  /** Why it did not pass. */
  reasons: string[];
}

export interface SeriesResult {
  label: string;
  clients: number;
  steps: StepResult[];
  /** Highest deliveries/s of a passing step (0 when none passed). */
  maxSustained: number;
  /** The step of `maxSustained`. */
  sustainedStep: StepResult | undefined;
  /** Highest deliveries/s measured in any step. */
  peak: number;
  /** What held the series back at its first failing step (or "not reached"). */
  limitedBy: string;
}

/**
 * What a passing step sustained: its deliveries/s, but never more than the
 * publisher offered in the window (a backlog caught up in the window is not
 * throughput the server sustained).
 */
export function sustained(s: StepResult): number {
  return Math.min(s.deliveries, s.offered, s.offered > 0 ? (s.sentRate * s.offered) / s.rate : 0);
}

/** Runs the offered rates in order until one is not sustained. */
export async function runSteps(
  target: StepTarget,
  rates: readonly number[],
  timing: StepTiming,
  criteria: StepCriteria,
  progress: Progress,
  cores: number,
): Promise<SeriesResult> {
  const steps: StepResult[] = [];
  for (const rate of rates) {
    const step = await runStep(target, rate, timing, criteria, progress, cores);
    steps.push(step);
    progress.step(target.label, step);
    if (!step.pass) break;
    await delay(300);
  }
  const passing = steps.filter((s) => s.pass);
  const sustainedStep = passing.reduce<StepResult | undefined>(
    (best, s) => (best === undefined || sustained(s) > sustained(best) ? s : best),
    undefined,
  );
  const failed = steps.find((s) => !s.pass);
  return {
    label: target.label,
    clients: target.clients,
    steps,
    maxSustained: sustainedStep === undefined ? 0 : sustained(sustainedStep),
    sustainedStep,
    peak: Math.max(0, ...steps.map((s) => s.deliveries)),
    limitedBy:
      failed === undefined
        ? "not reached (every offered step passed)"
        : limitOf(failed, target.workers, target.serverPids.length, cores),
  };
}

async function runStep(
  target: StepTarget,
  rate: number,
  timing: StepTiming,
  criteria: StepCriteria,
  progress: Progress,
  cores: number,
): Promise<StepResult> {
  const { pool } = target;
  const before = await pool.stats();
  const running = target.driver.run(rate, timing.warmupMs + timing.windowMs);
  await delay(timing.warmupMs);
  await pool.latency(true);
  const [s0, c0] = await Promise.all([pool.stats(), target.driver.count()]);
  const srv0 = sampleProcs(target.serverPids);
  const bus0 = sampleProcs(target.busPids);
  const pub0 = sampleProcs([target.driver.pid]);
  const m0 = machineCpu();
  const offered = rate * target.perEvent;
  // Progress once a second through the window.
  const windowEnd = performance.now() + timing.windowMs;
  let last = s0;
  while (performance.now() < windowEnd - 1100) {
    await delay(1000);
    const now = await pool.stats();
    const lat = await pool.latency(false);
    progress.tick(target.label, rate, offered, rateBetween(last, now), lat.p99, now.open);
    last = now;
  }
  await delay(Math.max(0, windowEnd - performance.now()));
  const [s1, c1] = await Promise.all([pool.stats(), target.driver.count()]);
  const srv1 = sampleProcs(target.serverPids);
  const bus1 = sampleProcs(target.busPids);
  const pub1 = sampleProcs([target.driver.pid]);
  const m1 = machineCpu();
  const latency = await pool.latency(true);
  const run = await running;
  const after = await drain(pool, timing.drainMs);

  const seconds = (s1.at - s0.at) / 1000;
  const deliveries = (s1.events - s0.events) / seconds;
  const serverCpuSec = srv1.cpuSec - srv0.cpuSec;
  const expected = run.sent * target.perEvent;
  const received = after.events - before.events;
  const lostRatio = expected > 0 ? Math.max(0, 1 - received / expected) : 0;
  const sentRate = c1.at > c0.at ? ((c1.sent - c0.sent) * 1000) / (c1.at - c0.at) : 0;
  const offeredInWindow = sentRate * target.perEvent;
  const deliveredRatio = offeredInWindow > 0 ? deliveries / offeredInWindow : 0;
  const dropped = after.closed - before.closed;
  const reasons: string[] = [];
  // A publisher held back by a busy machine is made up for by the clock; only
  // one that cannot come near the rate ends the series.
  if (sentRate < rate * PUBLISHER_FLOOR)
    reasons.push(`publisher offered only ${sentRate.toFixed(0)} events/s`);
  if (deliveredRatio < criteria.minDelivered)
    reasons.push(`delivered ${(deliveredRatio * 100).toFixed(1)}% of offered in the window`);
  if (lostRatio > 1 - criteria.minDelivered)
    reasons.push(`${(lostRatio * 100).toFixed(1)}% never delivered`);
  if (latency.p99 > criteria.maxP99Ms)
    reasons.push(`p99 ${latency.p99} ms > ${criteria.maxP99Ms} ms`);
  if (latency.samples === 0 && deliveries > 0) reasons.push("no latency samples");
  if (dropped > 0) reasons.push(`${dropped} connections closed by the server`);
  const result: StepResult = {
    rate,
    offered,
    sentRate,
    deliveries,
    deliveredRatio,
    lostRatio,
    latency,
    serverCpu: serverCpuSec / seconds,
    serverRssMiB: srv1.rssBytes / 2 ** 20,
    busCpu: (bus1.cpuSec - bus0.cpuSec) / seconds,
    generatorCpu: (s1.cpuUs - s0.cpuUs) / 1e6 / seconds,
    publisherCpu: (pub1.cpuSec - pub0.cpuSec) / seconds,
    machineCpu: busyCores(m0, m1, cores),
    otherCpu: 0,
    perCpuSecond: serverCpuSec > 0 ? (s1.events - s0.events) / serverCpuSec : 0,
    publisherLagMs: run.maxLagMs,
    dropped,
    pass: reasons.length === 0,
    reasons,
  };
  result.otherCpu = Math.max(
    0,
    result.machineCpu -
      result.serverCpu -
      result.busCpu -
      result.generatorCpu -
      result.publisherCpu,
  );
  return result;
}

function rateBetween(a: PoolStats, b: PoolStats): number {
  const s = (b.at - a.at) / 1000;
  return s > 0 ? (b.events - a.events) / s : 0;
}

/** Waits until deliveries stop (nothing new for 500 ms) or `maxMs` passes. */
async function drain(pool: ClientPool, maxMs: number): Promise<PoolStats> {
  const deadline = performance.now() + maxMs;
  let prev = await pool.stats();
  while (performance.now() < deadline) {
    await delay(500);
    const now = await pool.stats();
    if (now.events === prev.events) return now;
    prev = now;
  }
  return prev;
}

/**
 * What held a failing step back, from where the CPU went: a server process
 * using most of its one core (Node is single-threaded), the generator's
 * workers saturated, the bus, or a machine with no idle core left.
 */
export function limitOf(step: StepResult, workers: number, servers: number, cores: number): string {
  const parts = [
    `server ${pct(step.serverCpu)}`,
    `generator ${pct(step.generatorCpu)} over ${workers} worker${workers > 1 ? "s" : ""}`,
    `bus ${pct(step.busCpu)}`,
    `publisher ${pct(step.publisherCpu)}`,
    `machine ${pct(step.machineCpu)} of ${cores * 100}%`,
    `other ${pct(step.otherCpu)}`,
  ].join(", ");
  let verdict: string;
  if (step.sentRate < step.rate * PUBLISHER_FLOOR) verdict = "publisher (could not offer the rate)";
  else if (step.serverCpu >= 0.9 * Math.min(servers, cores)) verdict = "server CPU";
  else if (step.generatorCpu >= 0.9 * workers) verdict = "generator CPU";
  else if (step.busCpu >= 0.9) verdict = "bus CPU";
  else if (step.machineCpu >= cores * 0.92 && step.otherCpu >= 0.5)
    verdict = `machine CPU, ${pct(step.otherCpu)} of it taken by load outside this run`;
  else if (step.machineCpu >= cores * 0.92)
    verdict = "machine CPU (all cores busy, shared by server, generator, bus)";
  else verdict = "latency/queueing (no process saturated)";
  return `${verdict} [${parts}]`;
}

function pct(cores: number): string {
  return `${Math.round(cores * 100)}%`;
}
