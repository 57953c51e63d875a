import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { PublisherReply, PublisherRequest, PublisherSetup } from "./messages.js";

const MAIN = fileURLToPath(new URL("./main.js", import.meta.url));

export interface RunResult {
  sent: number;
  seconds: number;
  /** Worst lag of the pacer behind its schedule, ms (a publisher that cannot keep up shows here). */
  maxLagMs: number;
}

type OmitEach<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** The publisher process, driven over IPC. */
export class PublisherHandle {
  private nextId = 1;
  private readonly pending = new Map<number, (r: PublisherReply) => void>();

  private constructor(private readonly child: ChildProcess) {
    child.on("message", (r: PublisherReply) => {
      const resolve = this.pending.get(r.id);
      if (resolve === undefined) return;
      this.pending.delete(r.id);
      resolve(r);
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /**
   * Forks the publisher (or another script that speaks its protocol, such as
   * the self-check server) and sets it up.
   */
  static async start(
    setup: PublisherSetup,
    script: string = MAIN,
    env: Record<string, string> = {},
  ): Promise<PublisherHandle> {
    const child = fork(script, [], {
      stdio: ["ignore", "pipe", "inherit", "ipc"],
      env: { ...process.env, ...env },
    });
    child.stdout?.resume();
    const handle = new PublisherHandle(child);
    const r = await handle.request({ t: "setup", setup }, 15_000);
    if (r.t === "error") {
      await handle.stop();
      throw new Error(`publisher setup failed: ${r.message}`);
    }
    return handle;
  }

  private request(
    req: OmitEach<Extract<PublisherRequest, { id: number }>, "id">,
    timeoutMs: number,
  ): Promise<PublisherReply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`publisher did not answer ${req.t} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.child.send({ ...req, id } as PublisherRequest);
    });
  }

  /** Offers `rate` events/s for `durationMs`; resolves when done. */
  async run(rate: number, durationMs: number): Promise<RunResult> {
    const r = await this.request({ t: "run", rate, durationMs }, durationMs + 30_000);
    if (r.t !== "ran")
      throw new Error(`publisher run failed: ${r.t === "error" ? r.message : r.t}`);
    return { sent: r.sent, seconds: r.seconds, maxLagMs: r.maxLagMs };
  }

  /** Ends the current `run` early (it then resolves with what was sent). */
  halt(): void {
    try {
      this.child.send({ t: "stop" } satisfies PublisherRequest);
    } catch {
      // gone
    }
  }

  /** Events sent so far (all runs) and the publisher's clock, ms since the epoch. */
  async count(): Promise<{ sent: number; at: number }> {
    const r = await this.request({ t: "count" }, 10_000);
    if (r.t !== "count")
      throw new Error(`publisher count failed: ${r.t === "error" ? r.message : r.t}`);
    return { sent: r.sent, at: r.at };
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, "SIGKILL");
        resolve();
      }, 5000);
      child.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      try {
        child.send({ t: "exit" } satisfies PublisherRequest);
      } catch {
        // gone
      }
    });
  }
}
