import { signToken } from "../infra/tokens.js";
import { RecoveryClient, type RecoveryClientEvents, type RecoverySpec } from "./recovery-client.js";
import { openBounded, twoStepOpen } from "./launch.js";
import { nowMs } from "./latency.js";
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

const opens = twoStepOpen(buildSpecs, openAll);

function send(reply: RecoveryWorkerReply): void {
  process.send?.(reply);
}

async function buildSpecs(req: RecoveryOpenRequest): Promise<RecoverySpec[]> {
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
  return specs;
}

function openAll(req: RecoveryOpenRequest, specs: RecoverySpec[]): Promise<RecoveryOpenReply> {
  let launched = 0;
  return openBounded(req, specs.length, true, (settle) => {
    const events: RecoveryClientEvents = {
      ready: () => {
        onA++;
        settle.ready();
      },
      failed: (c, reason) => {
        failed++;
        // Only a first connection's failure counts for the open: later ones are the storm's.
        if (c.leg === 0) settle.failed(reason);
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
    return {
      start: (i) => {
        const c = new RecoveryClient(specs[i]!, events, readBuffer);
        clients.push(c);
        launched++;
        c.open();
      },
      timedOut: () => {
        // Never launched: failed too (openBounded counts them for the open).
        failed += specs.length - launched;
        for (const c of clients)
          if (c.leg === 0 && c.phase !== "ready") c.fail(`not ready within ${req.timeoutMs} ms`);
      },
    };
  });
}

process.on("message", (msg: RecoveryWorkerRequest) => {
  switch (msg.t) {
    case "prepare":
      void opens.prepare(msg).then(send);
      return;
    case "start":
      void opens.start(msg.id).then(send);
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
        at: nowMs(),
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
