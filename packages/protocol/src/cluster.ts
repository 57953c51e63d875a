import { DecodeError, EncodeError } from "./errors.js";
import { DEFAULT_SUBJECT_PREFIX, checkPrefix, escapeToken } from "./tenancy.js";

/*
 * Subjects of the cluster's own traffic. They live beside, not under, the
 * room subjects (`<prefix>.<tenant>...`): `<prefix>-cluster.*`, so a stream
 * over `<prefix>.>` (event history) never captures them.
 */

/** Socket.IO broadcasts of one namespace (every node with the namespace subscribes). */
export function broadcastSubject(nsp: string, prefix: string = DEFAULT_SUBJECT_PREFIX): string {
  checkPrefix(prefix);
  return `${prefix}-cluster.b.${escapeToken(nsp)}`;
}

/** Cross-node requests (fetchSockets, socketsJoin, serverSideEmit, ...): every node subscribes. */
export function requestSubject(prefix: string = DEFAULT_SUBJECT_PREFIX): string {
  checkPrefix(prefix);
  return `${prefix}-cluster.req`;
}

/** Node heartbeats: cluster membership, and how many answers a request should wait for. */
export function heartbeatSubject(prefix: string = DEFAULT_SUBJECT_PREFIX): string {
  checkPrefix(prefix);
  return `${prefix}-cluster.hb`;
}

/**
 * Where JetStream republishes a stored room event (with its sequence in the
 * `Nats-Sequence` header): `<prefix>-live.<tenant>.<kind>.<id>`. Nodes with
 * history subscribe here instead of the room subject itself, so every event
 * they deliver carries its offset.
 */
export function liveSubject(subject: string, prefix: string = DEFAULT_SUBJECT_PREFIX): string {
  checkPrefix(prefix);
  if (!subject.startsWith(`${prefix}.`)) {
    throw new EncodeError("ERR_INVALID_SUBJECT", `not a room subject of prefix "${prefix}"`);
  }
  return `${prefix}-live${subject.slice(prefix.length)}`;
}

/** The republish destination of the history stream: `<prefix>-live.>`. */
export function liveSubjectWildcard(prefix: string = DEFAULT_SUBJECT_PREFIX): string {
  checkPrefix(prefix);
  return `${prefix}-live.>`;
}

/** One frame's place in a packed body: [1 if binary else 0, byte length]. */
export type FrameLayout = [0 | 1, number][];

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Packs encoded WebSocket frames (text strings, binary attachments) into one
 * body for the bus. A single text frame needs no layout (`layout` undefined).
 */
export function packFrames(frames: readonly (string | Uint8Array)[]): {
  layout: FrameLayout | undefined;
  body: Uint8Array;
} {
  if (frames.length === 1 && typeof frames[0] === "string") {
    return { layout: undefined, body: utf8.encode(frames[0]) };
  }
  const parts = frames.map((f) => (typeof f === "string" ? utf8.encode(f) : f));
  const layout: FrameLayout = frames.map((f, i) => [
    typeof f === "string" ? 0 : 1,
    parts[i]!.byteLength,
  ]);
  const body = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    body.set(p, at);
    at += p.byteLength;
  }
  return { layout, body };
}

/** Inverse of {@link packFrames}; binary frames are views into `body`. Throws DecodeError. */
export function unpackFrames(layout: unknown, body: Uint8Array): (string | Uint8Array)[] {
  try {
    if (layout === undefined) return [utf8Decoder.decode(body)];
    if (!Array.isArray(layout) || layout.length === 0 || layout.length > 1000) {
      throw new DecodeError("ERR_INVALID_FRAMES", "frame layout must be a non-empty array");
    }
    const out: (string | Uint8Array)[] = [];
    let at = 0;
    for (const entry of layout as unknown[]) {
      if (
        !Array.isArray(entry) ||
        (entry[0] !== 0 && entry[0] !== 1) ||
        !Number.isSafeInteger(entry[1])
      ) {
        throw new DecodeError("ERR_INVALID_FRAMES", "frame layout entries are [0|1, length]");
      }
      const len = entry[1] as number;
      if (len < 0 || at + len > body.byteLength) {
        throw new DecodeError("ERR_INVALID_FRAMES", "frame layout does not fit the body");
      }
      const view = body.subarray(at, at + len);
      out.push(entry[0] === 1 ? view : utf8Decoder.decode(view));
      at += len;
    }
    if (at !== body.byteLength)
      throw new DecodeError("ERR_INVALID_FRAMES", "body longer than its frames");
    return out;
  } catch (err) {
    if (err instanceof DecodeError) throw err;
    throw new DecodeError("ERR_INVALID_FRAMES", "a text frame is not UTF-8", { cause: err });
  }
}

/** Guards JSON bodies of requests and replies. */
export function encodeJsonBody(value: unknown): Uint8Array {
  try {
    return utf8.encode(JSON.stringify(value));
  } catch (err) {
    throw new EncodeError("ERR_NOT_SERIALISABLE", "a cluster request or reply must be JSON", {
      cause: err,
    });
  }
}

export function decodeJsonBody(body: Uint8Array): unknown {
  try {
    return JSON.parse(utf8Decoder.decode(body));
  } catch (err) {
    throw new DecodeError("ERR_INVALID_PAYLOAD", "a cluster request or reply is not JSON", {
      cause: err,
    });
  }
}
