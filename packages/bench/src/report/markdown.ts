import type { MachineInfo } from "../infra/machine.js";
import type { BenchOptions } from "../options.js";
import type {
  ConnsReport,
  Distribution,
  RecoveryReport,
  SeriesReport,
} from "../scenarios/context.js";
import { fmtBytes, fmtCores, fmtMs, fmtPct, fmtRate } from "./format.js";
import { efficiencyStep, type ThresholdResult } from "./thresholds.js";

/** Everything one run measured: the JSON file, and the source of the Markdown. */
export interface RunReport {
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  options: Readonly<BenchOptions>;
  edge: { launcher: string; note: string };
  histogramLibrary: string;
  /** The generator clients' TCP layer (client/tcp.ts). */
  generatorTransport: string;
  selfCheck: SeriesReport | undefined;
  series: SeriesReport[];
  conns: ConnsReport[];
  /** The reconnect storm after a drain (no threshold). */
  recovery: RecoveryReport[];
  thresholds: ThresholdResult[];
  /** PASS unless a threshold failed; "no thresholds" when none were asserted. */
  verdict: "PASS" | "FAIL" | "no thresholds";
}

function table(head: string[], rows: string[][]): string {
  return [
    `| ${head.join(" | ")} |`,
    `| ${head.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

function stepRows(s: SeriesReport): string[][] {
  return s.steps.map((x) => [
    String(x.rate),
    x.sentRate.toFixed(0),
    fmtRate(x.offered),
    fmtRate(x.deliveries),
    fmtPct(x.deliveredRatio),
    fmtMs(x.latency.p50),
    fmtMs(x.latency.p99),
    fmtMs(x.latency.p999),
    fmtCores(x.serverCpu),
    x.serverRssMiB.toFixed(0),
    fmtRate(x.perCpuSecond),
    fmtCores(x.generatorCpu),
    fmtCores(x.busCpu),
    fmtCores(x.machineCpu),
    fmtCores(x.otherCpu),
    x.pass ? "ok" : `**${x.reasons.join("; ")}**`,
  ]);
}

const STEP_HEAD = [
  "ev/s",
  "sent ev/s",
  "offered/s",
  "deliveries/s",
  "delivered (of sent)",
  "p50 ms",
  "p99 ms",
  "p99.9 ms",
  "server CPU",
  "RSS MiB",
  "per CPU-s",
  "gen CPU",
  "bus CPU",
  "machine",
  "other",
  "",
];

function seriesSection(s: SeriesReport): string {
  const lines = [`#### ${s.label}`, ""];
  if (s.setup) {
    lines.push(
      `${s.setup.ready}/${s.clients} clients connected in ${(s.setup.ms / 1000).toFixed(2)} s (${fmtRate(s.setup.perSecond)}/s)` +
        (s.launcher ? `; edge started via ${s.launcher}` : "") +
        ".",
      "",
    );
  }
  if (s.error) lines.push(`**Did not complete:** ${s.error}`, "");
  if (s.steps.length > 0) {
    lines.push(table(STEP_HEAD, stepRows(s)), "");
    lines.push(
      `Max sustained: **${fmtRate(s.maxSustained)}/s** (peak measured ${fmtRate(s.peak)}/s). Limited by: ${s.limitedBy}.`,
      "",
    );
  }
  return lines.join("\n");
}

function summaryRows(all: SeriesReport[]): string[][] {
  return all.map((s) => {
    const eff = efficiencyStep(s);
    return [
      s.scenario,
      s.label,
      s.error ? "error" : fmtRate(s.maxSustained),
      fmtRate(s.peak),
      fmtMs(s.sustainedStep?.latency.p99),
      eff ? fmtRate(eff.perCpuSecond) : "-",
      s.error ? s.error.slice(0, 80) : (s.limitedBy.split(" [")[0] ?? ""),
    ];
  });
}

function dist(d: Distribution): string {
  return d.samples === 0
    ? "-"
    : `${fmtMs(d.p50)} / ${fmtMs(d.p95)} / ${fmtMs(d.p99)} / ${fmtMs(d.max)}`;
}

/** The reconnect storm: one table of figures, no threshold. */
function recoverySection(c: RecoveryReport): string {
  const lines = ["## Reconnect storm after a drain (recovery)", ""];
  lines.push(
    `${c.clients} Socket.IO clients (one user each, ${c.setup?.ready ?? 0} connected) in one room on node A of 2 edge nodes ` +
      "(CLI, `HISTORY=jetstream` on a JetStream NATS server of their own), " +
      `${c.rate} events/s published to the room throughout. Node A gets SIGTERM (\`DRAIN_SECONDS=${c.drainSeconds}\`: ` +
      "clients closed with 1001 over the window); each client reconnects at once to node B with " +
      "`auth: {token, pid, offset}` (pid from its CONNECT reply, offset the last argument of its last event), " +
      "as socket.io-client does. Recovered: the CONNECT reply carries the same pid (socket.io-client's " +
      "`socket.recovered`). Missed: offsets never received, counted per client from its first event to the " +
      "last offset published. Replayed: events received after a recovered CONNECT that were published before it. " +
      "No threshold.",
    "",
  );
  if (c.error) lines.push(`**Did not complete:** ${c.error}`, "");
  const codes = Object.entries(c.closeCodes)
    .map(([k, v]) => `${v} x ${k}`)
    .join(", ");
  lines.push(
    table(
      ["figure", "value"],
      [
        ["closed by node A (close codes)", `${c.closed}/${c.clients} (${codes || "-"})`],
        ["closes seen, from SIGTERM", `${fmtMs(c.firstCloseMs)} to ${fmtMs(c.lastCloseMs)} ms`],
        ["back on node B", `${c.back}/${c.clients}`],
        [
          "recovered (same pid) / not recovered",
          `**${c.recovered}** / ${c.notRecovered}` +
            (c.recoveredOtherSid > 0
              ? ` (**${c.recoveredOtherSid} recovered with another sid**)`
              : ""),
        ],
        [
          `failed to come back (bound: ${c.timeoutSeconds} s)`,
          c.failed > 0 ? `**${c.failed}**: ${c.failures.join("; ")}` : "0",
        ],
        [
          "reconnect time, close to CONNECT reply on B: p50 / p95 / p99 / max ms",
          dist(c.reconnectMs),
        ],
        [
          "catch-up time, close to last replayed event: p50 / p95 / p99 / max ms",
          dist(c.catchUpMs),
        ],
        [
          "storm: SIGTERM to every client back or failed / to the last client back and replayed",
          `${fmtMs(c.stormMs)} / ${c.back > 0 ? fmtMs(c.lastBackMs) : "-"} ms`,
        ],
        [
          "events missed by recovered clients",
          c.missedRecovered > 0
            ? `**${c.missedRecovered}** (${c.recoveredClientsMissing} clients)`
            : "0",
        ],
        ["events missed by clients not recovered (new session)", String(c.missedNotRecovered)],
        ["events missed on node A before the drain", String(c.missedOnA)],
        ["duplicates", c.duplicates > 0 ? `**${c.duplicates}**` : "0"],
        [
          "events replayed (max per client)",
          `${c.replayed} (${c.replayedMaxPerClient}), ${fmtRate(c.replayPerSecond)}/s over the storm`,
        ],
        ["events published / highest offset a client saw", `${c.published} / ${c.finalOffset}`],
        [
          "node B CPU: storm / after (the clients back on B, replays still running included)",
          `${fmtCores(c.nodeBCpuStorm)} / ${fmtCores(c.nodeBCpuAfter)}; ${c.nodeBCpuUsPerReconnect.toFixed(0)} µs per reconnecting client (storm CPU incl. fan-out); RSS ${c.nodeBRssMiB.toFixed(0)} MiB`,
        ],
        [
          "storm CPU: node A (until it exited) / NATS / generator / publisher; machine busy (other)",
          `${fmtCores(c.nodeACpu)} / ${fmtCores(c.busCpu)} / ${fmtCores(c.generatorCpu)} / ${fmtCores(c.publisherCpu)}; ` +
            `${fmtCores(c.machineCpu)} (${fmtCores(c.otherCpu)})`,
        ],
      ],
    ),
    "",
  );
  return lines.join("\n");
}

export function renderMarkdown(r: RunReport): string {
  const m = r.machine;
  const o = r.options;
  const out: string[] = [];
  out.push(`# CalcBridge Realtime bench: ${r.startedAt.slice(0, 10)} @ ${m.revision}`, "");
  out.push(
    `Machine: ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, ${m.platform}, Node ${m.node}, ${m.nats}, ${m.redis}. ` +
      `Run ${r.startedAt} to ${r.finishedAt}${o.quick ? " (**--quick** smoke run: not a measurement)" : ""}.`,
    "",
  );
  out.push(
    `Load: ${o.clients} clients per fan-out (${o.roomsClients} in rooms, ${o.connsClients} in conns), ` +
      `~${o.frameBytes}-byte Socket.IO frames (\`job.progress\` to \`job:bench\`, tenant \`bench\`), ` +
      `${o.workers} generator worker process(es) (clients on ${r.generatorTransport}; conns: at most one worker per core the server leaves free); per step ${o.warmupMs} ms warm-up, ${o.windowMs} ms measured, ` +
      `stepping up until a step delivers < 95% of what the publisher sent in the window, loses > 5%, has p99 > 1 s, ` +
      `or has the server close a connection; max sustained is the best passing step's deliveries/s, capped at what was offered in its window. ` +
      `Latency: one event in ${o.sampleEvery}, publisher send time to client receipt, ${r.histogramLibrary}. ` +
      `CPU and RSS from /proc/<pid>/stat and /status (server CPU: 100% = one core).`,
    "",
  );
  out.push(
    `Edge: started via ${r.edge.launcher}${r.edge.note ? ` (${r.edge.note})` : ""}, with \`HISTORY=off\` ` +
      "(the bare fan-out path) except in the series marked HISTORY=jetstream. " +
      '"other" CPU: busy cores that no process of this run accounts for (other load on a shared machine).',
    "",
  );

  if (r.thresholds.length > 0) {
    out.push(`## Thresholds: ${r.verdict}`, "");
    out.push(
      table(
        ["", "threshold", "figure", "needed", "ratio", "note"],
        r.thresholds.map((t) => [
          t.verdict === "PASS" ? "PASS" : t.verdict === "FAIL" ? "**FAIL**" : "SKIP",
          t.name,
          t.figure,
          t.threshold,
          t.ratio ?? "",
          t.note ?? "",
        ]),
      ),
      "",
    );
  } else out.push("## Thresholds: not asserted in this run", "");

  const all = [...(r.selfCheck ? [r.selfCheck] : []), ...r.series];
  out.push("## Summary", "");
  out.push(
    table(
      [
        "scenario",
        "server",
        "max sustained deliveries/s",
        "peak/s",
        "p99 ms at max",
        "per server CPU-s",
        "limited by",
      ],
      summaryRows(all),
    ),
    "",
  );
  if (r.selfCheck) {
    const best = r.series.reduce<SeriesReport | undefined>(
      (b, s) =>
        s.error === undefined && (b === undefined || s.maxSustained > b.maxSustained) ? s : b,
      undefined,
    );
    out.push(
      `Generator ceiling: the self-check sustained **${fmtRate(r.selfCheck.maxSustained)}/s** (${r.selfCheck.limitedBy.split(" [")[0]}); ` +
        (best !== undefined && best.maxSustained > r.selfCheck.maxSustained
          ? `the clients took **${fmtRate(best.maxSustained)}/s** from "${best.label}" in this run, so the generator's ceiling is at least that. `
          : "") +
        `${o.workers} worker process(es), sharing the machine's ${m.cores} cores with the server under test. ` +
        "A server figure near the ceiling says more about the generator than the server.",
      "",
    );
  }
  if (r.conns.length > 0) {
    out.push("## Idle connections (conns)", "");
    out.push(
      table(
        [
          "server",
          "connections",
          "setup/s",
          "server CPU µs/conn",
          "generator CPU µs/conn",
          "generator workers",
          "machine busy",
          "RSS before (GC)",
          "RSS after (GC)",
          "RSS per connection",
          "per connection without that GC",
          "note",
        ],
        r.conns.map((c) => [
          c.server + (c.launcher ? ` (${c.launcher})` : ""),
          `${c.setup?.ready ?? 0}/${c.clients}`,
          c.setup ? fmtRate(c.setup.perSecond) : "-",
          c.serverCpuUsPerConnection.toFixed(0),
          c.generatorCpuUsPerConnection.toFixed(0),
          String(c.workers),
          fmtCores(c.machineCpuDuringSetup),
          fmtBytes(c.rssBeforeBytes),
          fmtBytes(c.rssAfterBytes),
          fmtBytes(c.perConnectionBytes),
          fmtBytes(c.perConnectionNoGcBytes),
          c.error ?? "",
        ]),
      ),
      "",
    );
  }
  if (r.conns.length > 0) {
    out.push(
      "RSS is read after a full garbage collection in the server (through its inspector, " +
        "`HeapProfiler.collectGarbage`) before the connections and after them; the last " +
        "column reads it after the settle period without that GC (uncollected garbage included).",
      "",
    );
  }
  for (const c of r.recovery) out.push(recoverySection(c));
  out.push("## Steps", "");
  for (const s of all) out.push(seriesSection(s));
  return out.join("\n");
}
