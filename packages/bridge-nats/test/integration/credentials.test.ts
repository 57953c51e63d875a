import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { nkeys } from "@nats-io/transport-node";
import t, { type Test } from "tap";
import { delay, processes, startNats, waitFor } from "@calcbridge/testing";
import { NatsUnavailableError, type NatsBusOptions } from "../../src/index.js";
import { Received, bytes, startBus, statusIs, thrown, type StartedBus } from "../helpers.js";

type Credentials = Omit<NatsBusOptions, "servers">;

/** The bus connects and a message goes round trip through it. */
async function assertWorks(t: Test, url: string, credentials: Credentials): Promise<void> {
  const { bus } = await startBus(t, url, credentials);
  t.equal(bus.status, "connected", `connects with ${Object.keys(credentials).join("+")}`);
  const got = new Received();
  bus.subscribe("rt.t1.job.auth", got.handler);
  // Subscribe and publish on one connection: the server handles the SUB first.
  bus.publish("rt.t1.job.auth", bytes("hello"));
  await got.atLeast(1);
  t.same(got.data, ["hello"]);
}

/** `start` resolves, the bus never connects (several retries), publish is refused. */
async function assertRefused(t: Test, url: string, credentials: Credentials): Promise<StartedBus> {
  const started = await startBus(t, url, credentials);
  const { bus, statuses } = started;
  await delay(350); // a few rounds at 100-150 ms
  t.not(bus.status, "connected", `${JSON.stringify(credentials)} does not connect`);
  t.notOk(statuses.includes("connected"), "never was connected");
  t.match(
    bus.lastError?.message ?? "",
    /authorization|authentication/i,
    `why: ${bus.lastError?.message}`,
  );
  t.ok(thrown(() => bus.publish("rt.t1.job.auth", bytes("x"))) instanceof NatsUnavailableError);
  return started;
}

t.test("user and password", async (t) => {
  const nats = await startNats({ t, args: ["--user", "edge", "--pass", "s3cret"] });
  await assertWorks(t, nats.url, { user: "edge", password: "s3cret" });
  await assertRefused(t, nats.url, { user: "edge", password: "wrong" });
  await assertRefused(t, nats.url, {});
});

t.test("token", async (t) => {
  const nats = await startNats({ t, args: ["--auth", "t0ken-for-tests"] });
  await assertWorks(t, nats.url, { token: "t0ken-for-tests" });
  await assertRefused(t, nats.url, { token: "not-the-token" });
});

t.test("nkey seed", async (t) => {
  const user = nkeys.createUser();
  const other = nkeys.createUser();
  const decoder = new TextDecoder();
  const config = join(processes.tempDir("calcbridge-nats-conf-"), "nkey.conf");
  writeFileSync(config, `authorization { users = [ { nkey: "${user.getPublicKey()}" } ] }\n`);
  const nats = await startNats({ t, args: ["-c", config] });
  await assertWorks(t, nats.url, { nkeySeed: decoder.decode(user.getSeed()) });
  await assertRefused(t, nats.url, { nkeySeed: decoder.decode(other.getSeed()) });
});

t.test("auth errors are retried, before and after the first connection", async (t) => {
  // nats.js gives up after two auth errors in a row; a node must not: fixing
  // the credentials on the server (config reload, SIGHUP to our own server's
  // PID) brings it back without a restart.
  const config = join(processes.tempDir("calcbridge-nats-conf-"), "users.conf");
  // nats-server 2.9 refuses a reload whose file lacks the name given by `-n`.
  const name = "calcbridge-auth-reload";
  const allow = (password: string): void =>
    writeFileSync(
      config,
      `server_name: "${name}"\nauthorization { user: "edge", password: "${password}" }\n`,
    );
  allow("old");
  const nats = await startNats({ t, name, args: ["-c", config] });
  const reload = (password: string): void => {
    allow(password);
    process.kill(nats.pid, "SIGHUP");
  };

  const { bus, statuses } = await assertRefused(t, nats.url, { user: "edge", password: "new" });
  reload("new");
  await statusIs(bus, "connected");

  reload("newer"); // the server drops the now unauthorized connection
  await waitFor(() => bus.status !== "connected", { message: "the server dropped the bus" });
  await delay(400); // several auth failures in a row
  t.not(bus.status, "connected");
  t.not(bus.status, "closed", "still retrying after repeated auth errors");
  reload("new");
  await statusIs(bus, "connected");
  t.equal(bus.stats.reconnects, 1);
  t.same(statuses, ["reconnecting", "connected", "disconnected", "reconnecting", "connected"]);
});
