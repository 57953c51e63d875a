import type { StepResult } from "../scenarios/stepper.js";
import { fmtRate } from "./format.js";

/** Progress on the terminal while a run goes: one line per second, one per finished step. */
export class Progress {
  constructor(private readonly out: NodeJS.WritableStream = process.stderr) {}

  line(text: string): void {
    this.out.write(`${text}\n`);
  }

  section(title: string): void {
    this.out.write(`\n== ${title}\n`);
  }

  tick(
    label: string,
    rate: number,
    offered: number,
    measured: number,
    p99: number,
    open: number,
  ): void {
    const pct = offered > 0 ? ((measured / offered) * 100).toFixed(1) : "-";
    this.out.write(
      `  ${label} | ${rate} ev/s | offered ${fmtRate(offered)}/s | now ${fmtRate(measured)}/s (${pct}%) | p99 ${p99} ms | ${open} open\n`,
    );
  }

  step(label: string, s: StepResult): void {
    this.out.write(
      `  ${s.pass ? "ok  " : "FAIL"} ${label} | ${s.rate} ev/s | ${fmtRate(s.deliveries)}/s (${(s.deliveredRatio * 100).toFixed(1)}%) | ` +
        `p50 ${s.latency.p50} p99 ${s.latency.p99} p99.9 ${s.latency.p999} ms | server ${Math.round(s.serverCpu * 100)}% CPU ` +
        `${s.serverRssMiB.toFixed(0)} MiB | ${fmtRate(s.perCpuSecond)}/CPU-s` +
        `${s.reasons.length ? ` | ${s.reasons.join("; ")}` : ""}\n`,
    );
  }
}
