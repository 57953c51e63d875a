import t from "tap";
import { delay, startNatsCluster, waitFor } from "@calcbridge/testing";
import { bytes, startBus, statusIs, text } from "../helpers.js";

/**
 * NATS core is at-most-once: messages published while the subscriber has no
 * interest anywhere in the cluster (between losing its server and its
 * SUB reaching the publisher's server over a route) are gone. This test
 * asserts continuity after the failover and a small, bounded gap, not zero
 * loss; JetStream history (the recovery work) is what fills such a gap.
 */
const TOTAL = 300;
const KILL_AT = 80;
const INTERVAL_MS = 5;
/** 100 messages at 5 ms: half a second of stream, far above the tens of ms a local failover takes. */
const MAX_GAP = 100;

t.test(
  "3-server cluster: the subscriber's server dies mid-stream, delivery continues in order",
  async (t) => {
    const cluster = await startNatsCluster(3, { t });
    const [s1, , s3] = cluster.servers;
    if (s1 === undefined || s3 === undefined) throw new Error("cluster of 3 expected");

    // A lists all three, s1 first (noRandomize), so it starts on s1 and can fail over.
    const a = await startBus(t, cluster.urls, { name: "node-a", noRandomize: true });
    const b = await startBus(t, s3.url, { name: "node-b" });
    t.equal(a.bus.server, `127.0.0.1:${s1.port}`, "A starts on server 1");
    t.equal(b.bus.server, `127.0.0.1:${s3.port}`, "B is on server 3");

    const subject = "rt.t1.workbook.stream";
    const received: number[] = [];
    let probes = 0;
    let probesSent = 0;
    a.bus.subscribe(subject, (data) => {
      const s = text(data);
      if (s === "probe") probes += 1;
      else received.push(Number(s));
    });
    // A's interest has crossed the route s1 -> s3 once a probe from B arrives.
    await waitFor(
      () => {
        b.bus.publish(subject, bytes("probe"));
        probesSent += 1;
        return probes > 0;
      },
      { interval: 20, message: "A's subscription visible on server 3" },
    );

    let reconnectedAt = 0;
    a.bus.onStatus((status) => {
      if (status === "connected") reconnectedAt = Date.now();
    });
    const publishedAt: number[] = [];
    let killed: Promise<void> | undefined;
    let killedAt = 0;
    for (let seq = 0; seq < TOTAL; seq++) {
      if (seq === KILL_AT) {
        killedAt = Date.now();
        killed = s1.kill();
      }
      publishedAt.push(Date.now());
      b.bus.publish(subject, bytes(String(seq)));
      await delay(INTERVAL_MS);
    }
    await killed;
    await waitFor(() => received.at(-1) === TOTAL - 1, { message: "the last message reached A" });

    await statusIs(a.bus, "connected");
    t.equal(a.bus.stats.reconnects, 1, "A reconnected once");
    t.not(a.bus.server, `127.0.0.1:${s1.port}`, `A failed over to ${a.bus.server}`);
    t.equal(b.bus.stats.refused, 0, "B's server never went away");
    t.equal(b.bus.stats.publishedMessages, TOTAL + probesSent);

    // In order, no duplicates, and what is missing is one window starting at
    // the kill: everything before it and everything after it arrived.
    const have = new Set(received);
    const missing = Array.from({ length: TOTAL }, (_, i) => i).filter((i) => !have.has(i));
    const gapStart = missing[0] ?? TOTAL;
    const gapEnd = missing.at(-1) ?? TOTAL - 1;
    const expected = Array.from({ length: TOTAL }, (_, i) => i).filter(
      (i) => i < gapStart || i > gapEnd,
    );
    t.same(
      received,
      expected,
      `received = all but one window (${missing.length ? `${gapStart}..${gapEnd}` : "none"})`,
    );
    t.ok(gapStart >= KILL_AT - 10, "nothing published well before the kill was lost");
    t.ok(missing.length <= MAX_GAP, `lost ${missing.length} messages (bound ${MAX_GAP})`);

    t.ok(reconnectedAt > killedAt, `A reconnected ${reconnectedAt - killedAt} ms after the kill`);
    const publishedAfterReconnect = publishedAt.filter((at) => at > reconnectedAt).length;
    t.ok(publishedAfterReconnect > 100, `${publishedAfterReconnect} published after A reconnected`);
    // Published after A's SUB had time to cross the route: all of them arrived.
    const settledAt = reconnectedAt + 250;
    const expectedLate = publishedAt.flatMap((at, seq) => (at > settledAt ? [seq] : []));
    t.same(
      received.filter((seq) => publishedAt[seq]! > settledAt),
      expectedLate,
      `all ${expectedLate.length} published 250 ms or more after the reconnect arrived`,
    );
    t.comment(
      `failover: ${reconnectedAt - killedAt} ms to reconnect, ${missing.length} of ${TOTAL} lost, ${received.length} received`,
    );
  },
);
