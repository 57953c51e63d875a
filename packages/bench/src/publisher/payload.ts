import {
  encodeEnvelope,
  socketIoEventFrame,
  validatePublish,
  type RoomEvent,
} from "@calcbridge/protocol";

/** The tenant, job and room every fan-out scenario uses. */
export const BENCH_TENANT = "bench";
export const BENCH_JOB = "bench";
export const BENCH_ROOM = `job:${BENCH_JOB}`;
export const BENCH_TYPE = "job.progress";

/** The room of user `i` in the rooms scenario. */
export function userId(i: number): string {
  return `u${i}`;
}

/** Target size of a Socket.IO event frame's payload, bytes. */
export const DEFAULT_FRAME_BYTES = 200;

/** A publish request as a backend would send it: `job.progress` with the send time and padding. */
export function benchRequest(room: string, n: number, ts: number, pad: string): unknown {
  return {
    tenant_id: BENCH_TENANT,
    room,
    type: BENCH_TYPE,
    payload: { job_id: BENCH_JOB, progress: n % 101, ts, pad },
  };
}

export function validated(input: unknown): RoomEvent {
  const result = validatePublish(input);
  if (!result.ok) throw new Error(`bench event rejected: ${result.reasons.join("; ")}`);
  return result.event;
}

/**
 * The padding that makes the Socket.IO frame of a bench event about
 * `frameBytes` long (the raw-API frame is 20 bytes shorter: no `42["job.progress",`/`]`).
 */
export function padFor(frameBytes: number, room: string = BENCH_ROOM): string {
  const sample = (pad: string) =>
    Buffer.byteLength(
      socketIoEventFrame(
        BENCH_TYPE,
        encodeEnvelope(validated(benchRequest(room, 50, 1732900000123.456, pad))),
      ),
    );
  const base = sample("");
  return "x".repeat(Math.max(0, frameBytes - base));
}
