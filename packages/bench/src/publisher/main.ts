import { connect } from "@nats-io/transport-node";
import { Emitter } from "@calcbridge/bridge-nats";
import { encodeEnvelope, socketIoEventFrame } from "@calcbridge/protocol";
import type { PublisherSetup } from "./messages.js";
import { servePublisher, type Sender } from "./pacer.js";
import { BENCH_ROOM, BENCH_TYPE, benchRequest, padFor, userId, validated } from "./payload.js";

/*
 * The publisher: a separate process that offers events at a steady rate, each
 * stamped with its send time. Modes:
 * - `nats-event`: a CalcBridge event through NATS with the `Emitter` of
 *   @calcbridge/bridge-nats, which does what the edge's own publisher does:
 *   validatePublish -> encodeEnvelope -> encodeBusMessage -> publish on
 *   subjectFor(tenant, room);
 * - `nats-frame`: the finished Socket.IO frame as the NATS payload (the bare
 *   uWS relay forwards it untouched);
 * - `nats-envelope`: the envelope JSON on a fixed subject (the `except`
 *   servers re-emit it with socket.to(room).emit);
 * - `redis-emitter`: @socket.io/redis-emitter, to Socket.IO + Redis adapter.
 */

let close: (() => Promise<void>) | undefined;

async function init(s: PublisherSetup): Promise<Sender> {
  const room0 = s.users === undefined ? BENCH_ROOM : `notifications:${userId(0)}`;
  const pad = padFor(s.frameBytes, room0);
  // The rooms scenario targets a random user per event; the others one room.
  const roomOf = (): string =>
    s.users === undefined
      ? BENCH_ROOM
      : `notifications:${userId(Math.floor(Math.random() * s.users))}`;
  switch (s.mode) {
    case "nats-event":
    case "nats-frame":
    case "nats-envelope": {
      const nc = await connect({ servers: (s.natsUrl ?? "").split(","), name: "bench-publisher" });
      close = () => nc.drain();
      const enc = new TextEncoder();
      const subject = s.subject ?? "";
      if (s.mode === "nats-event") {
        const emitter = new Emitter(nc);
        return (n, ts) => {
          emitter.publish(benchRequest(roomOf(), n, ts, pad));
        };
      }
      if (s.mode === "nats-frame") {
        return (n, ts) => {
          const event = validated(benchRequest(BENCH_ROOM, n, ts, pad));
          nc.publish(subject, enc.encode(socketIoEventFrame(BENCH_TYPE, encodeEnvelope(event))));
        };
      }
      return (n, ts) => {
        const event = validated(benchRequest(BENCH_ROOM, n, ts, pad));
        nc.publish(subject, enc.encode(encodeEnvelope(event)));
      };
    }
    case "redis-emitter": {
      const { Redis } = await import("ioredis");
      const { Emitter: RedisEmitter } = await import("@socket.io/redis-emitter");
      const client = new Redis(s.redisUrl ?? "", { lazyConnect: true, enableAutoPipelining: true });
      await client.connect();
      const emitter = new RedisEmitter(client);
      close = async () => {
        await client.quit();
      };
      return (n, ts) => {
        const event = validated(benchRequest(roomOf(), n, ts, pad));
        const envelope = {
          type: event.type,
          payload: event.payload,
          timestamp: event.timestamp,
          room: event.roomName,
        };
        emitter.to(event.roomName).emit(BENCH_TYPE, envelope);
      };
    }
  }
}

servePublisher(init, () => close?.() ?? Promise.resolve());
