import { signToken } from "../infra/tokens.js";
import { RecoveryClient, type RecoveryClientEvents, type RecoverySpec } from "./recovery-client.js";
import type {
  RecoveryOpenReply,
  RecoveryOpenRequest,
  RecoveryWorkerReply,
  RecoveryWorkerRequest,
} from "./recovery-messages.js";

/*
 * A worker of the recovery scenario: a forked process holding its share of
 * the RecoveryClients, driven by its parent over IPC (recovery-messages.ts).
 */

const readBuffer = Buffer.allocUnsafe(256 * 1024);
const clients: RecoveryClient[] = [];
let onA = 0;
let closed = 0;
let back = 0;
let recovered = 0;
let failed = 0;

function send(reply: RecoveryWorkerReply): void {
  process.send?.(reply);
}

async function openAll(req: RecoveryOpenRequest): Promise<RecoveryOpenReply> {
  const specs: RecoverySpec[] = [];
  for (let k = 0; k < req.count; k++) {
    const user = req.auth.user.replaceAll("{i}", String(req.firstIndex + k));
    specs.push({
      host: req.host,
      portA: req.portA,
      portB: req.portB,
      token: await signToken(
        req.auth.secret,
        { sub: user, tenant_id: req.auth.tenant },
        req.auth.ttlSec,
      ),
      room: req.room,
      reconnectTimeoutMs: req.reconnectTimeoutMs,
    });
  }
  const failures: string[] = [];
  let ready = 0;
  let refused = 0;
  let next = 0;
  let inFlight = 0;
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  let lastReady = started;
  return new Promise<RecoveryOpenReply>((resolve) => {
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
        failed: refused,
        failures,
        ms: lastReady - started,
        cpuUs: cpu.user + cpu.system,
      });
    };
    const timer = setTimeout(() => {
      // Never launched: failed too; then no launch from the failures below.
      const unlaunched = specs.length - next;
      refused += unlaunched;
      failed += unlaunched;
      next = specs.length;
      for (const c of clients)
        if (c.leg === 0 && c.phase !== "ready") c.fail(`not ready within ${req.timeoutMs} ms`);
      finish();
    }, req.timeoutMs);
    const settle = () => {
      inFlight--;
      if (ready + refused === specs.length) finish();
      else launch();
    };
    const events: RecoveryClientEvents = {
      ready: () => {
        ready++;
        onA++;
        lastReady = performance.now();
        settle();
      },
      failed: (c, reason) => {
        failed++;
        if (c.leg === 0) {
          refused++;
          if (failures.length < 5) failures.push(reason);
          settle();
        }
      },
      closed: () => {
        onA--;
        closed++;
      },
      back: (c) => {
        back++;
        if (c.record.recovered) recovered++;
      },
    };
    const launch = () => {
      while (!done && inFlight < req.concurrency && next < specs.length) {
        const c = new RecoveryClient(specs[next++]!, events, readBuffer);
        clients.push(c);
        inFlight++;
        c.open();
      }
    };
    if (specs.length === 0) finish();
    else launch();
  });
}

process.on("message", (msg: RecoveryWorkerRequest) => {
  switch (msg.t) {
    case "open":
      openAll(msg).then(send, (err: unknown) =>
        send({
          t: "opened",
          id: msg.id,
          ready: 0,
          failed: msg.count,
          failures: [String(err)],
          ms: 0,
          cpuUs: 0,
        }),
      );
      return;
    case "stats": {
      let events = 0;
      let minOffset = Infinity;
      let maxOffset = 0;
      for (const c of clients) {
        events += c.record.events;
        if (c.phase === "closed") continue;
        const o = c.record.lastOffset;
        if (o < minOffset) minOffset = o;
        if (o > maxOffset) maxOffset = o;
      }
      const cpu = process.cpuUsage();
      send({
        t: "stats",
        id: msg.id,
        at: performance.timeOrigin + performance.now(),
        onA,
        closed,
        back,
        recovered,
        failed,
        events,
        minOffset: minOffset === Infinity ? 0 : minOffset,
        maxOffset,
        cpuUs: cpu.user + cpu.system,
      });
      return;
    }
    case "report":
      send({ t: "report", id: msg.id, records: clients.map((c) => c.record) });
      return;
    case "exit":
      for (const c of clients) c.destroy();
      process.exit(0);
  }
});

// The parent going away ends the worker (no orphan keeps connections open).
process.on("disconnect", () => process.exit(0));
