/**
 * Graceful drain of the `calcbridge-edge` process: on SIGTERM (and SIGINT)
 * readiness goes false at once, new connections are refused, every client
 * is closed with 1001 spread over DRAIN_SECONDS, and the process exits 0.
 * Embedded bus, then a real nats-server with JetStream history.
 */
import { TEST_SECRET, freePort, startNats, waitFor } from "@calcbridge/testing";
import t, { type Test } from "tap";
import {
  WAIT_MS,
  rawClient,
  rawOpen,
  sioConnect,
  sioSocket,
  tokenFor,
  type RawClient,
  type SioClient,
} from "../api-helpers.js";
import { httpGet, jsonLines, scrape, startCli, valueOf, type CliProcess } from "../ops-helpers.js";

interface Closing {
  kind: "raw" | "socketio";
  code: number | undefined;
  /** socket.io-client's disconnect reason; the close reason text for raw clients. */
  reason: string;
  at: number;
}

/** Connected clients whose close (code and time) is recorded. */
interface Fleet {
  raw: RawClient[];
  sio: SioClient[];
  closes: Promise<Closing[]>;
}

async function connectFleet(t: Test, port: number, raws: number, sios: number): Promise<Fleet> {
  const token = await tokenFor("user-drain", "tenant-drain");
  const raw = await Promise.all(
    Array.from({ length: raws }, () => rawOpen(t, port, "/ws", { token })),
  );
  const sio = await Promise.all(
    Array.from({ length: sios }, () => sioConnect(t, port, { token, transports: ["websocket"] })),
  );
  const rawCloses = raw.map((c) =>
    c.closed.then((x): Closing => ({ kind: "raw", code: x.code, reason: x.reason, at: x.at })),
  );
  const sioCloses = sio.map(
    (c) =>
      new Promise<Closing>((resolve) => {
        c.socket.once("disconnect", (reason, description) => {
          // socket.io-client hands over the WebSocket's CloseEvent as the context.
          const context = (description as { context?: { code?: number } } | undefined)?.context;
          resolve({ kind: "socketio", code: context?.code, reason, at: Date.now() });
        });
      }),
  );
  return { raw, sio, closes: Promise.all([...rawCloses, ...sioCloses]) };
}

/** Polls `/readyz` right after the signal until it answers 503; the time of that answer. */
async function first503(port: number): Promise<{ at: number; body: string }> {
  return waitFor(
    async () => {
      const res = await httpGet(port, "/readyz", 500);
      return res.status === 503 && { at: Date.now(), body: res.body };
    },
    { timeout: 2000, interval: 1, message: "/readyz 503" },
  );
}

/** A new raw client and a new Socket.IO client are both turned away. */
async function refusesNewClients(t: Test, port: number): Promise<void> {
  const token = await tokenFor("user-late", "tenant-drain");
  const late = rawClient(t, port, "/ws", { token });
  await t.rejects(late.opened, "a new raw WebSocket is refused while draining");
  const socket = sioSocket(t, port, { token, transports: ["websocket"] });
  const outcome = await new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve("nothing"), WAIT_MS);
    socket.once("connect", () => (clearTimeout(timer), resolve("connected")));
    socket.once("connect_error", () => (clearTimeout(timer), resolve("refused")));
  });
  t.equal(outcome, "refused", "a new Socket.IO client is refused while draining");
  await late.closed;
}

async function drainScenario(
  t: Test,
  cli: CliProcess,
  sig: NodeJS.Signals,
  drainSeconds: number,
  fleetSize: { raw: number; sio: number },
): Promise<void> {
  const windowMs = drainSeconds * 1000;
  const fleet = await connectFleet(t, cli.port, fleetSize.raw, fleetSize.sio);
  const total = fleetSize.raw + fleetSize.sio;
  // Warm up the HTTP path, so the first poll after the signal is not slowed by it.
  t.equal((await httpGet(cli.port, "/readyz")).status, 200, "ready before the signal");

  const firstClose = new Promise<number>((resolve) => {
    for (const c of fleet.raw) void c.closed.then((x) => resolve(x.at));
    for (const c of fleet.sio) c.socket.once("disconnect", () => resolve(Date.now()));
  });
  const signalled = cli.signal(sig);
  const unready = await first503(cli.port);
  t.match(JSON.parse(unready.body), { status: "not_ready", reasons: ["draining"] });
  const firstAt = await firstClose;
  t.ok(
    unready.at <= firstAt,
    `/readyz was 503 (${unready.at - signalled} ms after ${sig}) before the first client closed (${firstAt - signalled} ms)`,
  );
  await refusesNewClients(t, cli.port);
  t.equal((await httpGet(cli.port, "/healthz")).status, 200, "still live while draining");
  t.equal(valueOf(await scrape(cli.port), "calcbridge_ready"), 0, "calcbridge_ready is 0");

  const closes = await fleet.closes;
  t.equal(closes.length, total);
  t.strictSame(
    closes.filter((c) => c.code !== 1001),
    [],
    "every client (raw and Socket.IO) is closed with 1001",
  );
  t.strictSame(
    [...new Set(closes.map((c) => `${c.kind}: ${c.reason}`))].sort(),
    ["raw: server draining", "socketio: transport close"],
    "raw clients read why; Socket.IO clients see their transport close",
  );
  const offsets = closes.map((c) => c.at - signalled).sort((a, b) => a - b);
  const first = offsets[0]!;
  const last = offsets.at(-1)!;
  t.ok(first < 0.3 * windowMs, `first close ${first} ms after ${sig} (< 30% of ${windowMs} ms)`);
  t.ok(
    last >= 0.6 * windowMs && last <= 1.3 * windowMs,
    `last close ${last} ms after ${sig} (60%..130% of ${windowMs} ms)`,
  );
  // Spread, not bunched: the middle client leaves well inside the window.
  const middle = offsets[Math.floor(offsets.length / 2)]!;
  t.ok(
    middle >= 0.25 * windowMs && middle <= 0.75 * windowMs,
    `median close ${middle} ms after ${sig} (25%..75% of the window)`,
  );

  const exit = await Promise.race([
    cli.exited,
    new Promise<undefined>((resolve) =>
      setTimeout(() => resolve(undefined), windowMs + 3000).unref(),
    ),
  ]);
  t.ok(exit !== undefined, `exited within DRAIN_SECONDS + 3 s`);
  t.equal(exit?.code, 0, `exit code 0 after ${sig}`);
  t.equal(exit?.signal, null, "exited by itself, not killed by the signal");
  t.ok(exit !== undefined && exit.at - signalled < windowMs + 3000);
  t.notMatch(cli.stderr(), /\S/, "nothing on stderr");
  // The shutdown is logged, in order, and no line is lost to the exit.
  const messages = jsonLines(cli.stdout()).map((l) => l["msg"]);
  t.strictSame(
    messages.filter((m) => m === "draining" || m === "drained; exiting"),
    ["draining", "drained; exiting"],
    "'draining' then 'drained; exiting' on stdout",
  );
  t.match(
    jsonLines(cli.stdout()).find((l) => l["msg"] === "draining"),
    { signal: sig, drainSeconds },
  );
}

const baseEnv = (port: number, drainSeconds: number): Record<string, string> => ({
  PORT: String(port),
  HOST: "127.0.0.1",
  NODE_ID: "ops-drain",
  JWT_SECRET: TEST_SECRET,
  DRAIN_SECONDS: String(drainSeconds),
  LOG_LEVEL: "info",
});

t.test("SIGTERM drains 40 clients over DRAIN_SECONDS=2 and exits 0", async (t) => {
  const port = await freePort();
  const cli = await startCli(t, baseEnv(port, 2));
  await drainScenario(t, cli, "SIGTERM", 2, { raw: 20, sio: 20 });
});

t.test("SIGINT drains too (10 clients)", async (t) => {
  const port = await freePort();
  const cli = await startCli(t, baseEnv(port, 2));
  await drainScenario(t, cli, "SIGINT", 2, { raw: 5, sio: 5 });
});

t.test("a node on a real nats-server (JetStream history) drains and exits 0", async (t) => {
  const nats = await startNats({ t, jetstream: true });
  const port = await freePort();
  const cli = await startCli(t, {
    ...baseEnv(port, 2),
    NODE_ID: "ops-drain-nats",
    NATS_URL: nats.url,
  });
  const before = await scrape(port);
  t.equal(valueOf(before, "calcbridge_bus_connected", { bus: "nats" }), 1, "on NATS");
  await drainScenario(t, cli, "SIGTERM", 2, { raw: 5, sio: 5 });
  // The node's NATS connection is gone once it exited: it drained the bus, not just died.
  await waitFor(
    async () => {
      const res = await fetch(`${nats.monitorUrl}/connz`, { signal: AbortSignal.timeout(1000) });
      const connz = (await res.json()) as { connections?: { name?: string }[] };
      return !(connz.connections ?? []).some((c) => c.name === "ops-drain-nats");
    },
    { timeout: WAIT_MS, message: "the node's NATS connection closed" },
  );
});
