import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { decodeHistogram, newHistogram, summarize, type LatencySummary } from "./latency.js";
import type {
  HistReply,
  OpenReply,
  OpenRequest,
  PreparedReply,
  StartRequest,
  StatsReply,
  WorkerReply,
  WorkerRequest,
} from "./messages.js";

const WORKER = fileURLToPath(new URL("./worker.js", import.meta.url));
/** Bound on every IPC round trip to a worker. */
const REPLY_TIMEOUT_MS = 30_000;

/** Sum of every worker's counters at one moment. */
export interface PoolStats {
  /** Mean of the workers' clocks when read, ms since the epoch. */
  at: number;
  events: number;
  unsampled: number;
  open: number;
  closed: number;
  closeCodes: Record<string, number>;
  /** Generator CPU time so far, µs, all workers. */
  cpuUs: number;
}

export interface OpenResult {
  ready: number;
  failed: number;
  failures: string[];
  /** From the first worker's first connect to the last connection ready, ms. */
  ms: number;
  /** Connections made ready per second (all workers together). */
  perSecond: number;
  /** Generator CPU spent connecting (token signing excluded), µs. */
  cpuUs: number;
}

export type OpenOptions = Omit<OpenRequest, "t" | "id" | "firstIndex" | "count"> & {
  count: number;
};

/** Omit over each member of a union. */
export type OmitEach<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * One forked worker process, driven by request/reply over IPC: each request
 * carries an id its reply echoes. Shared by the generator's workers and the
 * recovery scenario's (`Req`/`Rep`: the protocol of the script forked).
 */
export class WorkerHandle<
  Req extends { t: string } = WorkerRequest,
  Rep extends { id: number } = WorkerReply,
> {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (r: Rep) => void; timer: NodeJS.Timeout }
  >();
  exited = false;

  constructor(readonly child: ChildProcess) {
    child.on("message", (msg: Rep) => {
      const p = this.pending.get(msg.id);
      if (p === undefined) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      p.resolve(msg);
    });
    child.on("exit", () => {
      this.exited = true;
    });
  }

  /** Forks `script` as a worker (JSON over IPC, output inherited). */
  static fork<Req extends { t: string }, Rep extends { id: number }>(
    script: string,
    env: Record<string, string> = {},
  ): WorkerHandle<Req, Rep> {
    const child = fork(script, [], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      serialization: "json",
    });
    return new WorkerHandle<Req, Rep>(child);
  }

  request<R extends Rep>(
    req: OmitEach<Exclude<Req, { t: "exit" }>, "id">,
    timeoutMs = REPLY_TIMEOUT_MS,
  ): Promise<R> {
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new Error(
            `generator worker ${this.child.pid} did not answer ${req.t} within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (r: Rep) => void, timer });
      this.child.send({ ...req, id });
    });
  }

  /** Ends the worker: an exit request, then SIGKILL by PID if it lingers. */
  stop(): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.exited) return resolve();
      const timer = setTimeout(() => {
        if (!this.exited && this.child.pid !== undefined) process.kill(this.child.pid, "SIGKILL");
        resolve();
      }, 5000);
      this.child.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      try {
        this.child.send({ t: "exit" });
      } catch {
        // already gone
      }
    });
  }
}

/** Bound on a worker's `prepare` (signing its tokens). */
const PREPARE_TIMEOUT_MS = 120_000;

/**
 * Opens `options.count` clients split evenly over `workers` and sums what
 * they answer. Each worker first prepares its share (`firstIndex`, `count`
 * and `concurrency` in the request `prepare` builds: tokens signed); then
 * all start at once,
 * after `onStart` (a scenario reads its "before" figures there). Shared by
 * the generator's pool and the recovery scenario's.
 */
export async function openOnWorkers<
  Req extends { t: string },
  Rep extends { id: number },
  O extends { count: number; concurrency: number; timeoutMs: number },
>(
  workers: readonly WorkerHandle<Req | StartRequest, Rep>[],
  options: O,
  prepare: (
    o: O & { firstIndex: number; count: number; concurrency: number },
  ) => OmitEach<Exclude<Req, { t: "exit" }>, "id">,
  onStart?: () => void,
): Promise<OpenResult> {
  const n = workers.length;
  await Promise.all(
    workers.map((w, k) => {
      const firstIndex = Math.floor((options.count * k) / n);
      const count = Math.floor((options.count * (k + 1)) / n) - firstIndex;
      // The concurrency is the pool's: each worker takes its share.
      const concurrency = Math.max(1, Math.ceil(options.concurrency / n));
      return w.request<Rep & PreparedReply>(
        prepare({ ...options, firstIndex, count, concurrency }),
        PREPARE_TIMEOUT_MS,
      );
    }),
  );
  onStart?.();
  const replies = await Promise.all(
    workers.map((w) => w.request<Rep & OpenReply>({ t: "start" }, options.timeoutMs + 60_000)),
  );
  const ready = replies.reduce((s, r) => s + r.ready, 0);
  const ms =
    Math.max(...replies.map((r) => r.lastReadyAt)) - Math.min(...replies.map((r) => r.startedAt));
  return {
    ready,
    failed: replies.reduce((s, r) => s + r.failed, 0),
    failures: replies.flatMap((r) => r.failures).slice(0, 5),
    ms,
    perSecond: ready > 0 && ms > 0 ? (ready * 1000) / ms : 0,
    cpuUs: replies.reduce((s, r) => s + r.cpuUs, 0),
  };
}

/**
 * The load generator: `workers` forked processes, each holding its share of
 * the connections. Counters and histograms are summed here.
 */
export class ClientPool {
  private readonly workers: WorkerHandle[];

  private constructor(workers: WorkerHandle[]) {
    this.workers = workers;
  }

  static start(workers: number, env: Record<string, string> = {}): ClientPool {
    const handles: WorkerHandle[] = [];
    for (let i = 0; i < workers; i++)
      handles.push(WorkerHandle.fork<WorkerRequest, WorkerReply>(WORKER, env));
    return new ClientPool(handles);
  }

  get pids(): number[] {
    return this.workers.map((w) => w.child.pid ?? -1);
  }

  /** Opens `count` connections, split evenly over the workers (see {@link openOnWorkers}). */
  open(options: OpenOptions, onStart?: () => void): Promise<OpenResult> {
    return openOnWorkers(this.workers, options, (o) => ({ ...o, t: "prepare" as const }), onStart);
  }

  async stats(): Promise<PoolStats> {
    const replies = await Promise.all(
      this.workers.map((w) => w.request<StatsReply>({ t: "stats" })),
    );
    const closeCodes: Record<string, number> = {};
    for (const r of replies)
      for (const [k, v] of Object.entries(r.closeCodes)) closeCodes[k] = (closeCodes[k] ?? 0) + v;
    return {
      at: replies.reduce((s, r) => s + r.at, 0) / replies.length,
      events: replies.reduce((s, r) => s + r.events, 0),
      unsampled: replies.reduce((s, r) => s + r.unsampled, 0),
      open: replies.reduce((s, r) => s + r.open, 0),
      closed: replies.reduce((s, r) => s + r.closed, 0),
      closeCodes,
      cpuUs: replies.reduce((s, r) => s + r.cpuUs, 0),
    };
  }

  /** The merged latency histogram since the last reset; `reset` starts a new one. */
  async latency(reset: boolean): Promise<LatencySummary> {
    const replies = await Promise.all(
      this.workers.map((w) => w.request<HistReply>({ t: "hist", reset })),
    );
    const merged = newHistogram();
    for (const r of replies) merged.add(decodeHistogram(r.histogram));
    return summarize(merged);
  }

  async closeConnections(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.request({ t: "close" })));
  }

  /** Ends every worker: an exit request, then SIGKILL by PID for any that lingers. */
  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
  }
}
