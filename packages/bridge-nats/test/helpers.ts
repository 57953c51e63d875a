import type { BusHandler, BusStatus } from "@calcbridge/protocol";
import { waitFor, type Teardown } from "@calcbridge/testing";
import { NatsBus, type NatsBusOptions } from "../src/index.js";

/** Retry fast so that outage tests stay short; the defaults are for production. */
export const FAST_RETRY = Object.freeze({
  reconnectTimeWaitMs: 100,
  reconnectJitterMs: 50,
  connectTimeoutMs: 2000,
});

export interface StartedBus {
  bus: NatsBus;
  /** `bus.status` when `start` resolved, then every change. */
  statuses: BusStatus[];
}

/** `NatsBus.start` with `FAST_RETRY`, closed on `t`'s teardown. */
export async function startBus(
  t: Teardown,
  servers: string | readonly string[],
  options: Omit<NatsBusOptions, "servers"> = {},
): Promise<StartedBus> {
  const bus = await NatsBus.start({
    ...FAST_RETRY,
    ...options,
    servers: typeof servers === "string" ? [servers] : servers,
  });
  t.teardown(() => bus.close());
  const statuses: BusStatus[] = [bus.status];
  bus.onStatus((status) => statuses.push(status));
  return { bus, statuses };
}

export interface ReceivedMessage {
  data: string;
  subject: string;
  reply: string | undefined;
}

/** Collects what a subscription receives, decoded as UTF-8. */
export class Received {
  readonly messages: ReceivedMessage[] = [];
  readonly handler: BusHandler = (data, subject, reply) => {
    this.messages.push({ data: text(data), subject, reply });
  };

  get data(): string[] {
    return this.messages.map((m) => m.data);
  }

  /** Resolves once at least `n` messages have arrived. */
  async atLeast(n: number, timeout = 5000): Promise<void> {
    await waitFor(() => this.messages.length >= n, {
      timeout,
      message: `${n} messages (have ${this.messages.length})`,
    });
  }
}

export function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

export function text(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}

/** The error `fn` throws, or `undefined`. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

/** Waits until `bus.status` is `status`. */
export async function statusIs(bus: NatsBus, status: BusStatus, timeout = 5000): Promise<void> {
  await waitFor(() => bus.status === status, {
    timeout,
    message: `bus status "${status}" (is "${bus.status}")`,
  });
}
