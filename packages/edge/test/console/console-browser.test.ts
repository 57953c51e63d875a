/**
 * The console in a real headless Chromium against an in-process edge node:
 * the explorer over Socket.IO and over the raw WebSocket API (subscribe,
 * publish every event type from the form, watch the events arrive), the
 * API's validation errors in the form, and the overview under load against
 * `/metrics`. Screenshots go to packages/console/screenshots/.
 */
import { join } from "node:path";
import { EVENT_TYPES, type EventType } from "@calcbridge/protocol";
import { waitFor } from "@calcbridge/testing";
import t, { type Test } from "tap";
import type { BrowserContext, Page } from "playwright-core";
import {
  rawOpen,
  sioConnect,
  sioRefused,
  startNode,
  tokenFor,
  type TestNode,
} from "../api-helpers.js";
import {
  launchChromium,
  metricSum,
  requireConsoleBuild,
  scrape,
  screenshotDir,
} from "./console-helpers.js";

const TENANT = "acme";
const USER = "dev-user";
const ROOMS = ["job:job_1", `workbook:${TENANT}:wb_1`, `notifications:${USER}`] as const;
/** Bound of every wait on the page, in ms. */
const PAGE_WAIT_MS = 5000;

requireConsoleBuild();
const context: BrowserContext = await launchChromium(t);
context.setDefaultTimeout(PAGE_WAIT_MS);
const shots = screenshotDir();
const token = await tokenFor(USER, TENANT, { scope: "rt:publish" });

/** The room the form offers for `type` once the three ROOMS are subscribed. */
function roomFor(type: EventType): string {
  if (type.startsWith("job.")) return ROOMS[0];
  if (type.startsWith("workbook.") || type.startsWith("sheet.")) return ROOMS[1];
  return ROOMS[2];
}

/** Uncaught errors and CSP refusals of each page. */
const problems = new WeakMap<Page, string[]>();

/** A page on the console, closed at teardown; see {@link pageWasClean}. */
async function open(t: Test, node: TestNode, hash = ""): Promise<Page> {
  const page = await context.newPage();
  const seen: string[] = [];
  problems.set(page, seen);
  page.on("pageerror", (err) => seen.push(`page error: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error" && /Content Security Policy|Refused to/i.test(msg.text()))
      seen.push(`CSP: ${msg.text()}`);
  });
  t.teardown(() => page.close());
  await page.goto(`${node.url}/console${hash}`);
  return page;
}

/** The page threw nothing and the CSP refused nothing. */
function pageWasClean(t: Test, page: Page): void {
  t.same(problems.get(page), [], "no page errors, no CSP refusals");
}

async function connect(page: Page, protocol: "socket.io" | "raw"): Promise<void> {
  await page.fill('[data-testid="token"]', token);
  await page.selectOption('[data-testid="protocol"]', protocol);
  await page.click('[data-testid="connect"]');
  await page.locator('[data-testid="state"]', { hasText: /^connected$/ }).waitFor();
}

async function subscribe(page: Page, room: string): Promise<void> {
  await page.fill('[data-testid="room"]', room);
  await page.click('[data-testid="subscribe"]');
  await page.locator(`[data-testid="rooms"] li[data-room="${room}"]`).waitFor();
}

const rowCount = (page: Page) => page.locator('[data-testid="event-row"]').count();

/** Waits until the event list has at least `n` rows. */
const rowsAtLeast = (page: Page, n: number) =>
  page
    .locator('[data-testid="event-row"]')
    .nth(n - 1)
    .waitFor();

/** Waits until the overview has taken at least `n` samples (one per poll). */
const samplesAtLeast = (page: Page, n: number) =>
  waitFor(
    async () =>
      Number(await page.locator('[data-testid="overview"]').getAttribute("data-samples")) >= n,
    { timeout: 3000 + n * 1200, interval: 50, message: `${n} overview samples` },
  );

/** Type, room, via and latency of every row, newest first. */
function rows(page: Page): Promise<{ type: string; room: string; via: string; latency: string }[]> {
  return page.$$eval('[data-testid="event-row"]', (trs) =>
    trs.map((tr) => ({
      type: tr.querySelector('[data-field="type"]')?.textContent ?? "",
      room: tr.querySelector('[data-field="room"]')?.textContent ?? "",
      via: tr.querySelector(".via")?.textContent ?? "",
      latency: tr.querySelector('[data-field="latency"]')?.textContent ?? "",
    })),
  );
}

/** Publishes what the form holds and waits for the API's answer with `status`. */
async function publishFromForm(page: Page, status: number): Promise<string> {
  // Status 0: refused in the page, nothing sent.
  const answered =
    status === 0 ? undefined : page.waitForResponse((r) => r.url().endsWith("/v1/publish"));
  await page.click('[data-testid="publish"]');
  const response = await answered;
  if (response !== undefined && response.status() !== status)
    throw new Error(`POST /v1/publish: ${response.status()} ${await response.text()}`);
  const result = page.locator(`[data-testid="publish-result"][data-status="${status}"]`);
  await result.waitFor();
  return (await result.textContent()) ?? "";
}

t.test("explorer over Socket.IO: every event type from the form arrives live", async (t) => {
  const node = await startNode(t, { consoleEnabled: true });
  const page = await open(t, node);
  await connect(page, "socket.io");
  t.match(
    await page.locator('[data-testid="claims"]').textContent(),
    /sub dev-user.*tenant acme.*scope rt:publish/,
    "the token's claims, decoded",
  );
  for (const room of ROOMS) await subscribe(page, room);
  t.equal(node.node.io.engine.sessions.size, 1, "the browser holds one Socket.IO session");

  for (const [i, type] of EVENT_TYPES.entries()) {
    await page.selectOption('[data-testid="publish-type"]', type);
    t.equal(await page.inputValue('[data-testid="publish-room"]'), roomFor(type), `${type}: room`);
    const example = JSON.parse(await page.inputValue('[data-testid="publish-payload"]')) as unknown;
    t.type(example, "object", `${type}: an example payload is prefilled`);
    t.match(await publishFromForm(page, 202), /202 accepted 1/, `${type}: 202`);
    await rowsAtLeast(page, i + 1);
  }
  const seen = await rows(page);
  t.equal(seen.length, EVENT_TYPES.length, "one row per event");
  t.same(
    seen.map((r) => r.type).reverse(),
    [...EVENT_TYPES],
    "every type, in publish order (newest first on screen)",
  );
  for (const r of seen) {
    t.equal(r.room, roomFor(r.type as EventType), `${r.type} in ${r.room}`);
    t.equal(r.via, "socket.io");
    const ms = Number(/^(-?\d+) ms$/.exec(r.latency)?.[1]);
    t.ok(ms >= 0 && ms < 5000, `${r.type}: latency ${r.latency}`);
  }
  t.equal(
    metricSum(await scrape(node.port), "calcbridge_events_published_total"),
    EVENT_TYPES.length,
  );

  // Unsubscribing stops the room's events.
  await page.click('[data-testid="rooms"] li[data-room="job:job_1"] button');
  await page
    .locator('[data-testid="rooms"] li[data-room="job:job_1"]')
    .waitFor({ state: "detached" });
  node.node.publish({
    tenant_id: TENANT,
    room: "job:job_1",
    type: "job.started",
    payload: { job_id: "job_1" },
  });
  node.node.publish({
    tenant_id: TENANT,
    room: ROOMS[2],
    type: "notification",
    payload: { title: "still here" },
  });
  await rowsAtLeast(page, EVENT_TYPES.length + 1);
  const latest = await rows(page);
  t.equal(latest.length, EVENT_TYPES.length + 1, "only the subscribed room's event arrived");
  t.equal(latest[0]?.type, "notification");

  await page.locator('[data-testid="event-row"]').nth(1).click();
  await page.screenshot({ path: join(shots, "explorer.png"), fullPage: true });
  pageWasClean(t, page);
});

t.test("explorer over the raw WebSocket API", async (t) => {
  const node = await startNode(t, { consoleEnabled: true });
  // As `start` prints it: the token in the fragment, which never reaches the server.
  const page = await open(t, node, `/#token=${token}`);
  t.equal(await page.inputValue('[data-testid="token"]'), token, "the token is taken from the URL");
  t.notMatch(page.url(), /token/, "and removed from the address bar");
  await page.selectOption('[data-testid="protocol"]', "raw");
  await page.selectOption('[data-testid="endpoint"]', "/ws");
  await page.click('[data-testid="connect"]');
  await page.locator('[data-testid="state"]', { hasText: /^connected$/ }).waitFor();
  t.equal(node.node.rawApi.connections.size, 1, "the browser holds one raw connection");
  await subscribe(page, "job:job_1");

  await page.selectOption('[data-testid="publish-type"]', "job.completed");
  t.equal(await page.inputValue('[data-testid="publish-room"]'), "job:job_1");
  t.match(await publishFromForm(page, 202), /202 accepted 1/);
  const row = page.locator('[data-testid="event-row"]').first();
  await row.waitFor();
  t.same(
    (await rows(page)).map(({ type, room, via }) => ({ type, room, via })),
    [{ type: "job.completed", room: "job:job_1", via: "raw" }],
  );
  t.match(await row.locator('[data-field="payload"]').textContent(), /"rows_processed":150/);

  // A room of another tenant: the API's 4003, shown.
  await page.fill('[data-testid="room"]', "workbook:other:wb_1");
  await page.click('[data-testid="subscribe"]');
  t.match(await page.locator('[data-testid="room-error"]').textContent(), /^4003: /);
  pageWasClean(t, page);
});

t.test("the form shows the publish API's validation errors", async (t) => {
  const node = await startNode(t, { consoleEnabled: true });
  const page = await open(t, node);
  await connect(page, "raw");
  await subscribe(page, "job:job_1");
  await page.selectOption('[data-testid="publish-type"]', "job.progress");
  await page.fill('[data-testid="publish-payload"]', '{"job_id":"job_1","progress":150}');
  const text = await publishFromForm(page, 400);
  t.match(text, /400 refused/);
  t.match(
    await page.locator('[data-testid="publish-result"] li').allTextContents(),
    ["payload.progress must be a number from 0 to 100"],
    "the API's reason, as given",
  );
  await page.fill('[data-testid="publish-payload"]', '{"job_id":"job_1",');
  t.match(
    await publishFromForm(page, 0),
    /payload is not JSON/,
    "bad JSON is caught before sending",
  );
  await page.fill('[data-testid="publish-room"]', "job:job_1");
  await page.fill('[data-testid="publish-tenant"]', "");
  await page.fill('[data-testid="publish-payload"]', '{"job_id":"job_1","progress":1}');
  t.match(await publishFromForm(page, 400), /tenant/i, "a job room needs tenant_id");
  t.equal(await rowCount(page), 0, "nothing was published");
  t.equal(metricSum(await scrape(node.port), "calcbridge_events_published_total"), 0);
  pageWasClean(t, page);
});

t.test("overview: numbers move under load and agree with /metrics", async (t) => {
  const node = await startNode(t, { consoleEnabled: true });
  const page = await open(t, node, "/#/overview");
  const nodeCell = (field: string) =>
    page.locator(
      `[data-testid="node-row"][data-node="${node.node.nodeId}"] [data-field="${field}"]`,
    );
  await nodeCell("connections").waitFor();
  const before = Number(await nodeCell("connections").textContent());
  t.equal(before, 0, "no connections yet");
  t.equal(await page.locator('[data-testid="bus-state"]').textContent(), "connected");

  const user = await tokenFor("u1", TENANT);
  const clients = await Promise.all([0, 1, 2].map(() => sioConnect(t, node.port, { token: user })));
  clients.push(await sioConnect(t, node.port, { token: user, transports: ["polling"] }));
  for (const c of clients) await c.ack("subscribe", "job:load");
  await rawOpen(t, node.port, "/ws/jobs/load", { token: user });
  await rawOpen(t, node.port, "/ws/notifications", { token: user });
  await sioRefused(t, node.port, { token: "not-a-jwt" });
  let n = 0;
  const load = setInterval(() => {
    for (let i = 0; i < 10; i++)
      node.node.publish({
        tenant_id: TENANT,
        room: "job:load",
        type: "job.progress",
        payload: { job_id: "load", progress: n++ % 100 },
      });
  }, 50);
  t.teardown(() => clearInterval(load));

  await waitFor(async () => Number(await nodeCell("out-rate").textContent()) > 0, {
    timeout: PAGE_WAIT_MS,
    message: "frames out /s above 0 on the page",
  });
  t.ok(
    Number(await page.locator('[data-testid="cluster-in-rate"]').textContent()) > 0,
    "events in /s > 0",
  );
  // Let a few samples fill the charts.
  await samplesAtLeast(page, 5);
  await page.screenshot({ path: join(shots, "overview.png"), fullPage: true });
  clearInterval(load);

  // Connections are steady now: the next sample must show what /metrics shows.
  const samples = Number(
    await page.locator('[data-testid="overview"]').getAttribute("data-samples"),
  );
  await samplesAtLeast(page, samples + 1);
  const shown = Number(await nodeCell("connections").textContent());
  const metrics = await scrape(node.port);
  const shownAfter = Number(await nodeCell("connections").textContent());
  t.equal(shown, 6, "4 Socket.IO + 2 raw clients");
  t.equal(shown, metricSum(metrics, "calcbridge_connections"), "the overview agrees with /metrics");
  t.equal(shownAfter, shown);
  t.equal(Number(await page.locator('[data-testid="cluster-connections"]').textContent()), shown);
  t.equal(
    Number(await nodeCell("auth-failures").textContent()),
    metricSum(metrics, "calcbridge_auth_failures_total"),
  );
  t.equal(Number(await nodeCell("auth-failures").textContent()), 1);
  t.equal(Number(await nodeCell("rooms").textContent()), metricSum(metrics, "calcbridge_rooms"));
  t.match(
    await nodeCell("transports").textContent(),
    /socket\.io websocket: 3.*socket\.io polling: 1/,
  );
  t.equal(await page.locator('[data-testid="auth-failures"] tbody tr').count(), 1);
  t.equal(await page.locator(".chart canvas").count(), 4, "four charts drawn");
  pageWasClean(t, page);
});

t.test("overview in production asks for the console token", async (t) => {
  const consoleToken = "console-browser-token-0123456789";
  const node = await startNode(t, { consoleEnabled: true, consoleToken });
  const page = await open(t, node, "/#/overview");
  await page.locator('[data-testid="console-token"]').waitFor();
  t.equal(await page.locator('[data-testid="node-row"]').count(), 0, "no numbers without it");
  await page.fill('[data-testid="console-token"]', "wrong-token-wrong-token");
  await page.click('[data-testid="console-token-save"]');
  await page.locator(".token-form .error", { hasText: /console token/ }).waitFor();
  await page.fill('[data-testid="console-token"]', consoleToken);
  await page.click('[data-testid="console-token-save"]');
  await page.locator(`[data-testid="node-row"][data-node="${node.node.nodeId}"]`).waitFor();
  t.pass("the overview shows once the token is given");
  pageWasClean(t, page);
});
