/**
 * The `calcbridge-edge` process's configuration surface: `--help` documents
 * every variable of ENV_TABLE, and a bad value exits 2 (before listening)
 * with a message that names the variable.
 */
import { TEST_SECRET, freePort } from "@calcbridge/testing";
import t from "tap";
import { ENV_TABLE } from "../../src/config.js";
import { httpGet, runCli } from "../ops-helpers.js";

t.test("--help lists every ENV_TABLE variable and exits 0", async (t) => {
  const run = await runCli(["--help"], {});
  t.equal(run.code, 0);
  t.equal(run.stderr, "");
  t.match(run.stdout, /^calcbridge-edge: /, "it names the command");
  t.ok(ENV_TABLE.length >= 20, `ENV_TABLE has ${ENV_TABLE.length} variables`);
  const missing = ENV_TABLE.filter(
    (v) => !new RegExp(`^ {2}${v.name} +\\S`, "m").test(run.stdout),
  ).map((v) => v.name);
  t.strictSame(missing, [], "each variable has its own line with a description");
  for (const name of ["PORT", "NATS_URL", "JWT_SECRET", "METRICS_PORT", "DRAIN_SECONDS"]) {
    t.match(run.stdout, new RegExp(`^ {2}${name} `, "m"), `${name} (a stable name) is documented`);
  }
  t.match(run.stdout, /PORT +.*\(default: 8080\)/, "defaults are shown");
});

t.test("a bad value exits 2 with a message naming the variable", async (t) => {
  const port = await freePort();
  const base = { PORT: String(port), HOST: "127.0.0.1", JWT_SECRET: TEST_SECRET };
  const cases: [string, Record<string, string>, RegExp][] = [
    ["PORT", { PORT: "abc" }, /PORT must be an integer from 0 to 65535 \(got "abc"\)/],
    ["NATS_URL", { NATS_URL: "http://x" }, /NATS_URL must be a comma-separated list of nats:/],
    ["DRAIN_SECONDS", { DRAIN_SECONDS: "-1" }, /DRAIN_SECONDS must be a number of seconds/],
    ["LOG_LEVEL", { LOG_LEVEL: "loud" }, /LOG_LEVEL must be one of fatal, error, warn, info/],
    ["JWT_SECRET", { JWT_SECRET: "short" }, /JWT_SECRET must be at least 32 bytes long/],
    [
      "NODE_ENV",
      { NODE_ENV: "production", JWT_SECRET: "" },
      /NODE_ENV=production needs a token key.*JWT_SECRET/,
    ],
    ["HISTORY", { HISTORY: "jetstream" }, /HISTORY=jetstream needs NATS_URL/],
    ["METRICS_PORT", { METRICS_PORT: String(port) }, /METRICS_PORT must differ from PORT/],
  ];
  const runs = await Promise.all(cases.map(([, env]) => runCli([], { ...base, ...env })));
  for (const [i, [name, , message]] of cases.entries()) {
    const run = runs[i]!;
    t.equal(run.code, 2, `${name}: exit code 2`, { stderr: run.stderr, stdout: run.stdout });
    t.match(run.stderr, new RegExp(`^calcbridge-edge: .*\\b${name}\\b`, "m"), `${name} is named`);
    t.match(run.stderr, message, `${name}: says what is wrong`);
    t.equal(run.stdout, "", `${name}: nothing on stdout (no log line, no dev token)`);
  }
  // Several problems at once are all reported.
  const both = await runCli([], { ...base, PORT: "abc", LOG_LEVEL: "loud" });
  t.equal(both.code, 2);
  t.match(both.stderr, /PORT/);
  t.match(both.stderr, /LOG_LEVEL/);
  // None of them ever listened.
  await t.rejects(httpGet(port, "/healthz", 500), "nothing listens on PORT");
});
