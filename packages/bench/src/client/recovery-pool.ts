import { fileURLToPath } from "node:url";
import { WorkerHandle, openOnWorkers, type OpenResult } from "./pool.js";
import type { RecoveryRecord } from "./recovery-client.js";
import type {
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
  open(options: RecoveryOpenOptions): Promise<OpenResult> {
    return openOnWorkers(this.workers, options, (o) => ({ ...o, t: "prepare" as const }));
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
