import { nowMs } from "./latency.js";
import type { OpenReply, PreparedReply } from "./messages.js";

/** How a client's first connection ended up: each client reports exactly once. */
export interface Settle {
  ready(): void;
  /** Counted as failed; `reason` (if any) may go into the report. */
  failed(reason?: string): void;
}

/** What the worker does to launch client `index`, and at the deadline. */
export interface LaunchHooks {
  start(index: number): void;
  /** The deadline passed: settle (or give up on) the clients still on their way. */
  timedOut(): void;
}

/** Failure reasons kept per worker for the report. */
const MAX_FAILURES = 5;

/**
 * Starts `count` clients, at most `concurrency` handshakes at a time, and
 * answers once every one is ready or failed, or `timeoutMs` passed (each
 * client's `ready`/`failed` is counted once, until the answer). Shared by
 * the generator's worker and the recovery scenario's.
 */
export function openBounded(
  req: { id: number; concurrency: number; timeoutMs: number },
  count: number,
  /** Count the clients never started by the deadline as failed. */
  failUnlaunched: boolean,
  hooks: (settle: Settle) => LaunchHooks,
): Promise<OpenReply> {
  const failures: string[] = [];
  let ready = 0;
  let failed = 0;
  let next = 0;
  let inFlight = 0;
  const started = nowMs();
  const cpu0 = process.cpuUsage();
  let lastReady = started;
  return new Promise<OpenReply>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const cpu = process.cpuUsage(cpu0);
      resolve({
        t: "opened",
        id: req.id,
        ready,
        failed,
        failures,
        startedAt: started,
        lastReadyAt: lastReady,
        cpuUs: cpu.user + cpu.system,
      });
    };
    const launch = () => {
      while (!done && inFlight < req.concurrency && next < count) {
        inFlight++;
        on.start(next++);
      }
    };
    const settled = () => {
      inFlight--;
      if (ready + failed === count) finish();
      else launch();
    };
    const on = hooks({
      ready: () => {
        ready++;
        lastReady = nowMs();
        settled();
      },
      failed: (reason) => {
        failed++;
        if (reason !== undefined && failures.length < MAX_FAILURES) failures.push(reason);
        settled();
      },
    });
    const timer = setTimeout(() => {
      // No launch from the settling below: the deadline has passed.
      if (failUnlaunched) failed += count - next;
      next = count;
      on.timedOut();
      finish();
    }, req.timeoutMs);
    if (count === 0) finish();
    else launch();
  });
}

/** The answer to an open that could not start (e.g. tokens could not be signed). */
export function openFailed(id: number, count: number, err: unknown): OpenReply {
  const now = nowMs();
  return {
    t: "opened",
    id,
    ready: 0,
    failed: count,
    failures: [String(err)],
    startedAt: now,
    lastReadyAt: now,
    cpuUs: 0,
  };
}

/**
 * A worker's two-step open: `prepare` builds the clients' specs (signing
 * their tokens) and keeps them; `start` launches them. The pool starts
 * every worker once all are prepared, so setup is timed on its own.
 */
export function twoStepOpen<Req extends { id: number; count: number }, Spec>(
  build: (req: Req) => Promise<Spec[]>,
  run: (req: Req, specs: Spec[]) => Promise<OpenReply>,
): { prepare(req: Req): Promise<PreparedReply>; start(id: number): Promise<OpenReply> } {
  let prepared: { req: Req; specs: Spec[] } | { req: Req; error: unknown } | undefined;
  return {
    async prepare(req) {
      try {
        prepared = { req, specs: await build(req) };
      } catch (error) {
        prepared = { req, error };
      }
      return { t: "prepared", id: req.id };
    },
    start(id) {
      const p = prepared;
      prepared = undefined;
      if (p === undefined) return Promise.resolve(openFailed(id, 0, "start without prepare"));
      if ("error" in p) return Promise.resolve(openFailed(id, p.req.count, p.error));
      return run({ ...p.req, id }, p.specs).catch((err: unknown) =>
        openFailed(id, p.req.count, err),
      );
    },
  };
}
