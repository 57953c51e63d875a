import type { ConnsReport, SeriesReport } from "../scenarios/context.js";
import type { StepResult } from "../scenarios/stepper.js";
import { fmtBytes, fmtMs, fmtRate } from "./format.js";

/** The figures the bench asserts. Override any of them with `--thresholds <file.json>`. */
export interface Thresholds {
  /** Socket.IO-format fan-out, 1 node: max sustained deliveries/s >= this x Socket.IO on uWS. @default 1.5 */
  fanoutVsSocketIoUws: number;
  /** ... and >= this x Socket.IO on ws. @default 20 */
  fanoutVsSocketIoWs: number;
  /** Where the generator's ceiling is below the uWS target: reaching this share of the ceiling passes. @default 0.9 */
  ceilingShare: number;
  /** Offered events/s of the latency check (x clients = deliveries/s). @default 500 */
  latencyRate: number;
  /** p99 at `latencyRate`, one node, ms. @default 100 */
  latencyP99Ms: number;
  /** Cluster aggregate max sustained >= this x the single node's. @default 1 */
  clusterVsSingle: number;
  /** Deliveries per server CPU-second, Socket.IO frames through NATS (fanout and except). @default 3000000 */
  minPerCpuSecond: number;
  /** ... >= this x the bare uWS relay's. @default 0.8 */
  perCpuVsRelay: number;
  /** ... >= this x Socket.IO on uWS. @default 1.5 */
  perCpuVsSocketIoUws: number;
  /** Idle authenticated Socket.IO connection, RSS bytes. @default 2048 */
  maxBytesPerConnection: number;
  /** Authenticated connections set up per second. @default 8000 */
  minSetupPerSecond: number;
}

export const DEFAULT_THRESHOLDS: Readonly<Thresholds> = Object.freeze({
  fanoutVsSocketIoUws: 1.5,
  fanoutVsSocketIoWs: 20,
  ceilingShare: 0.9,
  latencyRate: 500,
  latencyP99Ms: 100,
  clusterVsSingle: 1,
  minPerCpuSecond: 3_000_000,
  perCpuVsRelay: 0.8,
  perCpuVsSocketIoUws: 1.5,
  maxBytesPerConnection: 2048,
  minSetupPerSecond: 8000,
});

export type Verdict = "PASS" | "FAIL" | "SKIP";

export interface ThresholdResult {
  name: string;
  verdict: Verdict;
  /** Our figure, as printed. */
  figure: string;
  /** What it had to be. */
  threshold: string;
  /** Ratio to the baseline it is compared with, where there is one. */
  ratio?: string;
  note?: string;
}

interface Inputs {
  series: SeriesReport[];
  conns: ConnsReport[];
  selfCheck: SeriesReport | undefined;
}

/** The step a series' efficiency is read at: its max sustained step, else its first. */
export function efficiencyStep(s: SeriesReport | undefined): StepResult | undefined {
  return s?.sustainedStep ?? s?.steps[0];
}

/** Evaluates every threshold; one whose inputs were not measured in this run is SKIP. */
export function evaluate(t: Thresholds, { series, conns, selfCheck }: Inputs): ThresholdResult[] {
  const find = (id: string) => series.find((s) => s.id === id);
  const ran = (s: SeriesReport | undefined): s is SeriesReport =>
    s !== undefined && s.error === undefined;
  const out: ThresholdResult[] = [];
  const skip = (name: string, threshold: string, why: string) =>
    out.push({ name, verdict: "SKIP", figure: "-", threshold, note: why });
  const failed = (name: string, threshold: string, s: SeriesReport | ConnsReport | undefined) =>
    out.push({
      name,
      verdict: "FAIL",
      figure: "-",
      threshold,
      note: `not measured: ${s?.error ?? "missing"}`,
    });

  const edge = find("fanout/edge/socketio/1");
  const uws = find("fanout/sio-uws/socketio/1");
  const ws = find("fanout/sio-ws/socketio/1");
  const relay = find("fanout/uws-relay/plain/1");

  // Throughput against the baselines.
  {
    const name = "fan-out throughput vs Socket.IO on uWS (Socket.IO format, NATS, 1 node)";
    const threshold = `>= ${t.fanoutVsSocketIoUws}x`;
    if (edge === undefined || uws === undefined)
      skip(name, threshold, "fanout with baselines not run");
    else if (!ran(edge) || !ran(uws)) failed(name, threshold, ran(edge) ? uws : edge);
    else {
      const need = t.fanoutVsSocketIoUws * uws.maxSustained;
      const ratio = uws.maxSustained > 0 ? edge.maxSustained / uws.maxSustained : Infinity;
      // The generator took at least what any series of this run delivered to
      // it: the self-check server can run out of breath before the clients do.
      const ceiling = ran(selfCheck)
        ? Math.max(selfCheck.maxSustained, ...series.filter(ran).map((s) => s.maxSustained))
        : undefined;
      let verdict: Verdict = edge.maxSustained >= need ? "PASS" : "FAIL";
      let note: string | undefined;
      if (verdict === "FAIL" && ceiling !== undefined && ceiling < need) {
        const share = ceiling > 0 ? edge.maxSustained / ceiling : 0;
        verdict = share >= t.ceilingShare ? "PASS" : "FAIL";
        note = `the generator's ceiling (${fmtRate(ceiling)}/s) is below ${t.fanoutVsSocketIoUws}x Socket.IO-on-uWS (${fmtRate(need)}/s): ${(share * 100).toFixed(0)}% of the ceiling reached, ${t.ceilingShare * 100}% needed; efficiency decides`;
      } else if (ceiling === undefined) note = "self-check not run: no ceiling rule";
      out.push({
        name,
        verdict,
        figure: `${fmtRate(edge.maxSustained)}/s vs ${fmtRate(uws.maxSustained)}/s`,
        threshold,
        ratio: `${ratio.toFixed(2)}x`,
        ...(note === undefined ? {} : { note }),
      });
    }
  }
  {
    const name = "fan-out throughput vs Socket.IO on ws (Socket.IO format, NATS, 1 node)";
    const threshold = `>= ${t.fanoutVsSocketIoWs}x`;
    if (edge === undefined || ws === undefined)
      skip(name, threshold, "fanout with baselines not run");
    else if (!ran(edge) || !ran(ws)) failed(name, threshold, ran(edge) ? ws : edge);
    else {
      const ratio = ws.maxSustained > 0 ? edge.maxSustained / ws.maxSustained : Infinity;
      out.push({
        name,
        verdict: ratio >= t.fanoutVsSocketIoWs ? "PASS" : "FAIL",
        figure: `${fmtRate(edge.maxSustained)}/s vs ${fmtRate(ws.maxSustained)}/s`,
        threshold,
        ratio: `${ratio.toFixed(1)}x`,
        ...(ws.maxSustained === 0 ? { note: "Socket.IO on ws sustained no step" } : {}),
      });
    }
  }

  // Latency at 1M deliveries/s.
  for (const format of ["socketio", "raw"] as const) {
    const s = find(`fanout/edge/${format}/1`);
    const name = `p99 latency at ${t.latencyRate} events/s to the room (${format === "socketio" ? "Socket.IO" : "raw"} format, 1 node)`;
    const threshold = `<= ${t.latencyP99Ms} ms`;
    if (s === undefined) skip(name, threshold, "fanout not run");
    else if (!ran(s)) failed(name, threshold, s);
    else {
      const step = s.steps.find((x) => x.rate === t.latencyRate);
      if (step === undefined) {
        out.push({
          name,
          verdict: "FAIL",
          figure: "-",
          threshold,
          note: `the ${t.latencyRate} events/s step was not reached (${s.limitedBy})`,
        });
      } else {
        out.push({
          name,
          verdict: step.latency.p99 <= t.latencyP99Ms && step.pass ? "PASS" : "FAIL",
          figure: `${fmtMs(step.latency.p99)} ms at ${fmtRate(step.deliveries)}/s`,
          threshold,
          ...(step.pass ? {} : { note: `step not sustained: ${step.reasons.join("; ")}` }),
        });
      }
    }
  }

  // Cluster.
  {
    const cluster = series.find(
      (s) => s.scenario === "cluster" && s.server === "edge" && s.format === "socketio",
    );
    const name = "cluster aggregate vs single node (Socket.IO format)";
    const threshold = `>= ${t.clusterVsSingle}x`;
    if (cluster === undefined || edge === undefined)
      skip(name, threshold, "cluster or fanout not run");
    else if (!ran(cluster) || !ran(edge)) failed(name, threshold, ran(cluster) ? edge : cluster);
    else {
      const ratio = edge.maxSustained > 0 ? cluster.maxSustained / edge.maxSustained : Infinity;
      out.push({
        name,
        verdict: ratio >= t.clusterVsSingle ? "PASS" : "FAIL",
        figure: `${fmtRate(cluster.maxSustained)}/s on ${cluster.nodes} nodes vs ${fmtRate(edge.maxSustained)}/s`,
        threshold,
        ratio: `${ratio.toFixed(2)}x`,
      });
    }
  }

  // Efficiency, fanout and except alike.
  const exceptEdge = find("except/edge-except/socketio/1");
  const exceptUws = find("except/sio-uws/socketio/1");
  for (const [scenario, ours, theirs, ref] of [
    ["fanout", edge, uws, relay],
    ["except", exceptEdge, exceptUws, undefined],
  ] as const) {
    const name = `deliveries per server CPU-second (${scenario}, Socket.IO format)`;
    const threshold = `>= ${fmtRate(t.minPerCpuSecond)}`;
    if (ours === undefined) {
      skip(name, threshold, `${scenario} not run`);
      continue;
    }
    if (!ran(ours)) {
      failed(name, threshold, ours);
      continue;
    }
    const mine = efficiencyStep(ours)?.perCpuSecond ?? 0;
    out.push({
      name,
      verdict: mine >= t.minPerCpuSecond ? "PASS" : "FAIL",
      figure: `${fmtRate(mine)}/CPU-s`,
      threshold,
      note: `at ${efficiencyStep(ours)?.rate ?? "-"} events/s`,
    });
    if (ref !== undefined) {
      const n = `${name} vs the bare uWS relay`;
      if (!ran(ref)) failed(n, `>= ${t.perCpuVsRelay}x`, ref);
      else {
        const theirsEff = efficiencyStep(ref)?.perCpuSecond ?? 0;
        const ratio = theirsEff > 0 ? mine / theirsEff : Infinity;
        out.push({
          name: n,
          verdict: ratio >= t.perCpuVsRelay ? "PASS" : "FAIL",
          figure: `${fmtRate(mine)} vs ${fmtRate(theirsEff)}/CPU-s`,
          threshold: `>= ${t.perCpuVsRelay}x`,
          ratio: `${ratio.toFixed(2)}x`,
        });
      }
    } else if (scenario === "fanout" && ran(ours)) {
      skip(`${name} vs the bare uWS relay`, `>= ${t.perCpuVsRelay}x`, "baselines not run");
    }
    const n2 = `${name} vs Socket.IO on uWS`;
    if (theirs === undefined) skip(n2, `>= ${t.perCpuVsSocketIoUws}x`, "baselines not run");
    else if (!ran(theirs)) failed(n2, `>= ${t.perCpuVsSocketIoUws}x`, theirs);
    else {
      const theirsEff = efficiencyStep(theirs)?.perCpuSecond ?? 0;
      const ratio = theirsEff > 0 ? mine / theirsEff : Infinity;
      out.push({
        name: n2,
        verdict: ratio >= t.perCpuVsSocketIoUws ? "PASS" : "FAIL",
        figure: `${fmtRate(mine)} vs ${fmtRate(theirsEff)}/CPU-s`,
        threshold: `>= ${t.perCpuVsSocketIoUws}x`,
        ratio: `${ratio.toFixed(2)}x`,
      });
    }
  }

  // Idle connections.
  const c = conns.find((x) => x.server === "edge");
  const sioUws = conns.find((x) => x.server === "sio-uws" && x.error === undefined);
  for (const which of ["memory", "setup"] as const) {
    const name =
      which === "memory"
        ? "RSS per idle authenticated Socket.IO connection"
        : "authenticated connection setup rate";
    const threshold =
      which === "memory"
        ? `<= ${fmtBytes(t.maxBytesPerConnection)}`
        : `>= ${fmtRate(t.minSetupPerSecond)}/s`;
    if (c === undefined) skip(name, threshold, "conns not run");
    else if (c.error !== undefined || c.setup === undefined) failed(name, threshold, c);
    else if (which === "memory") {
      out.push({
        name,
        verdict: c.perConnectionBytes <= t.maxBytesPerConnection ? "PASS" : "FAIL",
        figure: fmtBytes(c.perConnectionBytes),
        threshold,
        ...(sioUws !== undefined && sioUws.perConnectionBytes > 0
          ? {
              ratio: `${(c.perConnectionBytes / sioUws.perConnectionBytes).toFixed(2)}x Socket.IO on uWS`,
            }
          : {}),
        note: `RSS delta over ${c.setup.ready} connections, each read after a full GC (${fmtBytes(c.perConnectionNoGcBytes)} without it, after ${c.settleMs} ms)`,
      });
    } else {
      out.push({
        name,
        verdict: c.setup.perSecond >= t.minSetupPerSecond ? "PASS" : "FAIL",
        figure: `${fmtRate(c.setup.perSecond)}/s`,
        threshold,
      });
    }
  }
  return out;
}
