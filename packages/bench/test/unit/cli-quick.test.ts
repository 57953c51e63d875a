import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import type { RunReport } from "../../src/report/markdown.js";

// `pnpm bench --quick` as CI would run it, so the bench cannot rot unseen:
// the CLI starts its own nats-server, the edge, the publisher and the
// generator's workers, runs fanout (both formats) and conns, and writes its
// report. A smoke run asserts no threshold; it fails only when a scenario
// could not run, and so does this test.

const CLI = fileURLToPath(new URL("../../src/cli.js", import.meta.url));

t.test(
  "pnpm bench --quick --scenario fanout,conns runs and reports",
  { timeout: 180_000 },
  async (t) => {
    const out = mkdtempSync(join(tmpdir(), "bench-quick-"));
    t.teardown(() => rmSync(out, { recursive: true, force: true }));
    const child = spawn(
      process.execPath,
      [CLI, "--quick", "--scenario", "fanout,conns", "--out", out],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const killer = setTimeout(() => child.kill("SIGKILL"), 170_000);
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    clearTimeout(killer);
    t.equal(code, 0, code === 0 ? "exit 0" : output.slice(-4000));
    t.match(output, /== summary/, "prints the summary");

    const files = readdirSync(out).sort();
    const stem = files.find((f) => f.endsWith("-quick.json"));
    t.ok(stem, `a -quick report (${files.join(", ")})`);
    t.ok(files.includes("latest-quick.md"), "latest-quick.md");
    t.notOk(files.includes("latest.md"), "a smoke run never replaces latest.md");
    const report = JSON.parse(readFileSync(join(out, stem!), "utf8")) as RunReport;
    t.equal(report.verdict, "no thresholds");
    t.same(
      report.series.map((s) => [s.scenario, s.label, s.error]),
      [
        ["fanout", "edge · Socket.IO · 1 node", undefined],
        ["fanout", "edge · raw · 1 node", undefined],
      ],
      "both wire formats ran",
    );
    for (const s of report.series) {
      // 200 clients at 50 events/s, then 200: at least the first step is sustained
      // (the second too on a quiet machine; other tests may share this one).
      t.ok(
        s.maxSustained > 0.9 * 200 * 50,
        `${s.label}: ${Math.round(s.maxSustained)} deliveries/s`,
      );
      t.ok(s.sustainedStep !== undefined && s.sustainedStep.latency.p99 > 0, `${s.label}: a p99`);
    }
    t.equal(report.conns.length, 1);
    const conns = report.conns[0]!;
    t.same(
      { server: conns.server, ready: conns.setup?.ready, failed: conns.setup?.failed },
      { server: "edge", ready: 200, failed: 0 },
      "conns: 200 authenticated connections",
    );
    t.ok(conns.rssAfterBytes > 0 && conns.rssBeforeBytes > 0, "conns: the server's RSS read");
    const md = readFileSync(join(out, stem!.replace(/\.json$/, ".md")), "utf8");
    t.match(md, /## Summary/);
    t.match(md, /## Idle connections \(conns\)/);
  },
);
