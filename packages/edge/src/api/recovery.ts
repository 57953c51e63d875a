import {
  parseSubject,
  socketIoEventFrame,
  type Claims,
  type HistoryEvent,
  type HistoryRead,
  type SessionStore,
} from "@calcbridge/protocol";
import type { Frame } from "../engine/transport.js";
import type { ConnectionStateRecovery } from "../socketio/recovery.js";
import type { Delivery } from "./delivery.js";

/**
 * Connection state recovery for the API namespace: a returning Socket.IO
 * client gets the events of its API rooms it missed, from the history, in
 * offset order — or `recovered: false` when retention dropped some, or when
 * the token presented now is not the session owner's.
 */
export function apiRecovery(options: {
  /** The node's delivery path (built after the Socket.IO server, hence a getter). */
  delivery: () => Delivery;
  store: SessionStore;
  maxDisconnectionMs: number;
  replayLimit: number;
  subjectPrefix?: string;
}): ConnectionStateRecovery {
  return {
    maxDisconnectionMs: options.maxDisconnectionMs,
    store: options.store,
    currentOffset: () => options.delivery().currentOffset(),
    replay(socket, session, offset, deliver) {
      const delivery = options.delivery();
      const now = socket.data["claims"] as Claims | undefined;
      const before = (session.data as { claims?: Claims } | null)?.claims;
      if (
        now === undefined ||
        before === undefined ||
        now.sub !== before.sub ||
        now.tenant_id !== before.tenant_id
      ) {
        // Not the owner: put the session back, so a stolen pid costs the owner nothing.
        options.store.save(session).catch(() => undefined);
        deliver(null);
        return;
      }
      const subjects = session.rooms.filter((r) => parseSubject(r, options.subjectPrefix) !== null);
      // Hold the rooms' interest across the read, so nothing published meanwhile is missed.
      for (const s of subjects) delivery.acquire(s);
      const release = () => {
        for (const s of subjects) delivery.release(s);
      };
      const finish = (reads: HistoryRead[]) => {
        try {
          if (reads.some((r) => r.gap)) {
            deliver(null);
            return;
          }
          const events: HistoryEvent[] = reads.flatMap((r) => r.events);
          events.sort((a, b) => Number(a.offset) - Number(b.offset));
          const frames: Frame[] = events.map((e) =>
            socketIoEventFrame(e.type, e.envelope, "/", e.offset),
          );
          deliver(frames);
        } finally {
          release();
        }
      };
      const reads = delivery.catchUpAll(subjects, offset, options.replayLimit);
      if (!(reads instanceof Promise)) {
        finish(reads);
        return;
      }
      reads.then(finish, () => {
        try {
          deliver(null);
        } finally {
          release();
        }
      });
    },
  };
}
