/**
 * Shared helpers of the edge integration tests: a real uWS server on port 0,
 * official `socket.io-client` sockets in each transport mode, raw clients,
 * and bounded waits. Everything started here is closed in `t.teardown`.
 */
import { request } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import {
  io as ioClient,
  type ManagerOptions,
  type Socket as ClientSocket,
  type SocketOptions,
} from "socket.io-client";
import WebSocket from "ws";
import { Server, type ServerInit, type Socket } from "../src/index.js";

export type { ClientSocket };

/** Any listener: Node's, socket.io-client's and ws's emitters all take these. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Listener = (...args: any[]) => void;

/** The subset of an event emitter `once` and `collect` need. */
export interface Emitter {
  on(event: string, fn: Listener): unknown;
  once(event: string, fn: Listener): unknown;
  off(event: string, fn: Listener): unknown;
}

/** What a helper needs of a tap test: a place to register cleanup. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

/**
 * How the client reaches the server: WebSocket only, long-polling only, or
 * socket.io-client's default (polling handshake, then upgrade to WebSocket).
 */
export type Mode = "websocket" | "polling" | "default";

export const MODES: readonly Mode[] = ["websocket", "polling", "default"];

/** The `transports` client option of each mode. */
export function transportsOf(mode: Mode): ("polling" | "websocket")[] {
  if (mode === "websocket") return ["websocket"];
  if (mode === "polling") return ["polling"];
  return ["polling", "websocket"];
}

/** Short heartbeats and timeouts keep the suite fast. */
export const FAST_OPTIONS = Object.freeze({
  pingInterval: 300,
  pingTimeout: 200,
  connectTimeout: 1000,
});

/** Default bound of every wait, in ms. */
export const WAIT_MS = 3000;

export interface TestServer {
  io: Server;
  port: number;
  /** `http://127.0.0.1:<port>` */
  url: string;
}

/** Starts a `Server` on 127.0.0.1, port 0, closed at teardown. */
export async function startServer(t: Teardown, options: ServerInit = {}): Promise<TestServer> {
  const io = new Server({ ...FAST_OPTIONS, ...options });
  t.teardown(() => io.close());
  const port = await io.listen(0, "127.0.0.1");
  return { io, port, url: `http://127.0.0.1:${port}` };
}

export type ClientOptions = Partial<ManagerOptions & SocketOptions>;

/**
 * A `socket.io-client` socket in `mode` for namespace `nsp` (not awaited:
 * see `connected`). No reconnection and a fresh Manager unless overridden.
 */
export function connect(
  t: Teardown,
  server: Pick<TestServer, "url">,
  mode: Mode,
  options: ClientOptions & { nsp?: string } = {},
): ClientSocket {
  const { nsp = "/", ...rest } = options;
  const socket = ioClient(server.url + nsp, {
    transports: transportsOf(mode),
    reconnection: false,
    forceNew: true,
    ...rest,
  });
  t.teardown(() => {
    socket.disconnect();
    socket.io.engine?.close();
  });
  return socket;
}

/** Resolves on "connect", rejects with the error of "connect_error". */
export function connected(socket: ClientSocket, timeout = WAIT_MS): Promise<void> {
  if (socket.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`client did not connect within ${timeout} ms`));
    }, timeout);
    const onConnect = () => {
      cleanup();
      resolve();
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off("connect", onConnect);
      socket.off("connect_error", onError);
    };
    socket.on("connect", onConnect);
    socket.on("connect_error", onError);
  });
}

/** A connected client and the server socket it maps to. */
export interface Pair {
  client: ClientSocket;
  server: Socket;
}

/**
 * Connects a client and resolves with it and its server-side socket (found
 * by id). In the default mode it also waits for the WebSocket upgrade so
 * that every later step runs over the upgraded transport.
 */
export async function connectPair(
  t: Teardown,
  server: TestServer,
  mode: Mode,
  options: ClientOptions & { nsp?: string } = {},
): Promise<Pair> {
  const client = connect(t, server, mode, options);
  await connected(client);
  const nsp = server.io.of(options.nsp ?? "/");
  const id = client.id;
  const socket = await waitFor(() => (id === undefined ? undefined : nsp.sockets.get(id)), {
    message: `server socket of ${id ?? "?"}`,
  });
  if (mode === "default") await upgraded(client, socket);
  return { client, server: socket };
}

/**
 * Waits until the Engine.IO session runs over WebSocket on both ends (the
 * client switches when it sends the upgrade packet, the server when that
 * packet arrives).
 */
export function upgraded(client: ClientSocket, socket: Socket): Promise<true> {
  return waitFor(
    () =>
      client.io.engine.transport.name === "websocket" && socket.conn.transport.name === "websocket",
    { message: "upgrade to websocket" },
  );
}

/**
 * True when the server can write to the socket's client right now: a
 * WebSocket, or a long-polling session with a GET held open.
 */
export function pollHeld(socket: Socket): boolean {
  const transport = socket.conn.transport as { name: string; polling?: boolean };
  return transport.name === "websocket" || transport.polling === true;
}

/**
 * The arguments of the next `event` on `emitter`, or a rejection after
 * `timeout` ms naming the event.
 */
export function once<A extends unknown[] = unknown[]>(
  emitter: Pick<Emitter, "once" | "off">,
  event: string,
  timeout = WAIT_MS,
): Promise<A> {
  return new Promise((resolve, reject) => {
    const listener = (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args as A);
    };
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`no "${event}" within ${timeout} ms`));
    }, timeout);
    emitter.once(event, listener);
  });
}

/** Every `event` the emitter fires from now on, as argument lists. */
export function collect(emitter: Pick<Emitter, "on">, event: string): unknown[][] {
  const seen: unknown[][] = [];
  emitter.on(event, (...args: unknown[]) => {
    seen.push(args);
  });
  return seen;
}

export interface WaitOptions {
  timeout?: number;
  message?: string;
}

/**
 * Polls `fn` every 5 ms until it returns something other than undefined,
 * null or false, and resolves with that; rejects after `timeout` ms.
 */
export async function waitFor<T>(
  fn: () => T,
  options: WaitOptions = {},
): Promise<Exclude<T, undefined | null | false>> {
  const timeout = options.timeout ?? WAIT_MS;
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = fn();
    if (value !== undefined && value !== null && value !== false) {
      return value as Exclude<T, undefined | null | false>;
    }
    if (Date.now() > deadline) {
      throw new Error(`waitFor: ${options.message ?? "condition"} not met within ${timeout} ms`);
    }
    await sleep(5);
  }
}

/** Resolves after `ms` ms. Only for proving that something does NOT happen. */
export function delay(ms: number): Promise<void> {
  return sleep(ms);
}

// ------------------------------------------------------------ raw clients

/**
 * A raw WebSocket on `/socket.io/` that records every frame: text frames as
 * strings, binary frames as Buffers.
 */
export interface RawSocket {
  ws: WebSocket;
  frames: (string | Buffer)[];
  /** The next frame not yet taken by `next` (in arrival order). */
  next(timeout?: number): Promise<string | Buffer>;
  /** The next text frame starting with `prefix`, skipping others (pings, say). */
  nextMatching(prefix: string, timeout?: number): Promise<string>;
  /** Resolves with the close code once the server closed the socket. */
  closed: Promise<number>;
  send(frame: string | Buffer): void;
}

/** Opens a raw WebSocket to `/socket.io/?EIO=4&transport=websocket` plus `query`. */
export async function rawWebSocket(t: Teardown, port: number, query = ""): Promise<RawSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket${query}`);
  t.teardown(() => ws.terminate());
  const frames: (string | Buffer)[] = [];
  let taken = 0;
  let wake: (() => void) | undefined;
  ws.on("message", (data, isBinary) => {
    const buf = Buffer.isBuffer(data)
      ? data
      : Array.isArray(data)
        ? Buffer.concat(data)
        : Buffer.from(data);
    frames.push(isBinary ? buf : buf.toString("utf8"));
    wake?.();
  });
  const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
  // Unhandled "error" events would crash the test process.
  ws.on("error", () => {});
  const next = async (timeout = WAIT_MS): Promise<string | Buffer> => {
    const deadline = Date.now() + timeout;
    while (taken >= frames.length) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame within ${timeout} ms (got ${frames.length})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
    return frames[taken++]!;
  };
  const nextMatching = async (prefix: string, timeout = WAIT_MS): Promise<string> => {
    const deadline = Date.now() + timeout;
    for (;;) {
      const frame = await next(Math.max(1, deadline - Date.now()));
      if (typeof frame === "string" && frame.startsWith(prefix)) return frame;
    }
  };
  await once(ws, "open");
  return {
    ws,
    frames,
    next,
    nextMatching,
    closed,
    send: (frame) => ws.send(frame),
  };
}

/** A raw WebSocket that has done the Engine.IO handshake and joined "/". */
export async function rawConnected(
  t: Teardown,
  port: number,
): Promise<RawSocket & { sid: string; socketId: string }> {
  const raw = await rawWebSocket(t, port);
  const open = await raw.next();
  const { sid } = JSON.parse(String(open).slice(1)) as { sid: string };
  raw.send("40");
  const connect = await raw.nextMatching("40");
  const { sid: socketId } = JSON.parse(connect.slice(2)) as { sid: string };
  return Object.assign(raw, { sid, socketId });
}

/** Resolves with the server-side "disconnect" reason of `socket`. */
export function disconnectReason(socket: Socket, timeout = WAIT_MS): Promise<string> {
  return once<[string]>(socket, "disconnect", timeout).then(([reason]) => reason);
}

export interface PollingResponse {
  status: number;
  body: string;
  contentType: string | undefined;
}

/**
 * One long-polling request against `/socket.io/?<query>`, on its own
 * connection (closed after the response: no keep-alive socket outlives the
 * test); rejects after `timeout` ms.
 */
export function polling(
  port: number,
  query: string,
  init: { method?: "GET" | "POST"; body?: string; timeout?: number } = {},
): Promise<PollingResponse> {
  return new Promise((resolve, reject) => {
    const body = init.body === undefined ? undefined : Buffer.from(init.body);
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method: init.method ?? "GET",
        path: `/socket.io/?${query}`,
        agent: false,
        headers: { connection: "close", "content-length": body?.length ?? 0 },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8"),
            contentType: res.headers["content-type"],
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    const timeout = init.timeout ?? WAIT_MS;
    req.setTimeout(timeout, () => req.destroy(new Error(`no response within ${timeout} ms`)));
    req.end(body);
  });
}
