import { isEventType } from "@calcbridge/protocol";
import { io, type Socket } from "socket.io-client";

/** How the explorer reaches the edge. */
export type Protocol = "socket.io" | "raw";

/** socket.io-client's transport choice. */
export type SioTransport = "websocket" | "polling" | "default";

/** The raw API's endpoints; the id ones subscribe their room on connect. */
export type RawEndpoint = "/ws" | "/ws/notifications" | "/ws/workbooks/{id}" | "/ws/jobs/{id}";

export type ConnectionState = "connecting" | "connected" | "disconnected";

/** An event as it arrived, with what the explorer derives from it. */
export interface ReceivedEvent {
  seq: number;
  via: Protocol;
  /** Date.now() on arrival. */
  receivedAt: number;
  type: string;
  room: string | undefined;
  offset: string | number | undefined;
  timestamp: string | undefined;
  /** receivedAt - timestamp, in ms (across clocks: the publisher's and this browser's). */
  latencyMs: number | undefined;
  payload: unknown;
}

/** A line of the connection log: control messages, errors, state changes. */
export interface LogEntry {
  at: number;
  level: "info" | "error";
  text: string;
}

/** The answer to a subscribe or unsubscribe. */
export type RoomResult = { ok: true; room: string } | { ok: false; code?: number; reason: string };

export interface ConnectionHandlers {
  event(e: ReceivedEvent): void;
  log(entry: LogEntry): void;
  state(state: ConnectionState): void;
}

/** One live connection of the explorer, whichever the protocol. */
export interface Connection {
  readonly protocol: Protocol;
  subscribe(room: string): Promise<RoomResult>;
  unsubscribe(room: string): Promise<RoomResult>;
  close(): void;
}

const ACK_TIMEOUT_MS = 5000;
let seq = 0;

function received(via: Protocol, type: string, envelope: unknown): ReceivedEvent {
  const env = (typeof envelope === "object" && envelope !== null ? envelope : {}) as Record<
    string,
    unknown
  >;
  const receivedAt = Date.now();
  const timestamp = typeof env["timestamp"] === "string" ? env["timestamp"] : undefined;
  const sent = timestamp === undefined ? NaN : Date.parse(timestamp);
  const offset = env["offset"];
  return {
    seq: ++seq,
    via,
    receivedAt,
    type,
    room: typeof env["room"] === "string" ? env["room"] : undefined,
    offset: typeof offset === "string" || typeof offset === "number" ? offset : undefined,
    timestamp,
    latencyMs: Number.isNaN(sent) ? undefined : receivedAt - sent,
    payload: env["payload"] ?? envelope,
  };
}

const info = (text: string): LogEntry => ({ at: Date.now(), level: "info", text });
const error = (text: string): LogEntry => ({ at: Date.now(), level: "error", text });

/**
 * The official socket.io-client against this origin: `auth: { token }` in
 * CONNECT, rooms through the `subscribe`/`unsubscribe` events and their acks.
 */
export function connectSocketIo(
  token: string,
  transport: SioTransport,
  on: ConnectionHandlers,
): Connection {
  const transports: ("websocket" | "polling")[] =
    transport === "websocket"
      ? ["websocket"]
      : transport === "polling"
        ? ["polling"]
        : ["polling", "websocket"];
  const socket: Socket = io(location.origin, {
    auth: { token },
    transports,
    forceNew: true,
    reconnectionAttempts: 5,
  });
  on.state("connecting");
  socket.on("connect", () => {
    on.state("connected");
    on.log(
      info(`socket.io connected (id ${socket.id ?? "?"}, ${socket.io.engine.transport.name})`),
    );
    socket.io.engine.once("upgrade", () => on.log(info("upgraded to websocket")));
  });
  socket.on("connect_error", (err: Error & { data?: { code?: number; reason?: string } }) => {
    const code = err.data?.code;
    on.log(error(`connect_error${code === undefined ? "" : ` ${code}`}: ${err.message}`));
    if (!socket.active) on.state("disconnected");
  });
  socket.on("disconnect", (reason) => {
    on.log(info(`disconnected: ${reason}`));
    on.state(socket.active ? "connecting" : "disconnected");
  });
  socket.onAny((name: string, first: unknown) => {
    if (isEventType(name)) on.event(received("socket.io", name, first));
    else on.log(info(`${name} ${JSON.stringify(first)}`));
  });
  const room = async (op: "subscribe" | "unsubscribe", name: string): Promise<RoomResult> => {
    try {
      const ack = (await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(op, name)) as {
        ok?: boolean;
        room?: string;
        code?: number;
        reason?: string;
      };
      if (ack.ok === true) return { ok: true, room: ack.room ?? name };
      return {
        ok: false,
        ...(ack.code === undefined ? {} : { code: ack.code }),
        reason: ack.reason ?? "refused",
      };
    } catch {
      return { ok: false, reason: `no ${op} ack within ${ACK_TIMEOUT_MS} ms` };
    }
  };
  return {
    protocol: "socket.io",
    subscribe: (name) => room("subscribe", name),
    unsubscribe: (name) => room("unsubscribe", name),
    close: () => {
      socket.disconnect();
      on.state("disconnected");
    },
  };
}

/** A raw-API message that is not an event. */
interface Control {
  type: string;
  room?: string;
  code?: number;
  reason?: string;
  request?: string;
}

/** Keeps the raw API's heartbeat (60 s by default) satisfied. */
const RAW_PING_MS = 20_000;

/**
 * The CalcBridge raw WebSocket API: JSON envelopes on `path`, the token in
 * `?token=` (browsers cannot set headers on a WebSocket).
 */
export function connectRaw(path: string, token: string, on: ConnectionHandlers): Connection {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}${path}?token=${encodeURIComponent(token)}`);
  // Requests waiting for `subscribed`/`unsubscribed` or an `error` naming their room.
  const pending: { op: string; room: string; done: (r: RoomResult) => void }[] = [];
  on.state("connecting");
  let ping: ReturnType<typeof setInterval> | undefined;
  ws.onopen = () => {
    on.state("connected");
    on.log(info(`raw WebSocket open on ${path}`));
    ping = setInterval(() => ws.send(JSON.stringify({ type: "ping" })), RAW_PING_MS);
  };
  ws.onclose = (e) => {
    clearInterval(ping);
    on.log(
      (e.code >= 4000 || e.code === 1008 ? error : info)(
        `closed ${e.code}${e.reason ? `: ${e.reason}` : ""}`,
      ),
    );
    for (const p of pending.splice(0)) p.done({ ok: false, reason: "the connection closed" });
    on.state("disconnected");
  };
  ws.onmessage = (e) => {
    let msg: Control;
    try {
      msg = JSON.parse(String(e.data)) as Control;
    } catch {
      on.log(error(`not JSON: ${String(e.data).slice(0, 200)}`));
      return;
    }
    if (isEventType(msg.type)) {
      on.event(received("raw", msg.type, msg));
      return;
    }
    const answered = (op: string, r: RoomResult) => {
      const i = pending.findIndex((p) => p.op === op && p.room === msg.room);
      if (i >= 0) pending.splice(i, 1)[0]!.done(r);
    };
    if (msg.type === "subscribed" || msg.type === "unsubscribed") {
      answered(msg.type.slice(0, -1), { ok: true, room: msg.room ?? "" });
    } else if (msg.type === "error" && msg.request !== undefined && msg.room !== undefined) {
      answered(msg.request, {
        ok: false,
        ...(msg.code === undefined ? {} : { code: msg.code }),
        reason: msg.reason ?? "refused",
      });
    }
    if (msg.type !== "pong") {
      on.log((msg.type === "error" ? error : info)(JSON.stringify(msg)));
    }
  };
  const room = (op: "subscribe" | "unsubscribe", name: string): Promise<RoomResult> =>
    new Promise((resolve) => {
      if (ws.readyState !== WebSocket.OPEN) {
        resolve({ ok: false, reason: "not connected" });
        return;
      }
      const entry = { op, room: name, done: resolve };
      pending.push(entry);
      ws.send(JSON.stringify({ type: op, room: name }));
      setTimeout(() => {
        const i = pending.indexOf(entry);
        if (i >= 0) {
          pending.splice(i, 1);
          resolve({ ok: false, reason: `no answer within ${ACK_TIMEOUT_MS} ms` });
        }
      }, ACK_TIMEOUT_MS);
    });
  return {
    protocol: "raw",
    subscribe: (name) => room("subscribe", name),
    unsubscribe: (name) => room("unsubscribe", name),
    close: () => ws.close(1000, "closed from the console"),
  };
}
