import {
  DiscardPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type JetStreamManager,
} from "@nats-io/jetstream";
import {
  DEFAULT_SUBJECT_PREFIX,
  decodeJsonBody,
  encodeJsonBody,
  escapeToken,
  type SessionStore,
  type StoredSession,
} from "@calcbridge/protocol";
import { BridgeError } from "./errors.js";
import type { NatsBus } from "./nats-bus.js";

/** @default "CALCBRIDGE_SESSIONS" */
export const DEFAULT_SESSION_STREAM = "CALCBRIDGE_SESSIONS";

/**
 * Socket.IO sessions kept in a JetStream stream shared by the cluster, one
 * subject per private session id (at most one message each, expiring with
 * the recovery window): a client may come back to any node.
 */
export class JetStreamSessionStore implements SessionStore {
  private jsm: JetStreamManager | undefined;
  private readonly subjectBase: string;

  private constructor(
    private readonly bus: NatsBus,
    private readonly ttlMs: number,
    private readonly stream: string,
    prefix: string,
  ) {
    this.subjectBase = `${prefix}-sessions`;
  }

  static async start(
    bus: NatsBus,
    options: { ttlMs: number; stream?: string; prefix?: string; replicas?: number },
  ): Promise<JetStreamSessionStore> {
    const store = new JetStreamSessionStore(
      bus,
      options.ttlMs,
      options.stream ?? DEFAULT_SESSION_STREAM,
      options.prefix ?? DEFAULT_SUBJECT_PREFIX,
    );
    const ensure = () => store.ensure(options.replicas ?? 1).catch(() => undefined);
    if (bus.status === "connected") await ensure();
    bus.onStatus((s) => {
      if (s === "connected") void ensure();
    });
    return store;
  }

  private async manager(): Promise<JetStreamManager> {
    const nc = this.bus.connection;
    if (nc === undefined) throw new BridgeError("ERR_BUS_UNAVAILABLE", "NATS is not connected");
    this.jsm ??= await jetstreamManager(nc);
    return this.jsm;
  }

  private async ensure(replicas: number): Promise<void> {
    const jsm = await this.manager();
    const config = {
      name: this.stream,
      subjects: [`${this.subjectBase}.>`],
      max_msgs_per_subject: 1,
      max_age: this.ttlMs * 1_000_000,
      discard: DiscardPolicy.Old,
      storage: StorageType.File,
      num_replicas: replicas,
      allow_direct: true,
    };
    try {
      const info = await jsm.streams.info(this.stream);
      await jsm.streams.update(this.stream, { ...info.config, ...config });
    } catch {
      await jsm.streams.add(config);
    }
  }

  private subject(pid: string): string {
    return `${this.subjectBase}.${escapeToken(pid)}`;
  }

  async save(session: StoredSession): Promise<void> {
    const nc = this.bus.connection;
    if (nc === undefined) return;
    await jetstream(nc).publish(this.subject(session.pid), encodeJsonBody(session));
  }

  async take(pid: string): Promise<StoredSession | undefined> {
    const jsm = await this.manager();
    const subject = this.subject(pid);
    const msg = await jsm.direct.getMessage(this.stream, { last_by_subj: subject });
    if (msg === null) return undefined;
    await jsm.streams.purge(this.stream, { filter: subject }).catch(() => undefined);
    if (Date.now() - msg.time.getTime() > this.ttlMs) return undefined;
    try {
      return decodeJsonBody(msg.data) as StoredSession;
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    this.jsm = undefined;
  }
}
