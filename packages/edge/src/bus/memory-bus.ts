import type { Bus, BusHandler, BusStatus, BusSubscription } from "@calcbridge/protocol";

/**
 * The embedded bus of a single node: subjects are exact-match keys and a
 * publish reaches its handlers on the next microtask, the way a network bus
 * would (never inside the publisher's own call stack).
 */
export class MemoryBus implements Bus {
  readonly kind = "memory";
  status: BusStatus = "connected";
  private readonly subs = new Map<string, Set<BusHandler>>();
  private readonly listeners: ((status: BusStatus) => void)[] = [];

  private inboxes = 0;

  publish(subject: string, data: Uint8Array, options?: { reply?: string }): void {
    if (this.status !== "connected") throw new Error("the embedded bus is closed");
    const handlers = this.subs.get(subject);
    if (handlers === undefined) return;
    const list = [...handlers];
    const reply = options?.reply;
    queueMicrotask(() => {
      for (const h of list) h(data, subject, reply);
    });
  }

  newInbox(): string {
    return `_INBOX.memory.${++this.inboxes}`;
  }

  subscribe(subject: string, handler: BusHandler): BusSubscription {
    let set = this.subs.get(subject);
    if (set === undefined) {
      set = new Set();
      this.subs.set(subject, set);
    }
    // Wrap so that the same handler subscribed twice counts twice.
    const entry: BusHandler = (data, s, reply) => handler(data, s, reply);
    set.add(entry);
    return {
      unsubscribe: () => {
        const current = this.subs.get(subject);
        if (current === undefined) return;
        current.delete(entry);
        if (current.size === 0) this.subs.delete(subject);
      },
    };
  }

  /** Subjects with at least one subscriber (interest), for tests and the console. */
  subjects(): string[] {
    return [...this.subs.keys()];
  }

  onStatus(listener: (status: BusStatus) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    this.status = "closed";
    this.subs.clear();
    for (const l of this.listeners) l("closed");
  }
}
