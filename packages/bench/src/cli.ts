#!/usr/bin/env node
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startNats } from "@calcbridge/testing";
import { tcpTransport } from "./client/tcp.js";
import { machineInfo } from "./infra/machine.js";
import { ProcessSet } from "./infra/proc.js";
import { startRedis } from "./infra/redis.js";
import {
  HELP,
  OptionsError,
  SCENARIOS,
  parseOptions,
  wantsHelp,
  type BenchOptions,
} from "./options.js";
import { fmtCores, fmtMs, fmtRate } from "./report/format.js";
import { renderMarkdown, type RunReport } from "./report/markdown.js";
import { Progress } from "./report/progress.js";
import { evaluate } from "./report/thresholds.js";
import { connsScenario } from "./scenarios/conns.js";
import type {
  BenchContext,
  ConnsReport,
  RecoveryReport,
  SeriesReport,
} from "./scenarios/context.js";
import { exceptSeries } from "./scenarios/except.js";
import { fanoutSeries } from "./scenarios/fanout.js";
import { recoveryScenario } from "./scenarios/recovery.js";
import { roomsSeries } from "./scenarios/rooms.js";
import { selfCheckSeries } from "./scenarios/self-check.js";
import { edgeLauncherInfo } from "./scenarios/targets.js";

const RESULTS_DIR = fileURLToPath(new URL("../../results/", import.meta.url));

/** `pnpm bench`: runs the scenarios, writes the report, exits 1 when a threshold fails. */
async function main(argv: readonly string[]): Promise<number> {
  if (wantsHelp(argv)) {
    process.stdout.write(HELP);
    return 0;
  }
  let options: Readonly<BenchOptions>;
  try {
    options = parseOptions(argv, RESULTS_DIR);
  } catch (err) {
    if (err instanceof OptionsError) {
      process.stderr.write(`bench: ${err.message}\n\n${HELP}`);
      return 2;
    }
    throw err;
  }
  const procs = new ProcessSet();
  const progress = new Progress();
  // Whatever happens, no server, publisher or redis of this run outlives it.
  process.on("exit", () => procs.killAllSync());
  let stopNats: () => Promise<void> = async () => {};
  const interrupted = () => {
    progress.line("bench: interrupted; stopping every process it started");
    void Promise.allSettled([procs.stopAll(), stopNats()]).finally(() => process.exit(130));
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);

  const startedAt = new Date().toISOString();
  const machine = machineInfo();
  progress.line(
    `CalcBridge bench @ ${machine.revision} on ${machine.cores} cores (${machine.cpuModel}), Node ${machine.node}` +
      `${options.quick ? " [quick]" : ""}: ${options.scenarios.join(", ")}`,
  );
  // No JetStream here: the one series that measures the edge's history runs
  // on a NATS server of its own, so no stream it leaves taxes the others.
  const nats = await startNats({ name: "calcbridge-bench" });
  stopNats = () => nats.stop();
  const needsRedis = options.baselines && options.scenarios.some((s) => s !== "self-check");
  const redis = needsRedis ? await startRedis(procs) : undefined;
  const ctx: BenchContext = {
    options,
    procs,
    progress,
    nats,
    redis,
    secret: randomBytes(32).toString("base64url"),
    machine,
  };

  let selfCheck: SeriesReport | undefined;
  const series: SeriesReport[] = [];
  let conns: ConnsReport[] = [];
  const recovery: RecoveryReport[] = [];
  try {
    for (const scenario of options.scenarios) {
      progress.section(scenario);
      switch (scenario) {
        case "self-check":
          selfCheck = await selfCheckSeries(ctx);
          break;
        case "fanout":
          series.push(...(await fanoutSeries(ctx, "fanout", 1)));
          break;
        case "cluster":
          series.push(...(await fanoutSeries(ctx, "cluster", options.clusterNodes)));
          break;
        case "rooms":
          series.push(...(await roomsSeries(ctx)));
          break;
        case "conns":
          conns = await connsScenario(ctx);
          break;
        case "except":
          series.push(...(await exceptSeries(ctx)));
          break;
        case "recovery":
          recovery.push(await recoveryScenario(ctx));
          break;
      }
    }
  } finally {
    await procs.stopAll();
    await nats.stop();
  }

  const thresholds =
    options.thresholds === null ? [] : evaluate(options.thresholds, { series, conns, selfCheck });
  const verdict =
    options.thresholds === null
      ? "no thresholds"
      : thresholds.some((t) => t.verdict === "FAIL")
        ? "FAIL"
        : "PASS";
  const report: RunReport = {
    startedAt,
    finishedAt: new Date().toISOString(),
    machine,
    options,
    edge: edgeLauncherInfo(),
    histogramLibrary: "HdrHistogram (hdr-histogram-js, 3 significant digits, µs)",
    generatorTransport:
      tcpTransport === "tcp_wrap"
        ? "the libuv TCP handle node:net is built on (tcp_wrap), without net.Socket's streams"
        : "node:net sockets",
    selfCheck,
    series,
    conns,
    recovery,
    thresholds,
    verdict,
  };
  const files = write(report, options);
  printSummary(report, files);
  // A quick run is a smoke test: it fails only when a series could not run at all.
  if (options.quick)
    return [...series, ...(selfCheck ? [selfCheck] : [])].some((s) => s.error) ||
      conns.some((c) => c.error) ||
      recovery.some((r) => r.error)
      ? 1
      : 0;
  return verdict === "FAIL" ? 1 : 0;
}

function write(report: RunReport, options: Readonly<BenchOptions>): string[] {
  mkdirSync(options.outDir, { recursive: true });
  // A smoke run or a subset of the scenarios never replaces the latest full measurement.
  const partial = SCENARIOS.some((name) => !options.scenarios.includes(name));
  const suffix = options.quick ? "-quick" : partial ? `-${options.scenarios.join("+")}` : "";
  const stem = `${report.startedAt.slice(0, 10)}-${report.machine.revision}${suffix}`;
  const md = renderMarkdown(report);
  const json = JSON.stringify(report, null, 2) + "\n";
  const files = [join(options.outDir, `${stem}.md`), join(options.outDir, `${stem}.json`)];
  writeFileSync(files[0]!, md);
  writeFileSync(files[1]!, json);
  const latest = options.quick ? "latest-quick" : partial ? "latest-partial" : "latest";
  writeFileSync(join(options.outDir, `${latest}.md`), md);
  writeFileSync(join(options.outDir, `${latest}.json`), json);
  return files;
}

function printSummary(r: RunReport, files: string[]): void {
  const out = process.stdout;
  out.write("\n== summary\n");
  const all = [...(r.selfCheck ? [r.selfCheck] : []), ...r.series];
  const width = Math.max(10, ...all.map((s) => s.label.length));
  for (const s of all) {
    const p99 = s.sustainedStep?.latency.p99;
    out.write(
      `  ${s.scenario.padEnd(10)} ${s.label.padEnd(width)}  ` +
        (s.error
          ? `ERROR ${s.error.slice(0, 100)}\n`
          : `${fmtRate(s.maxSustained).padStart(7)}/s sustained  ${fmtRate(s.peak).padStart(7)}/s peak  p99 ${p99 ?? "-"} ms  ` +
            `${fmtRate(s.sustainedStep?.perCpuSecond ?? 0)}/CPU-s  | ${s.limitedBy.split(" [")[0]}\n`),
    );
  }
  for (const c of r.conns) {
    out.write(
      `  conns      ${c.server.padEnd(width)}  ${c.error ? `ERROR ${c.error.slice(0, 100)}` : `${fmtRate(c.setup?.perSecond ?? 0)}/s setup  ${Math.round(c.perConnectionBytes)} B/connection`}\n`,
    );
  }
  for (const c of r.recovery) {
    out.write(
      `  recovery   ${`${c.clients} clients, node A drained`.padEnd(width)}  ` +
        (c.error
          ? `ERROR ${c.error.slice(0, 100)}\n`
          : `${c.back}/${c.clients} back, ${c.recovered} recovered, ${c.failed} failed  ` +
            `reconnect p50 ${c.back > 0 ? fmtMs(c.reconnectMs.p50) : "-"} p99 ${c.back > 0 ? fmtMs(c.reconnectMs.p99) : "-"} ms  ` +
            `missed ${c.missedRecovered}  duplicates ${c.duplicates}  ${fmtRate(c.replayPerSecond)} replayed/s  node B ${fmtCores(c.nodeBCpuStorm)}\n`),
    );
  }
  if (r.thresholds.length > 0) {
    out.write("\n== thresholds\n");
    for (const t of r.thresholds) {
      out.write(
        `  ${t.verdict.padEnd(4)}  ${t.name}: ${t.figure} (needed ${t.threshold}${t.ratio ? `, ratio ${t.ratio}` : ""})${t.note ? ` - ${t.note}` : ""}\n`,
      );
    }
    out.write(`\n  ${r.verdict}\n`);
  }
  out.write(`\nreport: ${files.join(", ")}\n`);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
