import { inspectorUrl } from "./inspector.js";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { setTimeout as delay } from "node:timers/promises";

/*
 * Child processes of a run (servers, publishers, redis) and their cost as
 * Linux accounts it: CPU from /proc/<pid>/stat (utime + stime, clock ticks),
 * memory from /proc/<pid>/status (VmRSS). Every process is ended by its PID.
 */

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ; 100 on Linux x86 and arm). */
const CLK_TCK = 100;

export interface ProcSample {
  /** CPU seconds used so far (user + system). */
  cpuSec: number;
  /** Resident set, bytes. */
  rssBytes: number;
}

/** CPU and RSS of a process now; undefined once it is gone. */
export function sampleProc(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, "latin1");
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return { cpuSec: (utime + stime) / CLK_TCK, rssBytes: m ? Number(m[1]) * 1024 : 0 };
  } catch {
    return undefined;
  }
}

/** Sum over several processes (a cluster's nodes). */
export function sampleProcs(pids: readonly number[]): ProcSample {
  let cpuSec = 0;
  let rssBytes = 0;
  for (const pid of pids) {
    const s = sampleProc(pid);
    if (s === undefined) continue;
    cpuSec += s.cpuSec;
    rssBytes += s.rssBytes;
  }
  return { cpuSec, rssBytes };
}

const MAX_OUTPUT = 32 * 1024;

/** A child process of the run with its recent output kept for error messages. */
export class Child {
  private output = "";
  exitCode: number | null = null;
  exited = false;
  /** The inspector's URL, when the process was started with `--inspect`. */
  inspector: string | undefined;
  private readonly exitPromise: Promise<void>;

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    const keep = (chunk: Buffer) => {
      this.output += chunk.toString("utf8");
      this.inspector ??= inspectorUrl(this.output);
      if (this.output.length > MAX_OUTPUT) this.output = this.output.slice(-MAX_OUTPUT);
    };
    proc.stdout?.on("data", keep);
    proc.stderr?.on("data", keep);
    this.exitPromise = new Promise((resolve) =>
      proc.once("exit", (code) => {
        this.exited = true;
        this.exitCode = code;
        resolve();
      }),
    );
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  recentOutput(): string {
    return this.output.trim().split("\n").slice(-20).join("\n");
  }

  /** Resolves with the first stdout/stderr line matching `re`; rejects on exit or timeout. */
  waitForLine(re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      let buffered = "";
      const onData = (chunk: Buffer) => {
        buffered += chunk.toString("utf8");
        const m = re.exec(buffered);
        if (m) {
          cleanup();
          resolve(m);
        }
      };
      const onExit = () => {
        cleanup();
        reject(
          new Error(
            `${this.name} exited (${this.proc.exitCode}) before it was ready:\n${this.recentOutput()}`,
          ),
        );
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.name} not ready within ${timeoutMs} ms:\n${this.recentOutput()}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.proc.stdout?.off("data", onData);
        this.proc.stderr?.off("data", onData);
        this.proc.off("exit", onExit);
      };
      this.proc.stdout?.on("data", onData);
      this.proc.stderr?.on("data", onData);
      this.proc.once("exit", onExit);
      onData(Buffer.alloc(0));
    });
  }

  /** SIGTERM by PID, then SIGKILL after `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.exited || this.proc.pid === undefined) return;
    try {
      process.kill(this.proc.pid, "SIGTERM");
    } catch {
      return;
    }
    const killed = await Promise.race([
      this.exitPromise.then(() => true),
      delay(graceMs).then(() => false),
    ]);
    if (!killed && !this.exited) {
      try {
        process.kill(this.proc.pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
      await Promise.race([this.exitPromise, delay(2000)]);
    }
  }
}

/** Every process this run started, so that all of them end, whatever happens. */
export class ProcessSet {
  private readonly children = new Set<Child>();

  spawn(
    name: string,
    command: string,
    args: string[],
    env: Record<string, string | undefined> = {},
  ): Child {
    const proc = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const child = new Child(name, proc);
    this.children.add(child);
    proc.once("exit", () => this.children.delete(child));
    return child;
  }

  /** A Node.js script of this package (compiled path) as a child. */
  node(
    name: string,
    script: string,
    args: string[] = [],
    env: Record<string, string | undefined> = {},
    execArgv: string[] = [],
  ): Child {
    return this.spawn(name, process.execPath, [...execArgv, script, ...args], env);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.children].map((c) => c.stop()));
  }

  /** Synchronous last resort on exit: SIGKILL by PID. */
  killAllSync(): void {
    for (const c of this.children) {
      if (!c.exited && c.proc.pid !== undefined) {
        try {
          process.kill(c.proc.pid, "SIGKILL");
        } catch {
          // gone
        }
      }
    }
  }
}

/** Polls `url` until it answers 2xx (bounded by `timeoutMs`). */
export async function waitForHttp(url: string, timeoutMs: number, child?: Child): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    if (child?.exited)
      throw new Error(`${child.name} exited (${child.exitCode}):\n${child.recentOutput()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await delay(50);
  }
  throw new Error(
    `${url} not ready within ${timeoutMs} ms (${last})${child ? `:\n${child.recentOutput()}` : ""}`,
  );
}
