/**
 * Publishing, in-process (`node.publish`) and over `POST /v1/publish`: every
 * event type reaches raw and Socket.IO clients in their own wire format with
 * the same envelope; timestamps; validation (nothing delivered on refusal,
 * batches all or nothing); the HTTP statuses 202/400/401/403/413/415/503.
 */
import { isIsoUtcTimestamp, type EventType } from "@calcbridge/protocol";
import { delay, makeToken } from "@calcbridge/testing";
import t from "tap";
import type tap from "tap";
import { BusUnavailableError, PublishValidationError } from "../../src/api/publisher.js";
import {
  DownBus,
  EVENT_TYPES,
  INVALID_PAYLOADS,
  QUIET_MS,
  httpPublish,
  jobPath,
  publishToken,
  rawOpen,
  samplePayload,
  sioConnect,
  startNode,
  tokenFor,
  workbookPath,
  type RawClient,
  type SioClient,
  type TestNode,
  type Teardown,
} from "../api-helpers.js";

const TENANT = "acme";
const USER = "u1";
const ROOMS = ["workbook:acme:wb_1", "job:job_1", `notifications:${USER}`] as const;

interface Clients {
  /** One raw client per room of ROOMS, on its own endpoint. */
  raw: RawClient[];
  /** One Socket.IO client in every room of ROOMS. */
  sio: SioClient;
}

/** A raw client on each room's endpoint and a Socket.IO client in all of them. */
async function clients(t: Teardown, { port }: TestNode): Promise<Clients> {
  const token = await tokenFor(USER, TENANT);
  const raw = await Promise.all([
    rawOpen(t, port, workbookPath("wb_1"), { token }),
    rawOpen(t, port, jobPath("job_1"), { token }),
    rawOpen(t, port, "/ws/notifications", { token }),
  ]);
  const sio = await sioConnect(t, port, { token });
  for (const room of ROOMS) {
    const ack = await sio.ack("subscribe", room);
    if (ack["ok"] !== true) throw new Error(`subscribe ${room}: ${JSON.stringify(ack)}`);
  }
  return { raw, sio };
}

/** A request for every event type to every room kind, in that order. */
function everyEvent(source: string) {
  return EVENT_TYPES.flatMap((type) =>
    ROOMS.map((room) => ({
      tenant_id: TENANT,
      room,
      type,
      payload: samplePayload(type, `${source} ${type} ${room}`),
    })),
  );
}

interface Accepted {
  room: string;
  tenant_id: string;
  type: string;
  timestamp: string;
  offset?: string;
}

/**
 * Checks that the raw client of each room got exactly its events as the
 * envelope text (keys type, payload, timestamp, room, in that order), and
 * that the Socket.IO client got every event, named after its type, with the
 * same envelope.
 */
async function checkDelivery(
  t: Pick<typeof tap, "equal" | "ok" | "same">,
  { raw, sio }: Clients,
  requests: ReturnType<typeof everyEvent>,
  accepted: Accepted[],
  before: number,
): Promise<void> {
  t.equal(accepted.length, requests.length, "every event accepted");
  const expected = requests.map((req, i) => {
    const timestamp = accepted[i]!.timestamp;
    t.ok(isIsoUtcTimestamp(timestamp), `timestamp ${timestamp} is ISO 8601 UTC`);
    const at = Date.parse(timestamp);
    t.ok(at >= before - 1 && at <= Date.now(), "timestamp is the publish time");
    // The embedded node keeps history: every accepted event has the next offset.
    const offset = accepted[i]!.offset;
    t.ok(offset !== undefined && /^[1-9][0-9]*$/.test(offset), `offset ${offset}`);
    if (i > 0) t.ok(Number(offset) > Number(accepted[i - 1]!.offset), "offsets increase");
    t.same(accepted[i], { room: req.room, tenant_id: TENANT, type: req.type, timestamp, offset });
    return JSON.stringify({
      type: req.type,
      payload: req.payload,
      timestamp,
      room: req.room,
      offset,
    });
  });
  await Promise.all([
    ...raw.map((c, r) => c.eventCount(requests.filter((q) => q.room === ROOMS[r]).length)),
    sio.eventCount(requests.length),
  ]);
  await delay(QUIET_MS);
  ROOMS.forEach((room, r) => {
    t.same(
      raw[r]!.events,
      expected.filter((_, i) => requests[i]!.room === room),
      `raw client of ${room}: exactly its events, byte for byte`,
    );
  });
  for (const text of raw[0]!.events) {
    t.same(Object.keys(JSON.parse(text) as object), [
      "type",
      "payload",
      "timestamp",
      "room",
      "offset",
    ]);
  }
  t.equal(sio.events.length, expected.length, "Socket.IO: every event once");
  sio.events.forEach(([name, envelope], i) => {
    t.equal(name, requests[i]!.type, "the Socket.IO event is named after the type");
    t.equal(JSON.stringify(envelope), expected[i], "the same envelope, in the same key order");
  });
  for (const c of raw) c.events.length = 0;
  sio.events.length = 0;
}

/** The reasons of the PublishValidationError `fn` throws (fails the test if it does not). */
function refusal(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof PublishValidationError) return err.reasons;
    throw err;
  }
  throw new Error("the publish was accepted");
}

t.test("every event type reaches raw and Socket.IO clients", async (t) => {
  const node = await startNode(t);
  const c = await clients(t, node);
  const pub = await publishToken(TENANT);

  t.test("node.publish, one event at a time", async (t) => {
    const requests = everyEvent("one");
    const before = Date.now();
    const accepted = requests.flatMap((req) => node.node.publish(req));
    await checkDelivery(t, c, requests, accepted, before);
  });
  t.test("node.publish, one batch", async (t) => {
    const requests = everyEvent("batch");
    const before = Date.now();
    const accepted = node.node.publish({ events: requests });
    await checkDelivery(t, c, requests, accepted, before);
  });
  t.test("POST /v1/publish, one event per request", async (t) => {
    const requests = everyEvent("http");
    const before = Date.now();
    const accepted: Accepted[] = [];
    for (const req of requests) {
      const res = await httpPublish(node.port, req, { token: pub });
      t.equal(res.status, 202);
      t.equal(res.body["accepted"], 1);
      accepted.push(...(res.body["events"] as Accepted[]));
    }
    await checkDelivery(t, c, requests, accepted, before);
  });
  t.test("POST /v1/publish, one batch", async (t) => {
    const requests = everyEvent("http batch");
    const before = Date.now();
    const res = await httpPublish(node.port, { events: requests }, { token: pub });
    t.equal(res.status, 202);
    t.equal(res.body["accepted"], requests.length);
    await checkDelivery(t, c, requests, res.body["events"] as Accepted[], before);
  });
});

t.test("timestamps: set when omitted, kept when given, refused when not ISO UTC", async (t) => {
  const node = await startNode(t);
  const c = await clients(t, node);
  const pub = await publishToken(TENANT);
  const base = { tenant_id: TENANT, room: "job:job_1", type: "job.started" as EventType };
  const given = [
    "2026-01-25T10:30:15Z",
    "2026-01-25T10:30:15.123Z",
    "2024-02-29T00:00:00.000000001Z",
  ];
  for (const timestamp of given) {
    const payload = { job_id: "job_1", tag: timestamp };
    const [accepted] = node.node.publish({ ...base, payload, timestamp });
    t.equal(accepted?.timestamp, timestamp, "kept as given (node.publish)");
    const res = await httpPublish(node.port, { ...base, payload, timestamp }, { token: pub });
    t.match(res, { status: 202, body: { events: [{ timestamp }] } }, "kept as given (HTTP)");
  }
  const raw = c.raw[1]!;
  await raw.eventCount(given.length * 2);
  t.same(
    raw.events.map((e) => (JSON.parse(e) as { timestamp: string }).timestamp),
    given.flatMap((ts) => [ts, ts]),
    "delivered with the given timestamp",
  );
  await c.sio.eventCount(given.length * 2);
  t.same(
    c.sio.events.map(([, env]) => (env as { timestamp: string }).timestamp),
    given.flatMap((ts) => [ts, ts]),
  );

  const before = Date.now();
  const [now] = node.node.publish({ ...base, payload: { job_id: "job_1" } });
  t.ok(now !== undefined && isIsoUtcTimestamp(now.timestamp) && now.timestamp.endsWith("Z"));
  t.ok(Date.parse(now!.timestamp) >= before - 1 && Date.parse(now!.timestamp) <= Date.now());

  for (const timestamp of [
    "2026-01-25T10:30:15+01:00",
    "2026-01-25 10:30:15Z",
    "2026-02-30T10:30:15Z",
    1769337015000,
    "yesterday",
  ]) {
    const event = { ...base, payload: { job_id: "job_1" }, timestamp };
    t.match(
      refusal(() => node.node.publish(event)),
      [/timestamp must be an ISO 8601 UTC/],
    );
    const res = await httpPublish(node.port, event, { token: pub });
    t.match(res, { status: 400, body: { reasons: [/timestamp must be an ISO 8601 UTC/] } });
  }
});

t.test("invalid events are refused with reasons and nothing is delivered", async (t) => {
  const node = await startNode(t);
  const c = await clients(t, node);
  const pub = await publishToken(TENANT);
  t.same(
    INVALID_PAYLOADS.map(([type]) => type),
    EVENT_TYPES,
    "one invalid payload per event type",
  );

  const invalid: [string, unknown, RegExp][] = [
    ...INVALID_PAYLOADS.map(
      ([type, payload, reason]) =>
        [`bad ${type} payload`, { room: "workbook:acme:wb_1", type, payload }, reason] as [
          string,
          unknown,
          RegExp,
        ],
    ),
    [
      "unknown type",
      { room: "workbook:acme:wb_1", type: "workbook.deleted", payload: {} },
      /type "workbook.deleted" is not a known event type/,
    ],
    ["no type", { room: "workbook:acme:wb_1", payload: {} }, /type is required/],
    ["no payload", { room: "workbook:acme:wb_1", type: "alert" }, /payload is required/],
    [
      "payload not an object",
      { room: "workbook:acme:wb_1", type: "alert", payload: "hi" },
      /payload must be an object/,
    ],
    [
      "no room",
      { tenant_id: TENANT, type: "job.started", payload: { job_id: "j" } },
      /room is required/,
    ],
    [
      "bad room",
      { tenant_id: TENANT, room: "sheet:1", type: "job.started", payload: { job_id: "j" } },
      /must start with "workbook:"/,
    ],
    [
      "job room without tenant_id",
      { room: "job:job_1", type: "job.started", payload: { job_id: "j" } },
      /tenant_id is required for a job room/,
    ],
    [
      "notifications room without tenant_id",
      { room: "notifications:u1", type: "notification", payload: { title: "x" } },
      /tenant_id is required for a notifications room/,
    ],
    [
      "tenant_id does not match the workbook room",
      {
        tenant_id: "globex",
        room: "workbook:acme:wb_1",
        type: "alert",
        payload: { priority: "low", message: "x" },
      },
      /tenant_id "globex" does not match the room's tenant "acme"/,
    ],
    [
      "payload over 64 KB",
      {
        room: "workbook:acme:wb_1",
        type: "alert",
        payload: { priority: "low", message: "x".repeat(70_000) },
      },
      /payload must be at most 65536 bytes/,
    ],
    ["an array", [{ room: "job:x" }], /not an array/],
    ["empty batch", { events: [] }, /"events" must not be empty/],
    ["batch not an array", { events: {} }, /"events" must be an array/],
  ];
  for (const [what, body, reason] of invalid) {
    const reasons = refusal(() => node.node.publish(body));
    t.ok(
      reasons.some((r) => reason.test(r)),
      `node.publish: ${what} (${reasons.join("; ")})`,
    );
    const res = await httpPublish(node.port, body, { token: pub });
    t.equal(res.status, 400, `HTTP: ${what} -> 400`);
    t.match(res.body, { error: "invalid_request", reasons: [reason] });
  }

  // A batch with one bad event is refused as a whole, naming the bad one.
  const good = (tag: string) => ({
    room: "workbook:acme:wb_1",
    type: "alert",
    payload: { priority: "low", message: tag },
  });
  const batch = { events: [good("a"), good("b"), { ...good("c"), type: "nope" }, good("d")] };
  t.same(
    refusal(() => node.node.publish(batch)),
    ['events[2]: type "nope" is not a known event type'],
  );
  const res = await httpPublish(node.port, batch, { token: pub });
  t.match(res, { status: 400, body: { reasons: [/^events\[2\]: /] } });
  t.equal((res.body["reasons"] as string[]).length, 1, "only the bad event is named");

  // Every bus delivery is ordered: once the marker arrives, nothing refused can follow.
  node.node.publish({
    events: ROOMS.map((room) => ({ tenant_id: TENANT, ...good("marker"), room })),
  });
  await Promise.all([...c.raw.map((r) => r.eventCount(1)), c.sio.eventCount(3)]);
  await delay(QUIET_MS);
  for (const r of c.raw) {
    t.same(
      r.events.map((e) => JSON.parse(e).payload.message),
      ["marker"],
      "raw: nothing refused",
    );
  }
  t.same(
    c.sio.events.map(([, env]) => (env as { payload: { message: string } }).payload.message),
    ["marker", "marker", "marker"],
    "Socket.IO: nothing refused",
  );
});

t.test("POST /v1/publish: auth, scope, tenant, size and content type", async (t) => {
  const node = await startNode(t);
  const { port } = node;
  const token = await tokenFor("u1", "globex");
  const globexClient = await rawOpen(t, port, "/ws/notifications", { token });
  const acme = await publishToken("acme");
  const event = {
    tenant_id: "globex",
    room: "notifications:u1",
    type: "notification",
    payload: { title: "hello" },
  };

  t.test("401 without a valid token", async (t) => {
    const cases: [string, string | undefined][] = [
      ["no Authorization", undefined],
      ["not a JWT", "abc"],
      ["wrong secret", await makeToken({ scope: "rt:publish" }, { secret: "x".repeat(40) })],
      ["expired", await makeToken({ scope: "rt:publish" }, { expiresIn: -3600 })],
    ];
    for (const [what, token] of cases) {
      const res = await httpPublish(port, event, token === undefined ? {} : { token });
      t.equal(res.status, 401, `${what} -> 401`);
      t.match(res.body, { error: "unauthorized", reasons: [String] });
    }
    const basic = await fetch(`http://127.0.0.1:${port}/v1/publish`, {
      method: "POST",
      headers: {
        authorization: `Basic ${Buffer.from("svc:pw").toString("base64")}`,
        connection: "close",
      },
      body: JSON.stringify(event),
    });
    t.equal(basic.status, 401, "another scheme -> 401");
    const query = await fetch(`http://127.0.0.1:${port}/v1/publish?token=${acme}`, {
      method: "POST",
      headers: { "content-type": "application/json", connection: "close" },
      body: JSON.stringify(event),
    });
    t.equal(query.status, 401, "?token= is not accepted for publishing");
  });

  t.test("403 without the rt:publish scope", async (t) => {
    for (const scope of [undefined, "", "rt:subscribe", "rt:publisher", "read rt:publish:all"]) {
      const token = await tokenFor("svc", "globex", scope === undefined ? {} : { scope });
      const res = await httpPublish(port, event, { token });
      t.equal(res.status, 403, `scope ${JSON.stringify(scope)} -> 403`);
      t.match(res.body, { error: "forbidden", reasons: [/rt:publish/] });
    }
    const ok = await tokenFor("svc", "globex", { scope: "rt:read rt:publish" });
    t.equal((await httpPublish(port, event, { token: ok })).status, 202, "one scope of several");
  });

  t.test("a publish token of another tenant is refused with a reason", async (t) => {
    const cases: [string, unknown][] = [
      ["job room", { ...event, room: "job:j1", type: "job.started", payload: { job_id: "j1" } }],
      ["notifications room", event],
      [
        "workbook room named by the room",
        { ...event, tenant_id: undefined, room: "workbook:globex:w" },
      ],
      ["one event of a batch", { events: [{ ...event, tenant_id: "acme" }, event] }],
    ];
    for (const [what, body] of cases) {
      const res = await httpPublish(port, body, { token: acme });
      t.equal(res.status, 400, `${what}: refused (400)`);
      t.match(res.body, { reasons: [/may not publish for tenant_id "globex"/] });
    }
    const star = await publishToken("*");
    const before = globexClient.events.length;
    const res = await httpPublish(
      port,
      { ...event, payload: { title: "from *" } },
      { token: star },
    );
    t.match(res, { status: 202, body: { accepted: 1 } }, 'a "*" token publishes for any tenant');
    await globexClient.eventCount(before + 1);
    await delay(QUIET_MS);
    t.same(
      globexClient.events.slice(before).map((e) => JSON.parse(e).payload.title),
      ["from *"],
      "only the * token's event arrived",
    );
  });

  t.test("413 for a body over 1 MiB, 415 for a body that is not JSON", async (t) => {
    const pub = await publishToken("globex");
    const big = JSON.stringify({ ...event, pad: "x".repeat(1024 * 1024) });
    const res = await httpPublish(port, big, { token: pub });
    t.equal(res.status, 413);
    t.match(res.body, { error: "payload_too_large", reasons: [/at most 1048576 bytes/] });
    for (const contentType of ["text/plain", "application/x-www-form-urlencoded", "text/json"]) {
      const res = await httpPublish(port, event, { token: pub, contentType });
      t.equal(res.status, 415, `${contentType} -> 415`);
      t.match(res.body, { error: "unsupported_media_type", reasons: [/application\/json/] });
    }
    const charset = await httpPublish(port, event, {
      token: pub,
      contentType: "application/json; charset=utf-8",
    });
    t.equal(charset.status, 202, "application/json with a charset is JSON");
    const notJson = await httpPublish(port, "{not json", { token: pub });
    t.match(notJson, { status: 400, body: { reasons: ["the body must be JSON"] } });
    const empty = await httpPublish(port, "", { token: pub });
    t.match(empty, { status: 400, body: { reasons: ["the body must be JSON"] } });
  });
});

t.test("503 when the bus is down", async (t) => {
  const pub = await publishToken(TENANT);
  const event = {
    room: "workbook:acme:wb_1",
    type: "alert",
    payload: { priority: "low", message: "x" },
  };

  t.test("a disconnected bus", async (t) => {
    const bus = new DownBus("disconnected");
    const { node, port } = await startNode(t, { bus });
    const res = await httpPublish(port, event, { token: pub });
    t.equal(res.status, 503);
    t.match(res.body, { error: "bus_unavailable", reasons: [/disconnected/] });
    t.throws(() => node.publish(event), BusUnavailableError);
    t.equal(bus.eventPublishes, 0, "a bus known to be down is not even tried");
    const bad = await httpPublish(port, { ...event, type: "nope" }, { token: pub });
    t.equal(bad.status, 400, "validation comes first: an invalid event is a 400 even then");
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`, {
      headers: { connection: "close" },
    });
    t.equal(ready.status, 503, "/readyz reports the bus");
    t.match(await ready.json(), { reasons: [/bus disconnected/] });
  });

  t.test("a bus whose publish throws", async (t) => {
    const bus = new DownBus("connected");
    const { port } = await startNode(t, { bus });
    const res = await httpPublish(port, event, { token: pub });
    t.equal(res.status, 503);
    t.match(res.body, { error: "bus_unavailable", reasons: [/refused the publish/] });
    t.equal(bus.eventPublishes, 1, "tried once, refused by the bus");
  });

  t.test("the embedded bus, closed", async (t) => {
    const { node, port } = await startNode(t);
    const c = await rawOpen(t, port, workbookPath("wb_1"), { token: await tokenFor(USER, TENANT) });
    t.equal((await httpPublish(port, event, { token: pub })).status, 202);
    await c.eventCount(1);
    await node.bus.close();
    const res = await httpPublish(port, event, { token: pub });
    t.match(res, { status: 503, body: { error: "bus_unavailable", reasons: [/closed/] } });
    await delay(QUIET_MS);
    t.equal(c.events.length, 1, "nothing more was delivered");
  });
});
