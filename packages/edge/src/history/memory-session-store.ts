import type { SessionStore, StoredSession } from "@calcbridge/protocol";

/** Sessions of one node, waiting for their clients to come back. */
export class MemorySessionStore implements SessionStore {
  private readonly sessions = new Map<string, StoredSession>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async save(session: StoredSession): Promise<void> {
    this.sweep();
    // Delete first: a Map keeps a re-set key in its old place, and sweep relies on save order.
    this.sessions.delete(session.pid);
    this.sessions.set(session.pid, session);
  }

  async take(pid: string): Promise<StoredSession | undefined> {
    this.sweep();
    const session = this.sessions.get(pid);
    this.sessions.delete(pid);
    return session;
  }

  async close(): Promise<void> {
    this.sessions.clear();
  }

  private sweep(): void {
    const oldest = this.now() - this.ttlMs;
    for (const [pid, s] of this.sessions) {
      if (s.at >= oldest) break; // insertion order is save order
      this.sessions.delete(pid);
    }
  }
}
