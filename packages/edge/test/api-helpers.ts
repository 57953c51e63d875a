/**
 * Helpers of the CalcBridge API end-to-end tests: an edge node on port 0,
 * raw-API clients (`ws`), official `socket.io-client` clients, tokens, the
 * HTTP publish API and a valid payload of every event type. Everything
 * started here is closed in `t.teardown`.
 */
import {
  EVENT_TYPES,
  isEventType,
  type Bus,
  type BusStatus,
  type EventType,
} from "@calcbridge/protocol";
import { TEST_SECRET, makeToken, waitFor, type MakeTokenOptions } from "@calcbridge/testing";
import { io as ioClient, type Socket as ClientSocket } from "socket.io-client";
import WebSocket from "ws";
import { createLogger } from "../src/logger.js";
import { EdgeNode, type EdgeNodeOptions } from "../src/node.js";
import type { Teardown } from "./helpers.js";

export type { ClientSocket, Teardown };

/** Bound of every wait for something that must happen, in ms. */
export const WAIT_MS = 3000;

/** How long a test listens for something that must NOT arrive, in ms. */
export const QUIET_MS = 150;

/** `promise`'s value, or undefined if it takes longer than `ms` (the timer is cleared either way). */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ------------------------------------------------------------------ nodes

export interface TestNode {
  node: EdgeNode;
  port: number;
  /** `http://127.0.0.1:<port>` */
  url: string;
}

/**
 * An edge node on 127.0.0.1, port 0, verifying HS256 tokens signed with
 * `TEST_SECRET` unless `auth` says otherwise; closed at teardown.
 */
export async function startNode(
  t: Teardown,
  options: Partial<EdgeNodeOptions> = {},
): Promise<TestNode> {
  const node = await EdgeNode.create({
    auth: { secret: TEST_SECRET },
    // Quiet unless asked: LOG_LEVEL=debug shows the node's logs of a failing test.
    logger: createLogger({ level: process.env["LOG_LEVEL"] ?? "silent", nodeId: "test" }),
    ...options,
  });
  t.teardown(() => node.close());
  const port = await node.listen(0, "127.0.0.1");
  return { node, port, url: `http://127.0.0.1:${port}` };
}

/**
 * A bus that is down: `status` is what the test says and every publish
 * throws, as a NATS connection that lost its server does. Not a mock of NATS:
 * it is the `Bus` contract in its failing state.
 */
export class DownBus implements Bus {
  readonly kind = "nats";
  /** Subjects of the publishes tried (the node's cluster traffic included). */
  readonly tried: string[] = [];
  constructor(public status: BusStatus = "disconnected") {}
  publish(subject: string): void {
    this.tried.push(subject);
    throw new Error("the bus is down");
  }
  /** Publishes of room events that were tried (subjects under the `rt.` prefix). */
  get eventPublishes(): number {
    return this.tried.filter((s) => s.startsWith("rt.")).length;
  }
  newInbox(): string {
    return "_INBOX.down";
  }
  subscribe() {
    return { unsubscribe: () => {} };
  }
  onStatus(): void {}
  async close(): Promise<void> {
    this.status = "closed";
  }
}

// ----------------------------------------------------------------- tokens

/** A token for `sub` of `tenant` (HS256, TEST_SECRET, one hour unless told otherwise). */
export function tokenFor(
  sub: string,
  tenant: string,
  options: MakeTokenOptions & { scope?: string } = {},
): Promise<string> {
  const { scope, ...rest } = options;
  return makeToken({ sub, tenant_id: tenant, ...(scope !== undefined && { scope }) }, rest);
}

/** A service token allowed to publish (`rt:publish`) for `tenant` (`*`: any). */
export function publishToken(tenant: string): Promise<string> {
  return tokenFor(`svc-${tenant}`, tenant, { scope: "rt:publish" });
}

// ------------------------------------------------------------ raw clients

/** A raw-API message the server sent, parsed. */
export type Message = Record<string, unknown> & { type: string };

export interface Closed {
  code: number;
  reason: string;
  /** Date.now() when the close arrived. */
  at: number;
}

export interface RawClient {
  ws: WebSocket;
  /** Every text frame the server sent, in order, as received. */
  texts: string[];
  /** Text frames that are events (their `type` is an event type), as received. */
  events: string[];
  /** Control messages (subscribed, unsubscribed, pong, error, refreshed, ...), parsed. */
  controls: Message[];
  /** Whether the server opened the WebSocket. */
  opened: Promise<void>;
  /** The close code and reason, once the socket closed (1006 when it never opened). */
  closed: Promise<Closed>;
  /** Sends a JSON value (stringified) or a string as a text frame. */
  send(message: unknown): void;
  /** The next control message not yet taken, waiting up to `timeout` ms. */
  control(timeout?: number): Promise<Message>;
  /** Sends `message` and resolves with the next control message (its answer). */
  request(message: unknown, timeout?: number): Promise<Message>;
  /** Waits until `n` events have arrived and returns them. */
  eventCount(n: number, timeout?: number): Promise<string[]>;
  readonly isOpen: boolean;
}

export interface RawClientOptions {
  token?: string;
  /** Send the token as `Authorization: Bearer` instead of `?token=`. */
  header?: boolean;
}

/**
 * A `ws` client of the raw API on `path` (already percent-encoded). Not
 * awaited: `await client.opened` or `client.closed`. Terminated at teardown.
 */
export function rawClient(
  t: Teardown,
  port: number,
  path: string,
  options: RawClientOptions = {},
): RawClient {
  const { token, header = false } = options;
  const query = token !== undefined && !header ? `?token=${encodeURIComponent(token)}` : "";
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}${query}`, {
    headers: token !== undefined && header ? { authorization: `Bearer ${token}` } : {},
  });
  t.teardown(() => ws.terminate());
  const texts: string[] = [];
  const events: string[] = [];
  const controls: Message[] = [];
  let takenControls = 0;
  ws.on("message", (data, isBinary) => {
    const text = Buffer.isBuffer(data)
      ? data.toString("utf8")
      : Buffer.from(data as ArrayBuffer).toString("utf8");
    if (isBinary) throw new Error(`the server sent a binary frame: ${text}`);
    texts.push(text);
    const msg = JSON.parse(text) as Message;
    if (isEventType(msg.type)) events.push(text);
    else controls.push(msg);
  });
  // An unhandled "error" would crash the test process; `closed` reports the outcome.
  ws.on("error", () => {});
  // Settles with the socket, so no timer outlives a client that never opens.
  const opened = new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("close", (code) => reject(new Error(`closed (${code}) before it opened`)));
  });
  opened.catch(() => {});
  const closed = new Promise<Closed>((resolve) =>
    ws.on("close", (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() })),
  );
  const control = async (timeout = WAIT_MS): Promise<Message> => {
    await waitFor(() => controls.length > takenControls, {
      timeout,
      message: `a control message (got ${JSON.stringify(controls)})`,
      interval: 5,
    });
    return controls[takenControls++]!;
  };
  return {
    ws,
    texts,
    events,
    controls,
    opened,
    closed,
    send: (message) => ws.send(typeof message === "string" ? message : JSON.stringify(message)),
    control,
    request(message, timeout) {
      this.send(message);
      return control(timeout);
    },
    eventCount: async (n, timeout = WAIT_MS) => {
      await waitFor(() => events.length >= n, {
        timeout,
        interval: 5,
        message: `${n} events (got ${events.length})`,
      });
      return events;
    },
    get isOpen() {
      return ws.readyState === WebSocket.OPEN;
    },
  };
}

/** A raw client whose WebSocket is open. */
export async function rawOpen(
  t: Teardown,
  port: number,
  path: string,
  options: RawClientOptions = {},
): Promise<RawClient> {
  const client = rawClient(t, port, path, options);
  const opened = await within(
    client.opened.then(() => true),
    WAIT_MS,
  );
  if (opened !== true) throw new Error(`${path} did not open within ${WAIT_MS} ms`);
  // The auto-subscribing endpoints announce their room once the node holds it:
  // wait for that (events published before could miss the client), and take it
  // out of `controls` so the test sees only what it asks for.
  if (path !== "/ws" && path.startsWith("/ws/")) {
    let closed = false;
    void client.closed.then(() => (closed = true));
    await waitFor(() => closed || client.controls.some((c) => c.type === "subscribed"), {
      timeout: WAIT_MS,
      interval: 2,
      message: `${path} announced its room`,
    });
    const i = client.controls.findIndex((c) => c.type === "subscribed");
    if (i >= 0) client.controls.splice(i, 1);
  }
  return client;
}

/** `/ws/workbooks/{id}` and `/ws/jobs/{id}` with the id percent-encoded. */
export const workbookPath = (id: string): string => `/ws/workbooks/${encodeURIComponent(id)}`;
export const jobPath = (id: string): string => `/ws/jobs/${encodeURIComponent(id)}`;

// ------------------------------------------------------ socket.io clients

export interface SioClient {
  socket: ClientSocket;
  /** Every event received (`onAny`): the event name and its first argument. */
  events: [string, unknown][];
  /** Emits `event` with `args` and resolves with the ack's argument. */
  ack(event: string, ...args: unknown[]): Promise<Record<string, unknown>>;
  /** Waits until `n` events have arrived and returns them. */
  eventCount(n: number, timeout?: number): Promise<[string, unknown][]>;
}

export interface SioOptions {
  /** `auth: { token }`; omitted when undefined. */
  token?: string;
  transports?: ("websocket" | "polling")[];
}

/** A socket.io-client socket (not awaited, no reconnection), disconnected at teardown. */
export function sioSocket(t: Teardown, port: number, options: SioOptions = {}): ClientSocket {
  const socket = ioClient(`http://127.0.0.1:${port}`, {
    transports: options.transports ?? ["websocket"],
    reconnection: false,
    forceNew: true,
    timeout: WAIT_MS,
    ...(options.token !== undefined && { auth: { token: options.token } }),
  });
  t.teardown(() => {
    socket.disconnect();
    socket.io.engine?.close();
  });
  return socket;
}

/** A connected socket.io-client socket that records every event. */
export async function sioConnect(
  t: Teardown,
  port: number,
  options: SioOptions = {},
): Promise<SioClient> {
  const socket = sioSocket(t, port, options);
  const events: [string, unknown][] = [];
  socket.onAny((event: string, first: unknown) => {
    events.push([event, first]);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  return {
    socket,
    events,
    ack: async (event, ...args) =>
      (await socket.timeout(WAIT_MS).emitWithAck(event, ...args)) as Record<string, unknown>,
    eventCount: async (n, timeout = WAIT_MS) => {
      await waitFor(() => events.length >= n, {
        timeout,
        interval: 5,
        message: `${n} socket.io events (got ${events.length})`,
      });
      return events;
    },
  };
}

/** The error of a refused Socket.IO connection (`connect_error`); rejects if it connects. */
export function sioRefused(
  t: Teardown,
  port: number,
  options: SioOptions = {},
): Promise<Error & { data?: { code?: number; reason?: string } }> {
  const socket = sioSocket(t, port, options);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("neither connect nor connect_error")), WAIT_MS);
    socket.once("connect", () => {
      clearTimeout(timer);
      reject(new Error("the socket connected"));
    });
    socket.once("connect_error", (err: Error) => {
      clearTimeout(timer);
      resolve(err);
    });
  });
}

// ------------------------------------------------------------ HTTP publish

export interface PublishResponse {
  status: number;
  body: Record<string, unknown>;
}

/** `POST /v1/publish`; `body` is sent as is when it is a string, else as JSON. */
export async function httpPublish(
  port: number,
  body: unknown,
  options: { token?: string; contentType?: string | null } = {},
): Promise<PublishResponse> {
  // No keep-alive: node.close() does not close idle HTTP connections, and
  // fetch's pooled sockets would keep the test process alive for seconds.
  const headers: Record<string, string> = { connection: "close" };
  if (options.token !== undefined) headers["authorization"] = `Bearer ${options.token}`;
  if (options.contentType !== null) {
    headers["content-type"] = options.contentType ?? "application/json";
  }
  const res = await fetch(`http://127.0.0.1:${port}/v1/publish`, {
    method: "POST",
    headers,
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Record<string, unknown> };
}

// ---------------------------------------------------------------- payloads

/** A valid payload of every event type, with a `tag` to tell events apart. */
export function samplePayload(type: EventType, tag: string): Record<string, unknown> {
  const error = { code: "FORMULA_ERROR", message: "#REF! in B2" };
  switch (type) {
    case "workbook.status_changed":
      return { workbook_id: "wb_1", status: "ready", previous_status: "processing", tag };
    case "workbook.processing_started":
      return { workbook_id: "wb_1", job_id: "job_1", tag };
    case "workbook.processing_progress":
      return { workbook_id: "wb_1", progress: 42.5, stage: "calculating", tag };
    case "workbook.processing_completed":
      return { workbook_id: "wb_1", sheets: ["Sheet1", "Données"], duration_ms: 3200, tag };
    case "workbook.processing_failed":
      return { workbook_id: "wb_1", error, tag };
    case "sheet.data_updated":
      return {
        workbook_id: "wb_1",
        sheet: "Sheet1",
        range: "A1:C10",
        changes: [{ cell: "B2", value: 42 }],
        tag,
      };
    case "job.started":
      return { job_id: "job_1", tag };
    case "job.progress":
      return { job_id: "job_1", progress: 0, stage: "parsing", message: "starting", tag };
    case "job.completed":
      return { job_id: "job_1", result: { rows_processed: 150, duration_ms: 3200 }, tag };
    case "job.failed":
      return { job_id: "job_1", error, tag };
    case "job.cancelled":
      return { job_id: "job_1", reason: "user request", tag };
    case "job.retrying":
      return { job_id: "job_1", attempt: 2, next_retry_at: "2026-01-25T10:31:00Z", error, tag };
    case "notification":
      return { id: "n_1", title: "Export ready", body: "Your export is ready 📊", tag };
    case "alert":
      return { priority: "critical", message: "Quota almost used", title: "Quota", tag };
  }
}

/** One invalid payload per event type, with the reason the API must give. */
export const INVALID_PAYLOADS: readonly [EventType, Record<string, unknown>, RegExp][] = [
  ["workbook.status_changed", { workbook_id: "wb_1" }, /payload\.status is required/],
  ["workbook.processing_started", { job_id: "j" }, /payload\.workbook_id is required/],
  [
    "workbook.processing_progress",
    { workbook_id: "wb_1", progress: 101 },
    /payload\.progress must be a number from 0 to 100/,
  ],
  [
    "workbook.processing_completed",
    { workbook_id: "wb_1", sheets: [1] },
    /payload\.sheets must be an array/,
  ],
  ["workbook.processing_failed", { workbook_id: "wb_1", error: {} }, /payload\.error\.message/],
  ["sheet.data_updated", { workbook_id: "wb_1", sheet: "" }, /payload\.sheet must be a non-empty/],
  ["job.started", { job_id: "" }, /payload\.job_id must not be empty/],
  ["job.progress", { job_id: "j", progress: "50" }, /payload\.progress must be a number/],
  ["job.completed", { job_id: "j", result: [1] }, /payload\.result must be an object/],
  ["job.failed", { job_id: "j" }, /payload\.error must be an object/],
  ["job.cancelled", { job_id: "j", reason: 7 }, /payload\.reason must be a string/],
  ["job.retrying", { job_id: "j", attempt: 0 }, /payload\.attempt must be an integer >= 1/],
  ["notification", { body: "no title" }, /payload\.title is required/],
  ["alert", { priority: "urgent", message: "x" }, /payload\.priority must be one of/],
];

export { EVENT_TYPES };
