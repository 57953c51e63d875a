import type { Bus, BusHandler, BusStatus, BusSubscription } from "@calcbridge/protocol";
import {
  connect,
  createInbox,
  errors as natsErrors,
  type Msg,
  type NatsConnection,
  type Status,
  type Subscription,
} from "@nats-io/transport-node";
import { toConnectionOptions } from "./connection-options.js";
import { NatsPublishError, NatsSubjectError, NatsUnavailableError } from "./errors.js";
import { outboundBytes, transportConnected } from "./nats-internals.js";
import {
  parseNatsBusOptions,
  type NatsBusOptions,
  type ResolvedNatsBusOptions,
} from "./options.js";

/** Counters of one bus since it started, for metrics. */
export interface NatsBusStats {
  /** Connections re-established by nats.js after a loss (the first connection is not one). */
  reconnects: number;
  /**
   * Publishes handed to nats.js while connected. NATS core is at-most-once:
   * a message written just before a connection dies can still be lost.
   */
  publishedMessages: number;
  /** Payload bytes of `publishedMessages`. */
  publishedBytes: number;
  /** Messages handed to subscription handlers. */
  receivedMessages: number;
  /** Payload bytes of `receivedMessages`. */
  receivedBytes: number;
  /** Publishes refused with an error: not connected, bad subject, over `max_payload`. */
  refused: number;
}

/** One `subscribe` call; its NATS subscription exists once there is a connection. */
interface Entry {
  readonly subject: string;
  readonly handler: BusHandler;
  sub: Subscription | undefined;
  active: boolean;
}

const INERT_SUBSCRIPTION: BusSubscription = Object.freeze({ unsubscribe: () => {} });

/** nats.js's own test for a subject it will refuse (`nats.ts`, `_check`). */
const INVALID_SUBJECT = /^$|[ \t\r\n]/;

/**
 * The cluster bus: the `Bus` contract over a NATS connection (nats.js v3).
 *
 * - `start` never fails because NATS is unreachable: the bus starts
 *   `"reconnecting"`, retries until a server answers, and subscriptions made
 *   meanwhile are created once it does.
 * - After the first connection nats.js reconnects by itself (to any server of
 *   the cluster, including ones learned from cluster gossip) and re-sends
 *   every subscription; `onStatus` follows its status iterator.
 * - `publish` throws {@link NatsUnavailableError} unless connected: nats.js
 *   would otherwise write into a buffer that is thrown away at the next
 *   connection attempt, which is a silent drop.
 */
export class NatsBus implements Bus {
  readonly kind = "nats";
  readonly options: ResolvedNatsBusOptions;

  #status: BusStatus = "reconnecting";
  #nc: NatsConnection | undefined;
  #lastError: Error | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  #connecting: Promise<void> = Promise.resolve();
  #wake: (() => void) | undefined;
  /** Subscriptions made before the first connection. */
  readonly #queued = new Set<Entry>();
  readonly #listeners: ((status: BusStatus) => void)[] = [];
  readonly #stats: NatsBusStats = {
    reconnects: 0,
    publishedMessages: 0,
    publishedBytes: 0,
    receivedMessages: 0,
    receivedBytes: 0,
    refused: 0,
  };

  private constructor(options: ResolvedNatsBusOptions) {
    this.options = options;
  }

  /**
   * Validates `options` (throws {@link NatsOptionsError} for unusable ones)
   * and starts connecting. Resolves once the first attempt at the servers has
   * connected or failed, and at the latest after `connectTimeoutMs`: check
   * `status`, or wait for `"connected"` with `onStatus`.
   */
  static async start(options: NatsBusOptions): Promise<NatsBus> {
    const bus = new NatsBus(parseNatsBusOptions(options));
    let settled!: () => void;
    const firstAttempt = new Promise<void>((resolve) => (settled = resolve));
    bus.#connecting = bus.#connectLoop(settled);
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, bus.options.connectTimeoutMs);
    });
    await Promise.race([firstAttempt, bound]);
    clearTimeout(timer);
    return bus;
  }

  /**
   * `"connected"`: publishes go out. `"disconnected"`: the connection was
   * lost. `"reconnecting"`: trying servers (also before the first
   * connection). `"closed"`: `close()` was called, or nats.js gave up
   * (`maxReconnectAttempts`); final.
   */
  get status(): BusStatus {
    return this.#status;
  }

  /** A copy of the counters. */
  get stats(): Readonly<NatsBusStats> {
    return { ...this.#stats };
  }

  /** The last connection or server error (auth failures, refused connections), for logs. */
  get lastError(): Error | undefined {
    return this.#lastError;
  }

  /** `host:port` of the server in use while connected. */
  get server(): string | undefined {
    return this.#status === "connected" ? this.#nc?.getServer() || undefined : undefined;
  }

  /**
   * Bytes published but not yet written to the socket. Read from nats.js
   * internals (no public API has it); 0 when unavailable or not connected.
   */
  /** A round trip to the server: every SUB sent before is registered there. */
  async flush(): Promise<void> {
    const nc = this.#nc;
    if (nc === undefined || this.#status !== "connected") return;
    await nc.flush();
  }

  /**
   * The live nats.js connection, for JetStream (history, sessions); undefined
   * until the first connection succeeds.
   */
  get connection(): NatsConnection | undefined {
    return this.#nc;
  }

  pendingBytes(): number {
    return this.#nc === undefined ? 0 : outboundBytes(this.#nc);
  }

  publish(subject: string, data: Uint8Array, options?: { reply?: string }): void {
    const nc = this.#nc;
    // `transportConnected` closes the few microtasks between the socket
    // closing and the `disconnect` status reaching us.
    if (this.#status !== "connected" || nc === undefined || !transportConnected(nc)) {
      this.#stats.refused += 1;
      const state = this.#status === "connected" ? "disconnected" : this.#status;
      const cause = this.#lastError;
      throw new NatsUnavailableError(
        `NATS is ${state}: the message was not published`,
        cause === undefined ? undefined : { cause },
      );
    }
    const reply = options?.reply;
    try {
      nc.publish(subject, data, reply === undefined ? undefined : { reply });
    } catch (err) {
      this.#stats.refused += 1;
      throw publishError(err, subject);
    }
    this.#stats.publishedMessages += 1;
    this.#stats.publishedBytes += data.byteLength;
  }

  newInbox(): string {
    return createInbox();
  }

  /**
   * Works in every state: before the first connection the subscription is
   * queued, while reconnecting nats.js holds it and re-sends it. After
   * `close()` it returns a subscription that receives nothing.
   */
  subscribe(subject: string, handler: BusHandler): BusSubscription {
    if (INVALID_SUBJECT.test(subject)) throw new NatsSubjectError(subject);
    if (this.#closed || this.#status === "closed") return INERT_SUBSCRIPTION;
    const entry: Entry = { subject, handler, sub: undefined, active: true };
    if (this.#nc === undefined) this.#queued.add(entry);
    else this.#attach(this.#nc, entry);
    return { unsubscribe: () => this.#detach(entry) };
  }

  /**
   * Listeners run synchronously on each change of `status` (never twice in a
   * row for the same status). A listener that throws does not stop the
   * others; its error is rethrown on a microtask, as an uncaught exception.
   */
  onStatus(listener: (status: BusStatus) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Status `"closed"` at once (publishes are refused from here on), then:
   * stop the connection loop (waiting for a dial in progress, at most
   * `connectTimeoutMs`), and drain a live connection (unsubscribe all, flush
   * what was published, close; bounded by `connectTimeoutMs`) or close a
   * broken one. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    const live = this.#nc;
    const drainable =
      this.#status === "connected" && live !== undefined && transportConnected(live);
    this.#closed = true;
    this.#setStatus("closed");
    this.#queued.clear();
    this.#wake?.();
    await this.#connecting;
    const nc = this.#nc;
    if (nc === undefined || nc.isClosed()) return;
    if (drainable) {
      const drained = await within(nc.drain(), this.options.connectTimeoutMs);
      if (!drained) this.#lastError = new Error("drain did not finish in time; closed instead");
    }
    if (!nc.isClosed()) await nc.close();
  }

  /**
   * Until the first connection: one nats.js `connect` per round (each server
   * tried once), then `reconnectTimeWaitMs` plus jitter, again. Never rejects.
   */
  async #connectLoop(firstAttemptSettled: () => void): Promise<void> {
    while (!this.#closed) {
      let nc: NatsConnection;
      try {
        nc = await connect(toConnectionOptions(this.options));
      } catch (err) {
        this.#lastError = asError(err);
        firstAttemptSettled();
        await this.#sleep(this.#retryDelay());
        continue;
      }
      if (this.#closed) {
        await nc.close().catch(() => {});
        break;
      }
      this.#adopt(nc);
      break;
    }
    firstAttemptSettled();
  }

  #adopt(nc: NatsConnection): void {
    this.#nc = nc;
    this.#lastError = undefined;
    void this.#watch(nc);
    for (const entry of this.#queued) this.#attach(nc, entry);
    this.#queued.clear();
    // A status sent before `#watch` subscribed is lost to us; read the socket instead.
    this.#setStatus(transportConnected(nc) ? "connected" : "disconnected");
  }

  async #watch(nc: NatsConnection): Promise<void> {
    // Registers the listener now, before anything can be dispatched.
    const statuses = nc.status();
    void nc.closed().then((err) => {
      if (err) this.#lastError = err;
      this.#setStatus("closed");
    });
    try {
      for await (const status of statuses) this.#onNatsStatus(status);
    } catch (err) {
      this.#lastError = asError(err);
    }
  }

  #onNatsStatus(status: Status): void {
    switch (status.type) {
      case "disconnect":
      case "staleConnection":
        // nats.js also reports "disconnect" for each attempt that reached a
        // server and failed (auth errors): that is still "reconnecting".
        if (this.#status === "connected") this.#setStatus("disconnected");
        break;
      case "reconnecting":
        this.#setStatus("reconnecting");
        break;
      case "reconnect":
        // nats.js reports one "reconnect" per failed attempt that ended in a
        // "disconnect" (each waits on the same dial loop): count the change.
        if (this.#status !== "connected") this.#stats.reconnects += 1;
        this.#setStatus("connected");
        break;
      case "error":
        this.#lastError = status.error;
        break;
      case "close":
        this.#setStatus("closed");
        break;
      default:
        // update (cluster gossip), ldm, ping, slowConsumer, forceReconnect: nothing to report.
        break;
    }
  }

  #setStatus(next: BusStatus): void {
    if (this.#status === next || this.#status === "closed") return;
    this.#status = next;
    for (const listener of [...this.#listeners]) {
      try {
        listener(next);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  #attach(nc: NatsConnection, entry: Entry): void {
    try {
      entry.sub = nc.subscribe(entry.subject, {
        callback: (err, msg) => this.#deliver(entry, err, msg),
      });
    } catch (err) {
      // Closed or draining: the connection is going away, nothing will arrive.
      entry.active = false;
      this.#lastError = asError(err);
    }
  }

  #deliver(entry: Entry, err: Error | null, msg: Msg): void {
    if (err !== null) {
      this.#lastError = err;
      return;
    }
    if (!entry.active) return;
    const data = msg.data;
    this.#stats.receivedMessages += 1;
    this.#stats.receivedBytes += data.byteLength;
    // A message republished by a JetStream stream carries its stream
    // sequence: the event's offset.
    const sequence = msg.headers?.get("Nats-Sequence");
    const meta = sequence ? { sequence: Number(sequence) } : undefined;
    try {
      entry.handler(data, msg.subject, msg.reply || undefined, meta);
    } catch (handlerError) {
      // A throw here would unwind into nats.js's parser and break the
      // connection; surface it the way MemoryBus does instead (uncaught).
      queueMicrotask(() => {
        throw handlerError;
      });
    }
  }

  #detach(entry: Entry): void {
    if (!entry.active) return;
    entry.active = false;
    this.#queued.delete(entry);
    const sub = entry.sub;
    entry.sub = undefined;
    if (sub === undefined || sub.isClosed()) return;
    try {
      sub.unsubscribe();
    } catch {
      // The connection closed under it: the server has dropped the interest already.
    }
  }

  #retryDelay(): number {
    const jitter = this.options.reconnectJitterMs;
    return this.options.reconnectTimeWaitMs + Math.floor(Math.random() * (jitter + 1));
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function publishError(err: unknown, subject: string): Error {
  if (err instanceof natsErrors.ClosedConnectionError) {
    return new NatsUnavailableError(`NATS connection is closed: the message was not published`, {
      cause: err,
    });
  }
  if (err instanceof natsErrors.DrainingConnectionError) {
    return new NatsUnavailableError(`NATS connection is draining: the message was not published`, {
      cause: err,
    });
  }
  if (err instanceof natsErrors.InvalidSubjectError) {
    return new NatsSubjectError(subject, { cause: err });
  }
  return new NatsPublishError(
    `${asError(err).message}: the message to ${subject} was not published`,
    {
      cause: err,
    },
  );
}

/** Whether `promise` settles (either way) within `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
