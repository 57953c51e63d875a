import type { Uws } from "../uws.js";

/** Outcome of reading a request body. */
export type BodyResult =
  { ok: true; body: Buffer } | { ok: false; reason: "too_large" | "aborted" };

/**
 * Reads a request body of at most `limit` bytes. Must be called inside the
 * request handler (uWS wants onData/onAborted registered there); each chunk is
 * copied because its ArrayBuffer is only valid inside its callback.
 * `done` is not called when the client goes away.
 */
export function readBody(
  res: Uws.HttpResponse,
  limit: number,
  done: (result: BodyResult) => void,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  res.onAborted(() => {
    finished = true;
  });
  res.onData((chunk, isLast) => {
    if (finished) return;
    size += chunk.byteLength;
    if (size > limit) {
      finished = true;
      done({ ok: false, reason: "too_large" });
      return;
    }
    chunks.push(Buffer.from(chunk.slice(0)));
    if (isLast) {
      finished = true;
      done({ ok: true, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) });
    }
  });
}

/** Tracks whether a response may still be written (uWS forbids writes after abort). */
export function trackAborted(res: Uws.HttpResponse): { readonly aborted: boolean } {
  const state = { aborted: false };
  res.onAborted(() => {
    state.aborted = true;
  });
  return state;
}

/** Write a JSON response, corked (required when answering outside the request callback). */
export function sendJson(
  res: Uws.HttpResponse,
  status: string,
  body: unknown,
  headers: readonly (readonly [string, string])[] = [],
): void {
  res.cork(() => {
    res.writeStatus(status);
    res.writeHeader("Content-Type", "application/json");
    for (const [k, v] of headers) res.writeHeader(k, v);
    res.end(JSON.stringify(body));
  });
}
