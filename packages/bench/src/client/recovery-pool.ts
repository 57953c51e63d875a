import { fileURLToPath } from "node:url";
import type { OpenResult } from "./pool.js";
import { WorkerHandle } from "./pool.js";
import type { RecoveryRecord } from "./recovery-client.js";
import type {
  RecoveryOpenReply,
  RecoveryOpenRequest,
  RecoveryReportReply,
  RecoveryStatsReply,
  RecoveryWorkerReply,
  RecoveryWorkerRequest,
} from "./recovery-messages.js";

const WORKER = fileURLToPath(new URL("./recovery-worker.js", import.meta.url));

/** Sum of every recovery worker's counters at one moment. */
export type RecoveryPoolStats = Omit<RecoveryStatsReply, "t" | "id">;

export type RecoveryOpenOptions = Omit<RecoveryOpenRequest, "t" | "id" | "firstIndex">;

/** The recovery scenario's clients, over `workers` forked processes. */
export class RecoveryPool {
  private constructor(
    private readonly workers: WorkerHandle<RecoveryWorkerRequest, RecoveryWorkerReply>[],
  ) {}

  static start(workers: number): RecoveryPool {
    const handles = [];
    for (let i = 0; i < workers; i++)
      handles.push(WorkerHandle.fork<RecoveryWorkerRequest, RecoveryWorkerReply>(WORKER));
    return new RecoveryPool(handles);
  }

  get pids(): number[] {
    return this.workers.map((w) => w.child.pid ?? -1);
  }

  /** Opens `count` clients to node A, split evenly over the workers. */
  async open(options: RecoveryOpenOptions): Promise<OpenResult> {
    const n = this.workers.length;
    const started = performance.now();
    const replies = await Promise.all(
      this.workers.map((w, k) => {
        const firstIndex = Math.floor((options.count * k) / n);
        const count = Math.floor((options.count * (k + 1)) / n) - firstIndex;
        return w.request<RecoveryOpenReply>(
          { ...options, t: "open", firstIndex, count },
          options.timeoutMs + 60_000,
        );
      }),
    );
    const wall = performance.now() - started;
    const ready = replies.reduce((s, r) => s + r.ready, 0);
    const ms = Math.max(...replies.map((r) => r.ms));
    return {
      ready,
      failed: replies.reduce((s, r) => s + r.failed, 0),
      failures: replies.flatMap((r) => r.failures).slice(0, 5),
      ms: ms > 0 ? ms : wall,
      perSecond: ms > 0 ? (ready * 1000) / ms : 0,
      cpuUs: replies.reduce((s, r) => s + r.cpuUs, 0),
    };
  }

  async stats(): Promise<RecoveryPoolStats> {
    const replies = await Promise.all(
      this.workers.map((w) => w.request<RecoveryStatsReply>({ t: "stats" })),
    );
    const sum = (f: (r: RecoveryStatsReply) => number) => replies.reduce((s, r) => s + f(r), 0);
    const withClients = replies.filter((r) => r.maxOffset > 0);
    return {
      at: sum((r) => r.at) / replies.length,
      onA: sum((r) => r.onA),
      closed: sum((r) => r.closed),
      back: sum((r) => r.back),
      recovered: sum((r) => r.recovered),
      failed: sum((r) => r.failed),
      events: sum((r) => r.events),
      minOffset: withClients.length > 0 ? Math.min(...withClients.map((r) => r.minOffset)) : 0,
      maxOffset: Math.max(0, ...replies.map((r) => r.maxOffset)),
      cpuUs: sum((r) => r.cpuUs),
    };
  }

  /** Every client's record (all workers). */
  async report(): Promise<RecoveryRecord[]> {
    const replies = await Promise.all(
      this.workers.map((w) => w.request<RecoveryReportReply>({ t: "report" })),
    );
    return replies.flatMap((r) => r.records);
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
  }
}
