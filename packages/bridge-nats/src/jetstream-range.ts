import { AckPolicy, DeliverPolicy, ReplayPolicy, type JetStreamManager } from "@nats-io/jetstream";
import { createInbox, type NatsConnection } from "@nats-io/transport-node";
import { BridgeError } from "./errors.js";

/** How long the server keeps a range consumer nobody deleted (its reader died), in ns. */
const ABANDONED_CONSUMER_NS = 5_000_000_000;

/** A stored message's stream sequence and pending count, from its `$JS.ACK` reply subject. */
interface Delivery {
  seq: number;
  /** Messages of the filter still after this one when it was sent. */
  pending: number;
}

/**
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`, or
 * with `<domain>.<account hash>` after `ACK` and a random token at the end
 * (the form nats.js's `parseInfo` also reads).
 */
function deliveryOf(reply: string): Delivery | undefined {
  if (!reply.startsWith("$JS.ACK.")) return undefined;
  const tokens = reply.split(".");
  const k = tokens.length === 9 ? 0 : tokens.length >= 11 ? 2 : -1;
  if (k < 0) return undefined;
  const seq = Number(tokens[5 + k]);
  const pending = Number(tokens[8 + k]);
  return Number.isSafeInteger(seq) && Number.isSafeInteger(pending) ? { seq, pending } : undefined;
}

export interface RangeOptions {
  /** Bound on the whole read, in ms. */
  timeoutMs: number;
  /** Each message, in sequence order; return false to stop the read after it. */
  take(seq: number, data: Uint8Array): boolean;
}

/**
 * Reads the stored messages of `subject` with a sequence in `(after, end]`,
 * oldest first, in one pass: an ephemeral push consumer (no acks, in memory)
 * sends them back to back to an inbox, instead of a direct-get round trip
 * per message (direct get with `batch` needs nats-server 2.11). Resolves once
 * `end` is reached, nothing of the subject is left, or `take` says stop; the
 * consumer is deleted then.
 */
export function readRange(
  nc: NatsConnection,
  jsm: JetStreamManager,
  stream: string,
  subject: string,
  after: number,
  end: number,
  options: RangeOptions,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let name: string | undefined;
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sub.unsubscribe();
      if (name !== undefined) jsm.consumers.delete(stream, name).catch(() => undefined);
      if (err === undefined) resolve();
      else reject(err instanceof Error ? err : new Error(String(err)));
    };
    // Subscribed before the consumer exists: it may deliver before its create reply comes.
    const sub = nc.subscribe(createInbox(), {
      callback: (err, msg) => {
        if (settled) return;
        if (err !== null) {
          finish(err);
          return;
        }
        const delivery = deliveryOf(msg.reply ?? "");
        if (delivery === undefined) return;
        if (delivery.seq > end) {
          finish();
          return;
        }
        const more = options.take(delivery.seq, msg.data);
        if (!more || delivery.seq >= end || delivery.pending === 0) finish();
      },
    });
    const timer = setTimeout(
      () =>
        finish(
          new BridgeError(
            "ERR_HISTORY_TIMEOUT",
            `reading ${subject} from ${stream} took over ${options.timeoutMs} ms`,
          ),
        ),
      options.timeoutMs,
    );
    jsm.consumers
      .add(stream, {
        deliver_subject: sub.getSubject(),
        filter_subject: subject,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: after + 1,
        ack_policy: AckPolicy.None,
        replay_policy: ReplayPolicy.Instant,
        mem_storage: true,
        num_replicas: 1,
        inactive_threshold: ABANDONED_CONSUMER_NS,
      })
      .then(
        (info) => {
          name = info.name;
          // Done before the reply came: delete it now.
          if (settled) jsm.consumers.delete(stream, info.name).catch(() => undefined);
          // The count is taken at creation, before any delivery: zero means nothing to read.
          else if (info.num_pending === 0) finish();
        },
        (err: unknown) => finish(err),
      );
  });
}
