import { createRequire } from "node:module";
import t from "tap";
import type * as Uws from "uWebSockets.js";
import { encodeEnvelope, socketIoEventFrame } from "@calcbridge/protocol";
import {
  RecoveryClient,
  newRecord,
  trailingOffset,
  type RecoveryRecord,
} from "../../src/client/recovery-client.js";
import { SCENARIOS, parseOptions } from "../../src/options.js";
import {
  BENCH_ROOM,
  BENCH_TYPE,
  benchRequest,
  padFor,
  validated,
} from "../../src/publisher/payload.js";
import { renderMarkdown, type RunReport } from "../../src/report/markdown.js";
import type { RecoveryReport } from "../../src/scenarios/context.js";
import { distribution, summarizeRecords } from "../../src/scenarios/recovery.js";

const require = createRequire(import.meta.url);
const uws = require("uWebSockets.js") as typeof Uws;

const pad = padFor(200);
/** A bench event as the edge sends it with history: the offset as the last argument. */
const event = (offset: number, ts: number): string =>
  socketIoEventFrame(
    BENCH_TYPE,
    encodeEnvelope(validated(benchRequest(BENCH_ROOM, offset, ts, pad))),
    "/",
    String(offset),
  );

t.test("trailingOffset reads the last argument of an event frame", async (t) => {
  t.equal(trailingOffset(Buffer.from(event(12345, 1))), 12345);
  t.equal(trailingOffset(Buffer.from('42["x",{"a":1},"7"]')), 7);
  t.ok(Number.isNaN(trailingOffset(Buffer.from('42["x",{"a":1},"7"]'), 18)), "cut short");
  t.ok(Number.isNaN(trailingOffset(Buffer.from('42["x",{"a":"7"}]'))), "not an argument");
  t.ok(Number.isNaN(trailingOffset(Buffer.from('42["x",{"a":1}]'))), "no offset");
  t.ok(Number.isNaN(trailingOffset(Buffer.from('42["x",{"a":1},""]'))), "empty offset");
  t.ok(Number.isNaN(trailingOffset(Buffer.from('42["x",{"a":1},"1a"]'))), "not decimal");
});

t.test("distribution: nearest-rank percentiles", async (t) => {
  const d = distribution(Array.from({ length: 100 }, (_, i) => 100 - i));
  t.same(d, { samples: 100, p50: 50, p95: 95, p99: 99, max: 100, mean: 50.5 });
  t.same(distribution([]), { samples: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 });
});

const record = (r: Partial<RecoveryRecord>): RecoveryRecord => ({ ...newRecord(), ...r });

t.test("summarizeRecords: recovered, not recovered, failed; missed at the tail", async (t) => {
  const s = summarizeRecords(
    [
      record({
        closeCode: 1001,
        closedAt: 1100,
        backAt: 1110,
        reconnectMs: 10,
        recovered: true,
        sameSid: true,
        lastOffset: 100,
        replayed: 3,
        replayDoneAt: 1112,
      }),
      record({
        closeCode: 1001,
        closedAt: 1200,
        backAt: 1230,
        reconnectMs: 30,
        recovered: true,
        sameSid: false,
        lastOffset: 98,
        duplicates: 1,
      }),
      record({
        closeCode: 1001,
        closedAt: 1300,
        backAt: 1320,
        reconnectMs: 20,
        missedOnB: 4,
        lastOffset: 100,
      }),
      record({ closeCode: 1006, closedAt: 1400, failure: "node B: refused" }),
    ],
    100,
    1000,
  );
  t.equal(s.closed, 4);
  t.same(s.closeCodes, { "1001": 3, "1006": 1 });
  t.equal(s.firstCloseMs, 100);
  t.equal(s.lastCloseMs, 400);
  t.equal(s.back, 3);
  t.equal(s.recovered, 2);
  t.equal(s.notRecovered, 1);
  t.equal(s.recoveredOtherSid, 1);
  t.equal(s.failed, 1);
  t.same(s.failures, ["node B: refused"]);
  t.equal(s.reconnectMs?.p50, 20);
  t.equal(s.reconnectMs?.max, 30);
  t.equal(s.missedRecovered, 2, "the recovered client 2 short of the last offset");
  t.equal(s.recoveredClientsMissing, 1);
  t.equal(s.missedNotRecovered, 4);
  t.equal(s.duplicates, 1);
  t.equal(s.replayed, 3);
  t.equal(s.replayedMaxPerClient, 3);
  t.equal(s.lastBackMs, 320);
  t.equal(s.replayPerSecond, 250, "3 events from the first close (1100) to the last replay (1112)");
});

t.test("options: recovery runs last in the full run, sizes from the command line", async (t) => {
  t.equal(SCENARIOS[SCENARIOS.length - 1], "recovery");
  const full = parseOptions([], "/tmp/out");
  t.same(full.scenarios, [...SCENARIOS]);
  t.equal(full.recoveryClients, 1000);
  t.equal(full.recoveryRate, 200);
  t.equal(full.recoveryDrainSeconds, 1);
  t.equal(full.recoveryTimeoutSeconds, 30);
  t.equal(parseOptions(["--quick"], "/tmp/out").recoveryClients, 100);
  const o = parseOptions(
    [
      "--scenario",
      "recovery",
      "--recovery-clients",
      "50",
      "--recovery-rate",
      "20",
      "--recovery-drain",
      "0.5",
      "--recovery-timeout",
      "90",
    ],
    "/tmp/out",
  );
  t.same(o.scenarios, ["recovery"]);
  t.equal(o.recoveryClients, 50);
  t.equal(o.recoveryRate, 20);
  t.equal(o.recoveryDrainSeconds, 0.5);
  t.equal(o.recoveryTimeoutSeconds, 90);
  t.throws(() => parseOptions(["--recovery-clients", "0"], "/tmp/out"));
});

t.test("the report prints the recovery figures", async (t) => {
  const options = parseOptions(["--scenario", "recovery"], "/tmp/out");
  const d = distribution([5, 10, 20]);
  const recovery: RecoveryReport = {
    id: "recovery/edge/socketio/2",
    clients: 3,
    rate: 200,
    drainSeconds: 1,
    timeoutSeconds: 30,
    setup: { ready: 3, failed: 0, failures: [], ms: 10, perSecond: 300, cpuUs: 1 },
    published: 600,
    finalOffset: 600,
    closed: 3,
    closeCodes: { "1001": 3 },
    firstCloseMs: 50,
    lastCloseMs: 1000,
    stormMs: 1050,
    lastBackMs: 1020,
    back: 3,
    recovered: 3,
    notRecovered: 0,
    recoveredOtherSid: 0,
    failed: 0,
    failures: [],
    reconnectMs: d,
    catchUpMs: d,
    missedRecovered: 0,
    recoveredClientsMissing: 0,
    missedNotRecovered: 0,
    missedOnA: 0,
    duplicates: 0,
    replayed: 4,
    replayedMaxPerClient: 2,
    replayPerSecond: 4,
    nodeBCpuStorm: 0.25,
    nodeBCpuAfter: 0.1,
    nodeBCpuUsPerReconnect: 800,
    nodeBRssMiB: 80,
    nodeACpu: 0.05,
    busCpu: 0.05,
    generatorCpu: 0.1,
    publisherCpu: 0.02,
    machineCpu: 0.6,
    otherCpu: 0.13,
  };
  const report: RunReport = {
    startedAt: "2026-01-01T00:00:00.000Z",
    finishedAt: "2026-01-01T00:01:00.000Z",
    machine: {
      cores: 2,
      cpuModel: "test",
      memoryGiB: 4,
      node: "v20",
      platform: "linux-x64",
      revision: "abc",
      nats: "nats",
      redis: "redis",
    },
    options,
    edge: { launcher: "cli", note: "" },
    histogramLibrary: "hdr",
    generatorTransport: "node:net sockets",
    selfCheck: undefined,
    series: [],
    conns: [],
    recovery: [recovery],
    thresholds: [],
    verdict: "no thresholds",
  };
  const md = renderMarkdown(report);
  t.match(md, /## Reconnect storm after a drain \(recovery\)/);
  t.match(md, /\| recovered \(same pid\) \/ not recovered \| \*\*3\*\* \/ 0 \|/);
  t.match(md, /p50 \/ p95 \/ p99 \/ max ms \| 10\.0 \/ 20\.0 \/ 20\.0 \/ 20\.0 \|/);
  t.match(md, /closed by node A \(close codes\) \| 3\/3 \(3 x 1001\)/);
  t.match(md, /events missed by recovered clients \| 0 \|/);
  t.match(md, /node B CPU: storm \/ after \([^)]*\) \| 25% \/ 10%/);
  t.match(md, /\| 5% \/ 5% \/ 10% \/ 2%; 60% \(13%\) \|/);
});

/**
 * Two fake Socket.IO servers: A connects, acks the subscription, sends
 * offsets 1..5 and closes with 1001; B recovers the session whose pid it
 * knows (replaying 5..8, one duplicate) and starts anew for any other, then
 * sends live offset 9 to everyone.
 */
t.test("RecoveryClient: from node A to node B, recovered or not", async (t) => {
  const past = Date.now() - 60_000;
  const future = Date.now() + 60_000;
  const auths: Record<string, unknown>[] = [];
  const listen = (app: Uws.TemplatedApp): Promise<{ port: number; close(): void }> =>
    new Promise((resolve, reject) =>
      app.listen("127.0.0.1", 0, (s) => {
        if (!s) return reject(new Error("cannot listen"));
        resolve({ port: uws.us_socket_local_port(s), close: () => uws.us_listen_socket_close(s) });
      }),
    );
  const text = (m: ArrayBuffer) => Buffer.from(m).toString("utf8");
  const open = (ws: Uws.WebSocket<unknown>) =>
    ws.send('0{"sid":"e","upgrades":[],"pingInterval":25000,"pingTimeout":20000}');
  const sockets: Uws.WebSocket<unknown>[] = [];
  const opened = (ws: Uws.WebSocket<unknown>) => {
    sockets.push(ws);
    open(ws);
  };
  const appA = uws.App().ws("/*", {
    open: opened,
    message: (ws, m) => {
      const s = text(m);
      if (s.startsWith("40")) {
        const { token } = JSON.parse(s.slice(2)) as { token: string };
        ws.send(`40{"sid":"sid-${token}","pid":"pid-${token}"}`);
      } else if (s.startsWith("421")) {
        ws.send('431[{"ok":true}]');
        for (let o = 1; o <= 5; o++) ws.send(event(o, past));
        ws.end(1001, "server draining");
      }
    },
  });
  const appB = uws.App().ws("/*", {
    open: opened,
    message: (ws, m) => {
      const s = text(m);
      if (s.startsWith("40")) {
        const auth = JSON.parse(s.slice(2)) as { token: string; pid?: string; offset?: string };
        auths.push(auth);
        if (auth.token === "t1" && auth.pid === "pid-t1") {
          ws.send('40{"sid":"sid-t1","pid":"pid-t1"}');
          for (let o = Number(auth.offset); o <= 8; o++) ws.send(event(o, past));
          ws.send(event(9, future));
        } else ws.send('40{"sid":"sid-new","pid":"pid-new"}');
      } else if (s.startsWith("42")) {
        ws.send(`43${s.slice(2, s.indexOf("["))}[{"ok":true}]`);
        ws.send(event(9, future));
      }
    },
  });
  const a = await listen(appA);
  const b = await listen(appB);
  const buffer = Buffer.allocUnsafe(64 * 1024);
  const seen: string[] = [];
  const settled = new Promise<void>((resolve) => {
    let n = 0;
    const check = () => {
      if (clients.every((c) => c.record.lastOffset === 9 || c.record.failure)) resolve();
      else if (n++ < 200) setTimeout(check, 10);
      else resolve();
    };
    setTimeout(check, 10);
  });
  const clients = ["t1", "t2"].map(
    (token) =>
      new RecoveryClient(
        {
          host: "127.0.0.1",
          portA: a.port,
          portB: b.port,
          token,
          room: BENCH_ROOM,
          reconnectTimeoutMs: 5000,
        },
        {
          ready: () => seen.push(`ready ${token}`),
          failed: (_c, reason) => seen.push(`failed ${token} ${reason}`),
          closed: () => seen.push(`closed ${token}`),
          back: () => seen.push(`back ${token}`),
        },
        buffer,
      ),
  );
  for (const c of clients) c.open();
  await settled;
  for (const c of clients) c.destroy();
  for (const ws of sockets) {
    try {
      ws.close();
    } catch {
      // already closed
    }
  }
  a.close();
  b.close();

  t.notOk(
    seen.some((s) => s.startsWith("failed")),
    seen.filter((s) => s.startsWith("failed")).join("; "),
  );
  t.same(
    auths.find((x) => x["token"] === "t1"),
    { pid: "pid-t1", offset: "5", token: "t1" },
  );
  const [r1, r2] = clients.map((c) => c.record) as [RecoveryRecord, RecoveryRecord];
  t.equal(r1.closeCode, 1001);
  t.ok(r1.reconnectMs >= 0 && r1.reconnectMs < 5000, `reconnect ${r1.reconnectMs} ms`);
  t.equal(r1.recovered, true);
  t.equal(r1.sameSid, true);
  t.equal(r1.events, 10, "5 on A, 5..8 replayed, 9 live");
  t.equal(r1.duplicates, 1, "offset 5 replayed again");
  t.equal(r1.replayed, 4, "5..8 published before the CONNECT reply");
  t.equal(r1.missedOnA + r1.missedOnB, 0);
  t.equal(r1.lastOffset, 9);
  t.equal(r2.recovered, false);
  t.equal(r2.sameSid, false);
  t.equal(r2.missedOnB, 3, "6..8 lost with the session");
  t.equal(r2.replayed, 0);
  t.equal(r2.lastOffset, 9);
});
