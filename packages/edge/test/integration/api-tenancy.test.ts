/**
 * Tenant isolation end to end: tenants whose workbook, job and user ids
 * collide, ids with `.`, `*`, `>`, `:`, `~`, spaces, emoji and CJK, tenant ids
 * that a naive escape would merge, raw and Socket.IO clients alike. Every
 * client's received list is compared exactly with what its own rooms got.
 */
import { subjectFor } from "@calcbridge/protocol";
import { delay } from "@calcbridge/testing";
import t from "tap";
import {
  QUIET_MS,
  httpPublish,
  jobPath,
  publishToken,
  rawOpen,
  sioConnect,
  startNode,
  tokenFor,
  workbookPath,
} from "../api-helpers.js";

// "a.b" and "a~2Eb": the second is the first's escaped form, spelled out.
const TENANTS = ["acme", "globex", "a.b", "a~2Eb"];
const IDS = ["wb-1", "x.y", "x~2Ey", "*", ">", "a:b", "with space", "📊 Q3", "日本語"];
const USERS = ["u1", "u.2"];

/** A client under test: who it is, which rooms it is in, how to read what it got. */
interface Observer {
  name: string;
  tenant: string;
  rooms: ReadonlySet<string>;
  received(): string[];
  count(): number;
}

interface Published {
  tenant: string;
  room: string;
  tag: string;
}

t.test("no event crosses a tenant or user boundary", async (t) => {
  const { node, port } = await startNode(t);
  const observers: Observer[] = [];
  const tagOf = (envelope: unknown) => (envelope as { payload: { tag: string } }).payload.tag;

  for (const tenant of TENANTS) {
    const token = await tokenFor("u1", tenant);
    const workbookRooms = IDS.map((id) => `workbook:${tenant}:${id}`);
    const jobRooms = IDS.map((id) => `job:${id}`);
    const all = [...workbookRooms, ...jobRooms, "notifications:u1"];

    // A raw /ws client and a Socket.IO client in every room u1 may join.
    const raw = await rawOpen(t, port, "/ws", { token });
    for (const room of all) {
      const answer = await raw.request({ type: "subscribe", room });
      if (answer.type !== "subscribed") throw new Error(`${room}: ${JSON.stringify(answer)}`);
    }
    const sio = await sioConnect(t, port, { token });
    for (const room of all) {
      const ack = await sio.ack("subscribe", room);
      if (ack["ok"] !== true) throw new Error(`${room}: ${JSON.stringify(ack)}`);
    }
    observers.push(
      {
        name: `raw /ws ${tenant}`,
        tenant,
        rooms: new Set(all),
        received: () => raw.events.map((e) => tagOf(JSON.parse(e))),
        count: () => raw.events.length,
      },
      {
        name: `socket.io ${tenant}`,
        tenant,
        rooms: new Set(all),
        received: () => sio.events.map(([, env]) => tagOf(env)),
        count: () => sio.events.length,
      },
    );

    // The auto-subscribing endpoints, one client per id.
    for (const id of IDS) {
      for (const [path, room] of [
        [workbookPath(id), `workbook:${tenant}:${id}`],
        [jobPath(id), `job:${id}`],
      ] as const) {
        const c = await rawOpen(t, port, path, { token });
        observers.push({
          name: `raw ${path} ${tenant}`,
          tenant,
          rooms: new Set([room]),
          received: () => c.events.map((e) => tagOf(JSON.parse(e))),
          count: () => c.events.length,
        });
      }
    }

    // Each user's notifications: u1 and u.2 of every tenant share their ids.
    for (const user of USERS) {
      const userToken = await tokenFor(user, tenant);
      const c = await rawOpen(t, port, "/ws/notifications", { token: userToken });
      observers.push({
        name: `raw /ws/notifications ${user}@${tenant}`,
        tenant,
        rooms: new Set([`notifications:${user}`]),
        received: () => c.events.map((e) => tagOf(JSON.parse(e))),
        count: () => c.events.length,
      });
      const s = await sioConnect(t, port, { token: userToken });
      const ack = await s.ack("subscribe", `notifications:${user}`);
      if (ack["ok"] !== true) throw new Error(JSON.stringify(ack));
      observers.push({
        name: `socket.io notifications ${user}@${tenant}`,
        tenant,
        rooms: new Set([`notifications:${user}`]),
        received: () => s.events.map(([, env]) => tagOf(env)),
        count: () => s.events.length,
      });
    }
  }

  // One subject per tenant and room: colliding ids never share one.
  const expectedSubjects = new Set(
    TENANTS.flatMap((tenant) => [
      ...IDS.map((id) =>
        subjectFor(tenant, { kind: "workbook", tenantId: tenant, workbookId: id }),
      ),
      ...IDS.map((id) => subjectFor(tenant, { kind: "job", jobId: id })),
      ...USERS.map((u) => subjectFor(tenant, { kind: "notifications", userId: u })),
    ]),
  );
  t.equal(expectedSubjects.size, TENANTS.length * (2 * IDS.length + USERS.length));
  t.same(new Set(node.delivery.subjects()), expectedSubjects, "one subject per tenant's room");

  // Every room of every tenant gets one event per round: in-process, then HTTP.
  const published: Published[] = [];
  const roomsOf = (tenant: string) => [
    ...IDS.map((id) => `workbook:${tenant}:${id}`),
    ...IDS.map((id) => `job:${id}`),
    ...USERS.map((u) => `notifications:${u}`),
  ];
  const eventFor = (tenant: string, room: string, round: string) => {
    const tag = `${round}|${tenant}|${room}`;
    published.push({ tenant, room, tag });
    return { tenant_id: tenant, room, type: "notification", payload: { title: tag, tag } };
  };
  for (const tenant of TENANTS) {
    for (const room of roomsOf(tenant)) node.publish(eventFor(tenant, room, "inprocess"));
  }
  for (const tenant of TENANTS) {
    const events = roomsOf(tenant).map((room) => eventFor(tenant, room, "http"));
    const res = await httpPublish(port, { events }, { token: await publishToken(tenant) });
    t.equal(res.status, 202, `HTTP batch of ${tenant}`);
  }

  const expected = (o: Observer) =>
    published.filter((p) => p.tenant === o.tenant && o.rooms.has(p.room)).map((p) => p.tag);
  const deadline = Date.now() + 5000;
  while (observers.some((o) => o.count() < expected(o).length) && Date.now() < deadline) {
    await delay(10);
  }
  await delay(QUIET_MS);
  let total = 0;
  for (const o of observers) {
    const want = expected(o);
    total += want.length;
    t.same(o.received(), want, `${o.name}: exactly the events of its own rooms`);
  }
  t.comment(
    `${observers.length} clients, ${published.length} events published, ${total} delivered`,
  );
});

t.test("a tenant's token cannot name another tenant's rooms", async (t) => {
  const { node, port } = await startNode(t);
  const acme = await tokenFor("u1", "acme");
  const raw = await rawOpen(t, port, "/ws", { token: acme });
  const sio = await sioConnect(t, port, { token: acme });
  // Workbook rooms name their tenant: refused with 4003.
  for (const room of ["workbook:globex:wb-1", "workbook:a.b:wb-1", "workbook:ACME:wb-1"]) {
    t.match(await raw.request({ type: "subscribe", room }), { type: "error", code: 4003 }, room);
    t.match(await sio.ack("subscribe", room), { ok: false, code: 4003 }, room);
  }
  // Job rooms name none: joining is allowed and scoped to acme.
  t.same(await raw.request({ type: "subscribe", room: "job:shared" }), {
    type: "subscribed",
    room: "job:shared",
  });
  t.same(await sio.ack("subscribe", "job:shared"), { ok: true, room: "job:shared" });
  t.same(node.delivery.subjects(), [subjectFor("acme", { kind: "job", jobId: "shared" })]);
  // A publish token of acme cannot reach globex, a publish for globex does not reach acme.
  const pub = await publishToken("acme");
  const denied = await httpPublish(
    port,
    { tenant_id: "globex", room: "job:shared", type: "job.started", payload: { job_id: "shared" } },
    { token: pub },
  );
  t.equal(denied.status, 400);
  node.publish({
    tenant_id: "globex",
    room: "job:shared",
    type: "job.started",
    payload: { job_id: "g" },
  });
  node.publish({
    tenant_id: "acme",
    room: "job:shared",
    type: "job.started",
    payload: { job_id: "a" },
  });
  await raw.eventCount(1);
  await sio.eventCount(1);
  await delay(QUIET_MS);
  t.same(
    raw.events.map((e) => JSON.parse(e).payload.job_id),
    ["a"],
  );
  t.same(
    sio.events.map(([, env]) => (env as { payload: { job_id: string } }).payload.job_id),
    ["a"],
  );
});
