/**
 * The console over HTTP, without a browser: off means 404; the built files
 * with their content types, ETags, caching and compression; no way out of
 * the build directory; the console token in production; the overview's
 * numbers against `/metrics`; the other nodes gathered over NATS; config.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { NatsBus } from "@calcbridge/bridge-nats";
import { TEST_SECRET, startNats, waitFor } from "@calcbridge/testing";
import t from "tap";
import { ConfigError, parseConfig } from "../../src/config.js";
import { assetKeyOf } from "../../src/http/console.js";
import type { ConsoleOverview } from "../../src/http/console-api.js";
import {
  rawOpen,
  sioConnect,
  sioRefused,
  startNode,
  tokenFor,
  type TestNode,
} from "../api-helpers.js";
import { metricSum, rawGet, requireConsoleBuild, scrape } from "./console-helpers.js";

const CONSOLE_TOKEN = "console-test-token-0123456789";

const root = requireConsoleBuild();
const indexHtml = readFileSync(join(root, "index.html"), "utf8");
const scriptPath = /src="(\/console\/assets\/[^"]+\.js)"/.exec(indexHtml)?.[1];
const stylePath = /href="(\/console\/assets\/[^"]+\.css)"/.exec(indexHtml)?.[1];

async function overview(node: TestNode, token?: string): Promise<ConsoleOverview> {
  const res = await rawGet(
    node.port,
    "/console/api/overview",
    token === undefined ? {} : { authorization: `Bearer ${token}` },
  );
  if (res.status !== 200) throw new Error(`overview: ${res.status} ${res.body.toString()}`);
  return JSON.parse(res.body.toString()) as ConsoleOverview;
}

t.test("off: /console and its API are 404", async (t) => {
  const node = await startNode(t);
  for (const path of ["/console", "/console/", "/console/index.html", "/console/api/overview"]) {
    const res = await rawGet(node.port, path);
    t.equal(res.status, 404, path);
  }
  const res = await rawGet(node.port, "/healthz");
  t.equal(res.status, 200, "the node itself answers");
});

t.test("serves the build under /console", async (t) => {
  t.ok(scriptPath !== undefined && stylePath !== undefined, "index.html names its assets");
  const node = await startNode(t, { consoleEnabled: true });
  for (const path of ["/console", "/console/", "/console/index.html"]) {
    const res = await rawGet(node.port, path);
    t.equal(res.status, 200, path);
    t.equal(res.headers["content-type"], "text/html; charset=utf-8", `${path} is HTML`);
    t.equal(res.body.toString(), indexHtml, `${path} is index.html`);
    t.equal(res.headers["cache-control"], "no-cache", "the page is revalidated");
    t.match(res.headers["content-security-policy"], /default-src 'self'/);
    t.equal(res.headers["x-frame-options"], "DENY");
  }
  const js = await rawGet(node.port, scriptPath!);
  t.equal(js.status, 200);
  t.equal(js.headers["content-type"], "text/javascript; charset=utf-8");
  t.equal(js.headers["cache-control"], "public, max-age=31536000, immutable");
  t.equal(js.headers["x-content-type-options"], "nosniff");
  t.same(js.body, readFileSync(join(root, scriptPath!.slice("/console/".length))));
  const css = await rawGet(node.port, stylePath!);
  t.equal(css.headers["content-type"], "text/css; charset=utf-8");

  const gz = await rawGet(node.port, scriptPath!, { "accept-encoding": "gzip, br" });
  t.equal(gz.headers["content-encoding"], "gzip");
  t.equal(gz.headers["vary"], "Accept-Encoding");
  t.ok(gz.body.length < js.body.length, "smaller");
  t.same(gunzipSync(gz.body), js.body, "the same bytes once inflated");

  const etag = js.headers["etag"];
  t.match(etag, /^"[\w-]+"$/, "an ETag");
  const again = await rawGet(node.port, scriptPath!, { "if-none-match": String(etag) });
  t.equal(again.status, 304, "If-None-Match: 304");
  t.equal(again.body.length, 0);
  const weak = await rawGet(node.port, scriptPath!, { "if-none-match": `W/${String(etag)}` });
  t.equal(weak.status, 304, "a weak validator matches too");
  const other = await rawGet(node.port, scriptPath!, { "if-none-match": '"other"' });
  t.equal(other.status, 200, "another ETag: the file");

  for (const path of ["/console/nope", "/console/assets/nope.js", "/console/assets/"]) {
    t.equal((await rawGet(node.port, path)).status, 404, `${path}: 404`);
  }
  const api = await rawGet(node.port, "/console/api/nope");
  t.equal(api.status, 404);
  t.equal(api.headers["content-type"], "application/json");
});

t.test("no request path leaves the build directory", async (t) => {
  const node = await startNode(t, { consoleEnabled: true });
  // package.json sits next to dist-web; src/ of the edge is further up.
  for (const path of [
    "/console/../package.json",
    "/console/..%2fpackage.json",
    "/console/%2e%2e/package.json",
    "/console/%2E%2E%2Fpackage.json",
    "/console/assets/../../package.json",
    "/console/assets/..%2f..%2fpackage.json",
    "/console/..\\package.json",
    "/console/%5c..%5cpackage.json",
    "/console//etc/passwd",
    "/console/%2fetc%2fpasswd",
    "/console/index.html%00.js",
    "/console/%ZZ",
  ]) {
    const res = await rawGet(node.port, path);
    t.equal(res.status, 404, path);
    t.notMatch(res.body.toString(), /"name"|root:/, `${path}: nothing leaks`);
  }
  t.equal(assetKeyOf("/console"), "/index.html");
  t.equal(assetKeyOf("/console/"), "/index.html");
  t.equal(assetKeyOf("/console/assets/a.js"), "/assets/a.js");
  t.equal(assetKeyOf("/console/a/../b"), undefined);
  t.equal(assetKeyOf("/consolex"), undefined);
});

t.test("production: the overview wants the console token", async (t) => {
  const node = await startNode(t, { consoleEnabled: true, consoleToken: CONSOLE_TOKEN });
  const info = await rawGet(node.port, "/console/api/info");
  t.same(JSON.parse(info.body.toString()), { tokenRequired: true });
  const none = await rawGet(node.port, "/console/api/overview");
  t.equal(none.status, 401, "no token: 401");
  t.match(none.headers["www-authenticate"], /^Bearer/);
  t.match(JSON.parse(none.body.toString()), { error: "unauthorized", reasons: [/console token/] });
  t.notMatch(none.body.toString(), /"nodes"/, "no numbers without the token");
  for (const header of [
    `Bearer ${CONSOLE_TOKEN}x`,
    `Bearer ${CONSOLE_TOKEN.slice(0, -1)}`,
    CONSOLE_TOKEN,
    "Bearer",
    `Basic ${CONSOLE_TOKEN}`,
  ]) {
    const res = await rawGet(node.port, "/console/api/overview", { authorization: header });
    t.equal(res.status, 401, `refused: ${header.slice(0, 12)}…`);
  }
  // A user's JWT is not the console credential.
  const jwt = await tokenFor("u1", "acme", { scope: "rt:publish" });
  const withJwt = await rawGet(node.port, "/console/api/overview", {
    authorization: `Bearer ${jwt}`,
  });
  t.equal(withJwt.status, 401, "a user JWT: 401");
  const ok = await overview(node, CONSOLE_TOKEN);
  t.equal(ok.nodes[0]?.node, node.node.nodeId, "the token: 200 with the numbers");
  const page = await rawGet(node.port, "/console");
  t.equal(page.status, 200, "the page itself needs no credential (it asks for one)");
});

t.test("the overview's numbers are the /metrics numbers", async (t) => {
  const node = await startNode(t, { consoleEnabled: true });
  const token = await tokenFor("u1", "acme");
  const sio = await Promise.all([0, 1, 2].map(() => sioConnect(t, node.port, { token })));
  const polling = await sioConnect(t, node.port, { token, transports: ["polling"] });
  for (const c of [...sio, polling]) t.match(await c.ack("subscribe", "job:j1"), { ok: true });
  await rawOpen(t, node.port, "/ws/jobs/j2", { token });
  await rawOpen(t, node.port, "/ws/notifications", { token });
  await sioRefused(t, node.port, { token: "not-a-jwt" });
  await rawGet(node.port, "/console"); // HTTP requests are not connections.
  for (let i = 0; i < 5; i++)
    node.node.publish({
      tenant_id: "acme",
      room: "job:j1",
      type: "job.progress",
      payload: { job_id: "j1", progress: i },
    });
  await waitFor(() => node.node.delivery.stats.received === 5, { message: "5 events received" });

  const [view, text] = await Promise.all([overview(node), scrape(node.port)]);
  const self = view.nodes[0]!;
  t.equal(view.nodes.length, 1, "one node on the embedded bus");
  t.equal(self.connections.total, 6, "4 Socket.IO + 2 raw");
  t.equal(self.connections.total, metricSum(text, "calcbridge_connections"));
  t.same(
    Object.fromEntries(
      // Series at 0 are exported too (steady series for Prometheus): compare the live ones.
      self.connections.byKind
        .filter((k) => k.count > 0)
        .map((k) => [`${k.protocol}|${k.transport}|${k.endpoint}`, k.count]),
    ),
    {
      "socketio|websocket|socketio": 3,
      "socketio|polling|socketio": 1,
      "raw|websocket|job": 1,
      "raw|websocket|notifications": 1,
    },
    "by transport",
  );
  t.equal(self.rooms, metricSum(text, "calcbridge_rooms"));
  t.equal(self.rooms, 3, "job:j1, job:j2, notifications:u1");
  t.equal(self.totals.published, metricSum(text, "calcbridge_events_published_total"));
  t.equal(self.totals.published, 5);
  t.equal(self.totals.received, metricSum(text, "calcbridge_events_received_total"));
  t.equal(self.totals.framesDelivered, metricSum(text, "calcbridge_frames_delivered_total"));
  t.equal(self.totals.framesDelivered, 20, "5 events to 4 Socket.IO clients");
  t.equal(
    self.slowConsumers.disconnects,
    metricSum(text, "calcbridge_slow_consumer_disconnects_total"),
  );
  const failures = self.authFailures.reduce((a, f) => a + f.count, 0);
  t.equal(failures, metricSum(text, "calcbridge_auth_failures_total"));
  t.equal(failures, 1, "the refused token");
  t.match(self.authFailures[0], { code: "4001" });
  t.match(self.bus, { kind: "memory", status: "connected", connected: true });
  t.equal(self.ready, true);
});

t.test("the overview gathers every node over NATS", async (t) => {
  const nats = await startNats({ t });
  const nodes: TestNode[] = [];
  for (const nodeId of ["node-a", "node-b", "node-c"]) {
    const bus = await NatsBus.start({ servers: [nats.url], name: nodeId });
    nodes.push(await startNode(t, { bus, nodeId, consoleEnabled: nodeId === "node-a" }));
  }
  const [a, b, c] = nodes as [TestNode, TestNode, TestNode];
  const token = await tokenFor("u1", "acme");
  await sioConnect(t, b.port, { token });
  await sioConnect(t, b.port, { token });
  await rawOpen(t, c.port, "/ws/jobs/j1", { token });
  await sioRefused(t, c.port, { token: "bad" });
  const view = await waitFor(
    async () => {
      const v = await overview(a);
      return v.nodes.length === 3 ? v : undefined;
    },
    { timeout: 8000, message: "three nodes in the overview" },
  );
  t.same(
    view.nodes.map((n) => n.node),
    ["node-a", "node-b", "node-c"],
    "this node first, then the others (a node without the console answers too)",
  );
  t.same(view.missing, []);
  const [na, nb, nc] = view.nodes;
  t.equal(na?.connections.total, 0);
  t.equal(nb?.connections.total, metricSum(await scrape(b.port), "calcbridge_connections"));
  t.equal(nb?.connections.total, 2);
  t.equal(nc?.connections.total, 1);
  t.equal(
    nc?.authFailures.reduce((x, f) => x + f.count, 0),
    1,
  );
  for (const n of view.nodes) t.match(n.bus, { kind: "nats", status: "connected" }, n.node);

  // A node that stops answering is named, and the others still show.
  await c.node.close();
  const later = await overview(a);
  t.same(
    later.nodes.map((n) => n.node),
    ["node-a", "node-b"],
  );
  t.ok(
    later.missing.length === 0 || later.missing.includes("node-c"),
    "node-c is gone or named as silent",
  );
});

t.test("config: CONSOLE_TOKEN", async (t) => {
  const production = { NODE_ENV: "production", JWT_SECRET: TEST_SECRET };
  t.throws(
    () => parseConfig({ ...production, CONSOLE_ENABLED: "true" }),
    ConfigError,
    "on in production without the console's credential: refused",
  );
  try {
    parseConfig({ ...production, CONSOLE_ENABLED: "true" });
  } catch (err) {
    t.match((err as Error).message, /CONSOLE_TOKEN/);
  }
  t.equal(
    parseConfig({ ...production, CONSOLE_ENABLED: "true", CONSOLE_TOKEN: CONSOLE_TOKEN })
      .consoleToken,
    CONSOLE_TOKEN,
  );
  t.equal(parseConfig(production).consoleEnabled, false, "off by default");
  t.equal(parseConfig({}).consoleToken, undefined);
  let shortMessage = "";
  try {
    parseConfig({ CONSOLE_TOKEN: "short" });
  } catch (err) {
    shortMessage = (err as Error).message;
  }
  t.match(shortMessage, /CONSOLE_TOKEN must be at least 16 bytes long/);
  t.notMatch(shortMessage, /short"/, "the value is not echoed");
});
