import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Anything with tap's `t.teardown`; keeps this package free of a tap dependency. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

/** How long `terminate` waits after SIGTERM before it sends SIGKILL. */
export const DEFAULT_KILL_GRACE_MS = 5000;

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves once `child` has exited (at once if it already has). */
export function waitForExit(child: ChildProcess): Promise<void> {
  if (exited(child)) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/**
 * Every process and temporary directory a test starts, so that all of them
 * end on teardown. Processes are signalled by PID, never by name, so a test
 * cannot end anything it did not start. Whatever is still alive when the
 * Node process exits gets SIGKILL from an `exit` hook.
 *
 * ```ts
 * import t from "tap";
 * import { processes, startNats } from "@calcbridge/testing";
 *
 * const nats = await startNats({ t });         // stopped on t's teardown
 * // or, for everything this file started:
 * t.teardown(() => processes.stopAll());
 * ```
 */
export class ProcessTracker {
  readonly #live = new Map<number, ChildProcess>();
  readonly #dirs = new Set<string>();
  #hooked = false;

  /** PIDs of the tracked processes that have not exited. */
  get pids(): number[] {
    return [...this.#live.keys()];
  }

  /** `child_process.spawn`, tracked. Throws if the process could not get a PID. */
  spawn(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const child = spawn(command, args, options);
    if (child.pid === undefined) {
      // spawn reports ENOENT and friends asynchronously; keep the error from going unhandled.
      child.once("error", () => {});
      throw new Error(`could not start ${command}: no PID (is it installed and executable?)`);
    }
    return this.track(child);
  }

  /** Starts tracking a child started elsewhere. */
  track(child: ChildProcess): ChildProcess {
    const pid = child.pid;
    if (pid === undefined || exited(child)) return child;
    this.#hook();
    this.#live.set(pid, child);
    child.once("exit", () => this.#live.delete(pid));
    return child;
  }

  /** A fresh directory under the OS temp dir, removed by `stopAll` or at exit. */
  tempDir(prefix = "calcbridge-test-"): string {
    this.#hook();
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.#dirs.add(dir);
    return dir;
  }

  /** SIGTERM by PID, wait for exit, SIGKILL after `graceMs`. */
  async terminate(child: ChildProcess, graceMs = DEFAULT_KILL_GRACE_MS): Promise<void> {
    if (exited(child) || child.pid === undefined) return;
    const done = waitForExit(child);
    signal(child.pid, "SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const forced = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), graceMs);
    });
    const outcome = await Promise.race([done, forced]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      signal(child.pid, "SIGKILL");
      await done;
    }
  }

  /** SIGKILL by PID and wait for exit. */
  async kill(child: ChildProcess): Promise<void> {
    if (exited(child) || child.pid === undefined) return;
    const done = waitForExit(child);
    signal(child.pid, "SIGKILL");
    await done;
  }

  /** Terminates every tracked process and removes every temporary directory. */
  async stopAll(graceMs = DEFAULT_KILL_GRACE_MS): Promise<void> {
    await Promise.all([...this.#live.values()].map((child) => this.terminate(child, graceMs)));
    for (const dir of this.#dirs) rmSync(dir, { recursive: true, force: true });
    this.#dirs.clear();
  }

  #hook(): void {
    if (this.#hooked) return;
    this.#hooked = true;
    // Only synchronous work is possible in an exit hook.
    process.once("exit", () => {
      for (const pid of this.#live.keys()) signal(pid, "SIGKILL");
      for (const dir of this.#dirs) rmSync(dir, { recursive: true, force: true });
    });
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    // ESRCH: it exited between our check and the signal.
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

/** The tracker the helpers use unless given another. */
export const processes = new ProcessTracker();
