/**
 * Helpers of the operations tests: a small reader of the Prometheus text
 * exposition format, scrapes, the edge CLI as a child process (tracked by
 * PID, ended at teardown) and a log capture stream.
 */
import type { ChildProcess } from "node:child_process";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { processes, waitFor, waitForExit } from "@calcbridge/testing";
import type { Teardown } from "./helpers.js";

/** The edge CLI, compiled: this file is `dist/test/ops-helpers.js`. */
export const CLI_PATH = fileURLToPath(new URL("../src/cli.js", import.meta.url));

/** Bound of the wait for a child edge node to answer `/readyz` with 200. */
export const CLI_START_TIMEOUT_MS = 15_000;

// ------------------------------------------------------------- Prometheus

/** One sample line: `name{label="value",...} value`. */
export interface Sample {
  name: string;
  labels: Readonly<Record<string, string>>;
  value: number;
}

/** A parsed scrape: its samples and the `# TYPE` of each metric family. */
export interface Scrape {
  samples: Sample[];
  types: ReadonlyMap<string, string>;
  text: string;
}

/**
 * Parses the Prometheus text exposition format (version 0.0.4) as prom-client
 * writes it: `# HELP`/`# TYPE` comments, then `name{labels} value` lines with
 * `\\`, `\"` and `\n` escapes in label values. Throws on a line it cannot read,
 * so a malformed exposition fails the test that scraped it.
 */
export function parsePrometheusText(text: string): Scrape {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const [index, line] of text.split("\n").entries()) {
    if (line.trim() === "") continue;
    if (line.startsWith("#")) {
      const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
      if (type) types.set(type[1]!, type[2]!);
      continue;
    }
    const sample = parseSampleLine(line);
    if (sample === undefined) throw new Error(`line ${index + 1} is not a sample: ${line}`);
    samples.push(sample);
  }
  return { samples, types, text };
}

function parseSampleLine(line: string): Sample | undefined {
  const name = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(line)?.[0];
  if (name === undefined) return undefined;
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === "{") {
    i++;
    for (;;) {
      if (line[i] === "}") {
        i++;
        break;
      }
      const key = /^[A-Za-z_][A-Za-z0-9_]*/.exec(line.slice(i))?.[0];
      if (key === undefined || line.slice(i + key.length, i + key.length + 2) !== '="') {
        return undefined;
      }
      i += key.length + 2;
      let value = "";
      for (;;) {
        const c = line[i];
        if (c === undefined) return undefined;
        if (c === '"') break;
        if (c === "\\") {
          const next = line[i + 1];
          value += next === "n" ? "\n" : (next ?? "");
          i += 2;
          continue;
        }
        value += c;
        i++;
      }
      i++;
      labels[key] = value;
      if (line[i] === ",") i++;
    }
  }
  const rest = line.slice(i).trim().split(/\s+/);
  const raw = rest[0];
  if (raw === undefined || rest.length > 2) return undefined;
  // Prometheus reads values with Go's ParseFloat: "NaN" in any case (prom-client writes "Nan").
  const nan = /^nan$/i.test(raw);
  const value = raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : nan ? NaN : Number(raw);
  if (!nan && Number.isNaN(value)) return undefined;
  return { name, labels, value };
}

/** Whether `sample` has every label of `labels` with that value. */
export function hasLabels(sample: Sample, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(labels).every(([k, v]) => sample.labels[k] === v);
}

/** Samples of `name` whose labels include `labels`. */
export function samplesOf(
  scrape: Scrape,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): Sample[] {
  return scrape.samples.filter((s) => s.name === name && hasLabels(s, labels));
}

/**
 * The sum of the samples of `name` whose labels include `labels`; 0 when
 * there is none (prom-client leaves out a labelled counter never incremented).
 */
export function valueOf(
  scrape: Scrape,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  return samplesOf(scrape, name, labels).reduce((sum, s) => sum + s.value, 0);
}

/** `after - before` of {@link valueOf}. */
export function delta(
  before: Scrape,
  after: Scrape,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  return valueOf(after, name, labels) - valueOf(before, name, labels);
}

/**
 * Every sample of `name` as `labelA=x,labelB=y -> value` (the `node` label
 * left out), for comparing a whole metric family at once.
 */
export function familyOf(scrape: Scrape, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samplesOf(scrape, name)) {
    const key = Object.entries(s.labels)
      .filter(([k]) => k !== "node")
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
}

/** The response of one plain HTTP GET on 127.0.0.1 (no keep-alive). */
export interface HttpAnswer {
  status: number;
  body: string;
  contentType: string | null;
}

/** `GET http://127.0.0.1:<port><path>` without keep-alive, bounded by `timeoutMs`. */
export async function httpGet(port: number, path: string, timeoutMs = 3000): Promise<HttpAnswer> {
  // No keep-alive: a pooled socket would outlive a node that closes.
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    headers: { connection: "close" },
    signal: AbortSignal.timeout(timeoutMs),
  });
  return {
    status: res.status,
    body: await res.text(),
    contentType: res.headers.get("content-type"),
  };
}

/** Scrapes `/metrics` on `port` and parses it; fails on anything but a 200. */
export async function scrape(port: number): Promise<Scrape> {
  const res = await httpGet(port, "/metrics");
  if (res.status !== 200) throw new Error(`GET /metrics on ${port}: HTTP ${res.status}`);
  return parsePrometheusText(res.body);
}

// ------------------------------------------------------------------- logs

/** A writable stream that keeps every line written to it (pino's destination in tests). */
export class LineCapture extends Writable {
  readonly lines: string[] = [];
  private partial = "";

  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    this.partial += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    let nl: number;
    while ((nl = this.partial.indexOf("\n")) >= 0) {
      this.lines.push(this.partial.slice(0, nl));
      this.partial = this.partial.slice(nl + 1);
    }
    done();
  }

  /** Everything written so far, the unfinished last line included. */
  get text(): string {
    return this.lines.join("\n") + (this.partial === "" ? "" : `\n${this.partial}`);
  }
}

// -------------------------------------------------------------------- CLI

/** A `calcbridge-edge` child process. */
export interface CliProcess {
  child: ChildProcess;
  pid: number;
  /** The port it listens on (PORT). */
  port: number;
  stdout(): string;
  stderr(): string;
  /** Resolves once it exited: the exit code (null if killed by a signal) and when. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Sends `sig` to this PID (only this one); returns Date.now() just before. */
  signal(sig: NodeJS.Signals): number;
}

/** The environment of a child edge node: PATH (and TMPDIR) plus `env`, nothing else inherited. */
export function cliEnv(env: Readonly<Record<string, string>>): Record<string, string> {
  return {
    PATH: process.env["PATH"] ?? "/usr/bin:/bin",
    ...(process.env["TMPDIR"] !== undefined ? { TMPDIR: process.env["TMPDIR"] } : {}),
    ...env,
  };
}

/**
 * Starts the CLI with `env` (see {@link cliEnv}; `PORT` and `HOST` must be
 * in it) and waits until `/readyz` answers 200. Terminated by PID at teardown.
 */
export async function startCli(
  t: Teardown,
  env: Readonly<Record<string, string>>,
): Promise<CliProcess> {
  const port = Number(env["PORT"]);
  if (!Number.isInteger(port) || port <= 0) throw new Error("startCli: give PORT a free port");
  const child = processes.spawn(process.execPath, [CLI_PATH], {
    env: cliEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  t.teardown(() => processes.terminate(child, 3000));
  let out = "";
  let err = "";
  child.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
  child.stderr?.on("data", (chunk: Buffer) => (err += chunk.toString("utf8")));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>(
    (resolve) => child.once("exit", (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  const pid = child.pid!;
  const cli: CliProcess = {
    child,
    pid,
    port,
    stdout: () => out,
    stderr: () => err,
    exited,
    signal: (sig) => {
      const at = Date.now();
      process.kill(pid, sig);
      return at;
    },
  };
  try {
    const state = await waitFor(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) return "exited";
        return (await httpGet(port, "/readyz", 1000)).status === 200 && "ready";
      },
      { timeout: CLI_START_TIMEOUT_MS, interval: 50, message: `edge CLI ready on ${port}` },
    );
    if (state === "exited")
      throw new Error(`the edge CLI exited (${child.exitCode ?? child.signalCode})`);
  } catch (e) {
    await processes.terminate(child, 1000);
    throw new Error(`${(e as Error).message}\n--- stdout ---\n${out}\n--- stderr ---\n${err}`, {
      cause: e,
    });
  }
  return cli;
}

/** The outcome of a CLI run that ends by itself. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI with `args` and `env` until it exits by itself; SIGKILL by
 * PID (and a rejection) after `timeoutMs`.
 */
export async function runCli(
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  timeoutMs = 10_000,
): Promise<CliRun> {
  const child = processes.spawn(process.execPath, [CLI_PATH, ...args], {
    env: cliEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  const outcome = await Promise.race([waitForExit(child), timedOut]);
  clearTimeout(timer);
  if (outcome === "timeout") {
    await processes.kill(child);
    throw new Error(
      `calcbridge-edge ${args.join(" ")} did not exit within ${timeoutMs} ms\n${stdout}\n${stderr}`,
    );
  }
  // Let the pipes deliver their last chunks.
  await Promise.all(
    [child.stdout, child.stderr].map(
      (s) =>
        new Promise<void>((resolve) =>
          s === null || s.readableEnded ? resolve() : s.once("end", () => resolve()),
        ),
    ),
  );
  return { code: child.exitCode, stdout, stderr };
}

/** Log lines of `text` that are JSON objects (pino's), parsed; other lines are left out. */
export function jsonLines(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    out.push(JSON.parse(line) as Record<string, unknown>);
  }
  return out;
}
