import { setTimeout as delay } from "node:timers/promises";
import { startNats, type NatsServerHandle } from "@calcbridge/testing";
import { nowMs } from "../client/latency.js";
import type { RecoveryRecord } from "../client/recovery-client.js";
import { RecoveryPool, type RecoveryPoolStats } from "../client/recovery-pool.js";
import { busyCores, machineCpu } from "../infra/cpu.js";
import { sampleProc } from "../infra/proc.js";
import { PublisherHandle } from "../publisher/handle.js";
import { fmtCores as pct, fmtMs as fmt } from "../report/format.js";
import { BENCH_ROOM } from "../publisher/payload.js";
import type { BenchContext, Distribution, RecoveryReport } from "./context.js";
import { TENANT, startServers, type RunningServers } from "./targets.js";

/** Token lifetime: longer than any run. */
const TOKEN_TTL_SEC = 6 * 3600;
/** The edge's recovery window: far longer than a client stays away (it reconnects at once). */
const RECOVERY_MAX_DISCONNECTION_SECONDS = 60;
/** How often the storm is polled, and how often a progress line is printed, ms. */
const POLL_MS = 50;
const TICK_MS = 1000;
/** Bound on the last deliveries arriving once the publisher stopped, and the quiet that ends it, ms. */
const SETTLE_MS = 5000;
const QUIET_MS = 1000;

/**
 * A reconnect storm after a node drain: `recoveryClients` Socket.IO clients,
 * one user each, in one room on node A of two edge nodes (HISTORY=jetstream:
 * the event history and the session store in JetStream, shared over NATS),
 * with events published to the room at a steady rate throughout. Node A gets
 * SIGTERM and closes its clients with 1001 over DRAIN_SECONDS; each client
 * reconnects at once to node B presenting `{token, pid, offset}`, as
 * socket.io-client does. Measured: reconnect times, how many recovered,
 * offsets missed or duplicated, replayed events, node B's CPU.
 */
export async function recoveryScenario(ctx: BenchContext): Promise<RecoveryReport> {
  const { options, progress } = ctx;
  const clients = options.recoveryClients;
  const rate = options.recoveryRate;
  const drainSeconds = options.recoveryDrainSeconds;
  const warmMs = options.quick ? 1000 : 2000;
  const afterMs = options.quick ? 1000 : 2000;
  // Per client: from A's close to being back on B; the storm's own bound is above it.
  const reconnectTimeoutMs = options.recoveryTimeoutSeconds * 1000;
  const stormBoundMs = drainSeconds * 1000 + reconnectTimeoutMs + 5000;
  progress.line(
    `-- recovery · edge · Socket.IO · 2 nodes · HISTORY=jetstream: ${clients} clients on node A, ` +
      `${rate} events/s, node A drained (DRAIN_SECONDS=${drainSeconds}), clients back on node B`,
  );
  const report: RecoveryReport = {
    id: "recovery/edge/socketio/2",
    clients,
    rate,
    drainSeconds,
    timeoutSeconds: options.recoveryTimeoutSeconds,
    setup: undefined,
    published: 0,
    finalOffset: 0,
    closed: 0,
    closeCodes: {},
    firstCloseMs: 0,
    lastCloseMs: 0,
    stormMs: 0,
    lastBackMs: 0,
    back: 0,
    recovered: 0,
    notRecovered: 0,
    recoveredOtherSid: 0,
    failed: 0,
    failures: [],
    reconnectMs: distribution([]),
    catchUpMs: distribution([]),
    missedRecovered: 0,
    recoveredClientsMissing: 0,
    missedNotRecovered: 0,
    missedOnA: 0,
    duplicates: 0,
    replayed: 0,
    replayedMaxPerClient: 0,
    replayPerSecond: 0,
    nodeBCpuStorm: 0,
    nodeBCpuAfter: 0,
    nodeBCpuUsPerReconnect: 0,
    nodeBRssMiB: 0,
    nodeACpu: 0,
    busCpu: 0,
    generatorCpu: 0,
    publisherCpu: 0,
    machineCpu: 0,
    otherCpu: 0,
  };
  let nats: NatsServerHandle | undefined;
  let servers: RunningServers | undefined;
  let pool: RecoveryPool | undefined;
  let publisher: PublisherHandle | undefined;
  try {
    // JetStream on a NATS server of this scenario's own (the run's has none,
    // and the streams must not tax the scenarios after this one).
    nats = await startNats({ name: "calcbridge-bench-recovery", jetstream: true });
    servers = await startServers("edge", 2, {
      procs: ctx.procs,
      natsUrl: nats.url,
      secret: ctx.secret,
      edgeHistory: "jetstream",
      edgeEnv: {
        DRAIN_SECONDS: String(drainSeconds),
        RECOVERY_MAX_DISCONNECTION_SECONDS: String(RECOVERY_MAX_DISCONNECTION_SECONDS),
      },
    });
    const nodeA = servers.children[0]!;
    const nodeB = servers.children[1]!;
    pool = RecoveryPool.start(Math.max(1, Math.min(options.workers, clients)));
    const setup = await pool.open({
      host: "127.0.0.1",
      portA: servers.ports[0]!,
      portB: servers.ports[1]!,
      count: clients,
      room: BENCH_ROOM,
      auth: { secret: ctx.secret, tenant: TENANT, user: "u{i}", ttlSec: TOKEN_TTL_SEC },
      concurrency: options.concurrency,
      timeoutMs: 60_000,
      reconnectTimeoutMs,
    });
    report.setup = setup;
    progress.line(
      `   ${setup.ready}/${clients} connected and subscribed on node A in ${(setup.ms / 1000).toFixed(2)} s` +
        (setup.failed > 0 ? `; ${setup.failed} failed: ${setup.failures[0] ?? ""}` : ""),
    );
    if (setup.ready < clients)
      throw new Error(
        `only ${setup.ready} of ${clients} clients connected: ${setup.failures.join("; ")}`,
      );

    publisher = await PublisherHandle.start({
      mode: "nats-event",
      natsUrl: nats.url,
      frameBytes: options.frameBytes,
    });
    // One run throughout, halted after the storm: no pause in the stream.
    const running = publisher.run(rate, warmMs + stormBoundMs + afterMs + 10_000);
    await delay(warmMs);
    const warm = await pool.stats();
    if (warm.events === 0) throw new Error("no event reached the clients on node A");
    progress.line(
      `   warm-up: ${warm.events} events received (offsets up to ${warm.maxOffset}); SIGTERM to node A`,
    );

    // The storm: from SIGTERM until every client is back on B (or failed).
    const b0 = sampleProc(nodeB.pid);
    const a0 = sampleProc(nodeA.pid);
    const bus0 = sampleProc(nats.pid);
    const pub0 = sampleProc(publisher.pid);
    const m0 = machineCpu();
    // Node A exits during the storm: its last sample before it does.
    let aLast = a0;
    const sigtermAt = nowMs();
    const nodeAStopped = nodeA.stop(drainSeconds * 1000 + 15_000);
    const stormEnd = performance.now() + stormBoundMs;
    let s = warm;
    let lastTick = performance.now();
    while (performance.now() < stormEnd) {
      await delay(POLL_MS);
      aLast = sampleProc(nodeA.pid) ?? aLast;
      s = await pool.stats();
      if (s.back + s.failed >= setup.ready) break;
      if (performance.now() - lastTick >= TICK_MS) {
        lastTick = performance.now();
        progress.line(stormLine(sigtermAt, s, setup.ready, nodeB.pid, b0?.cpuSec ?? 0));
      }
    }
    const b1 = sampleProc(nodeB.pid);
    aLast = sampleProc(nodeA.pid) ?? aLast;
    const bus1 = sampleProc(nats.pid);
    const pub1 = sampleProc(publisher.pid);
    const m1 = machineCpu();
    const stormSec = (nowMs() - sigtermAt) / 1000;
    progress.line(stormLine(sigtermAt, s, setup.ready, nodeB.pid, b0?.cpuSec ?? 0));
    report.nodeBCpuStorm = ((b1?.cpuSec ?? 0) - (b0?.cpuSec ?? 0)) / stormSec;
    report.busCpu = ((bus1?.cpuSec ?? 0) - (bus0?.cpuSec ?? 0)) / stormSec;
    report.generatorCpu = (s.cpuUs - warm.cpuUs) / 1e6 / stormSec;
    report.nodeACpu = ((aLast?.cpuSec ?? 0) - (a0?.cpuSec ?? 0)) / stormSec;
    report.publisherCpu = ((pub1?.cpuSec ?? 0) - (pub0?.cpuSec ?? 0)) / stormSec;
    report.machineCpu = busyCores(m0, m1, ctx.machine.cores);
    report.otherCpu = Math.max(
      0,
      report.machineCpu -
        report.nodeBCpuStorm -
        report.nodeACpu -
        report.busCpu -
        report.generatorCpu -
        report.publisherCpu,
    );
    report.stormMs = Math.round(stormSec * 1000);
    report.nodeBCpuUsPerReconnect =
      s.closed > 0 ? (((b1?.cpuSec ?? 0) - (b0?.cpuSec ?? 0)) * 1e6) / s.closed : 0;

    // After: every client on B at the same rate, for comparison.
    const after0 = sampleProc(nodeB.pid);
    const t0 = performance.now();
    await delay(afterMs);
    const after1 = sampleProc(nodeB.pid);
    report.nodeBCpuAfter =
      ((after1?.cpuSec ?? 0) - (after0?.cpuSec ?? 0)) / ((performance.now() - t0) / 1000);
    report.nodeBRssMiB = (after1?.rssBytes ?? 0) / 2 ** 20;
    publisher.halt();
    const ran = await running;
    report.published = ran.sent;
    const settled = await settle(pool);
    await nodeAStopped;
    if (nodeA.exitCode !== 0)
      progress.line(`   note: node A exited with ${nodeA.exitCode} after its drain`);

    // The last offset published: what the settled clients reached, or any
    // client's last (when none is left connected).
    const records = await pool.report();
    const finalOffset = records.reduce((m, r) => Math.max(m, r.lastOffset), settled.maxOffset);
    Object.assign(report, summarizeRecords(records, finalOffset, sigtermAt));
    progress.line(
      `   ${report.back}/${setup.ready} back on node B: ${report.recovered} recovered, ${report.notRecovered} not` +
        (report.failed > 0 ? `, ${report.failed} failed (${report.failures[0] ?? ""})` : "") +
        (report.back > 0
          ? `; reconnect p50 ${fmt(report.reconnectMs.p50)} p95 ${fmt(report.reconnectMs.p95)} ` +
            `p99 ${fmt(report.reconnectMs.p99)} max ${fmt(report.reconnectMs.max)} ms`
          : ""),
    );
    progress.line(
      `   missed: ${report.missedRecovered} by recovered clients, ${report.missedNotRecovered} by the others; ` +
        `${report.duplicates} duplicates; ${report.replayed} replayed (${Math.round(report.replayPerSecond)}/s); ` +
        `node B CPU ${pct(report.nodeBCpuStorm)} in the storm (${Math.round(report.nodeBCpuUsPerReconnect)} µs per reconnecting client), ` +
        `${pct(report.nodeBCpuAfter)} after; ${report.published} events published, highest offset seen ${report.finalOffset}`,
    );
    if (report.finalOffset === 0) throw new Error("the clients saw no offset (history off?)");
  } catch (err) {
    report.error = err instanceof Error ? err.message : String(err);
    progress.line(`   ERROR: ${report.error}`);
  } finally {
    await pool?.stop();
    await publisher?.stop();
    await servers?.stop();
    await nats?.stop();
  }
  return report;
}

/**
 * Waits (bounded) until every client still connected has the same last
 * offset and no new one arrived for QUIET_MS (a busy node B delivers late).
 */
async function settle(pool: RecoveryPool): Promise<RecoveryPoolStats> {
  const deadline = performance.now() + SETTLE_MS;
  let s = await pool.stats();
  let quietSince = performance.now();
  while (performance.now() < deadline) {
    await delay(200);
    const now = await pool.stats();
    if (now.maxOffset !== s.maxOffset || now.events !== s.events) quietSince = performance.now();
    else if (now.minOffset === now.maxOffset && performance.now() - quietSince >= QUIET_MS)
      return now;
    s = now;
  }
  return s;
}

function stormLine(
  sigtermAt: number,
  s: RecoveryPoolStats,
  clients: number,
  pidB: number,
  cpuB0: number,
): string {
  const sec = (nowMs() - sigtermAt) / 1000;
  const cpu = sec > 0 ? ((sampleProc(pidB)?.cpuSec ?? cpuB0) - cpuB0) / sec : 0;
  return (
    `  recovery | +${sec.toFixed(1)} s | closed by A ${s.closed}/${clients} | back on B ${s.back} ` +
    `(recovered ${s.recovered}) | failed ${s.failed} | node B CPU ${pct(cpu)}`
  );
}

/** Nearest-rank percentiles of `values` (ms). */
export function distribution(values: readonly number[]): Distribution {
  const v = [...values].sort((a, b) => a - b);
  const at = (p: number) =>
    v.length === 0 ? 0 : v[Math.min(v.length - 1, Math.ceil(p * v.length) - 1)]!;
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    samples: v.length,
    p50: round(at(0.5)),
    p95: round(at(0.95)),
    p99: round(at(0.99)),
    max: round(v.length === 0 ? 0 : v[v.length - 1]!),
    mean: round(v.length === 0 ? 0 : v.reduce((s, x) => s + x, 0) / v.length),
  };
}

/**
 * The report's figures from every client's record. `finalOffset` is the last
 * offset published (the highest any client saw once deliveries settled): a
 * client back on B that stops short of it missed the rest.
 */
export function summarizeRecords(
  records: readonly RecoveryRecord[],
  finalOffset: number,
  sigtermAt: number,
): Partial<RecoveryReport> {
  const closeCodes: Record<string, number> = {};
  const reconnect: number[] = [];
  const catchUp: number[] = [];
  const failures: string[] = [];
  let closed = 0;
  let back = 0;
  let recovered = 0;
  let recoveredOtherSid = 0;
  let failed = 0;
  let missedRecovered = 0;
  let recoveredClientsMissing = 0;
  let missedNotRecovered = 0;
  let missedOnA = 0;
  let duplicates = 0;
  let replayed = 0;
  let replayedMaxPerClient = 0;
  let firstClose = Infinity;
  let lastClose = 0;
  let lastBack = 0;
  let lastReplay = 0;
  for (const r of records) {
    duplicates += r.duplicates;
    missedOnA += r.missedOnA;
    if (r.closedAt > 0) {
      closed++;
      closeCodes[String(r.closeCode)] = (closeCodes[String(r.closeCode)] ?? 0) + 1;
      if (r.closedAt < firstClose) firstClose = r.closedAt;
      if (r.closedAt > lastClose) lastClose = r.closedAt;
    }
    if (r.failure !== undefined) {
      failed++;
      if (failures.length < 5 && !failures.includes(r.failure)) failures.push(r.failure);
    }
    if (r.backAt === 0) continue;
    back++;
    reconnect.push(r.reconnectMs);
    const done = Math.max(r.backAt, r.replayDoneAt);
    if (done > lastBack) lastBack = done;
    // Whatever a client still on B stops short of, it missed too.
    const tail = r.failure === undefined ? Math.max(0, finalOffset - r.lastOffset) : 0;
    const missed = r.missedOnB + tail;
    if (r.recovered) {
      recovered++;
      if (!r.sameSid) recoveredOtherSid++;
      missedRecovered += missed;
      if (missed > 0) recoveredClientsMissing++;
      replayed += r.replayed;
      if (r.replayed > replayedMaxPerClient) replayedMaxPerClient = r.replayed;
      if (r.replayDoneAt > lastReplay) lastReplay = r.replayDoneAt;
      catchUp.push(done - r.closedAt);
    } else missedNotRecovered += missed;
  }
  const replaySpanMs = lastReplay > 0 && firstClose < Infinity ? lastReplay - firstClose : 0;
  return {
    finalOffset,
    closed,
    closeCodes,
    firstCloseMs: firstClose < Infinity ? Math.round(firstClose - sigtermAt) : 0,
    lastCloseMs: lastClose > 0 ? Math.round(lastClose - sigtermAt) : 0,
    lastBackMs: lastBack > 0 ? Math.round(lastBack - sigtermAt) : 0,
    back,
    recovered,
    notRecovered: back - recovered,
    recoveredOtherSid,
    failed,
    failures,
    reconnectMs: distribution(reconnect),
    catchUpMs: distribution(catchUp),
    missedRecovered,
    recoveredClientsMissing,
    missedNotRecovered,
    missedOnA,
    duplicates,
    replayed,
    replayedMaxPerClient,
    replayPerSecond: replaySpanMs > 0 ? (replayed * 1000) / replaySpanMs : 0,
  };
}
