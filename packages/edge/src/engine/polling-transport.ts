import { encodePollingPayload } from "@calcbridge/protocol";
import type { Uws } from "../uws.js";
import type { Frame, Transport } from "./transport.js";

/** A held GET: the response plus the headers computed while the request was valid. */
interface PendingPoll {
  res: Uws.HttpResponse;
  headers: readonly (readonly [string, string])[];
}

/** Frames a polling client may have waiting before it counts as a slow consumer. */
const MAX_BUFFERED_FRAMES = 10_000;

/**
 * HTTP long-polling. Frames wait in a buffer until the client's next GET;
 * a held GET is answered on the next microtask so that frames queued in the
 * same tick leave in one payload.
 */
export class PollingTransport implements Transport {
  readonly name = "polling";
  open = true;
  droppedVolatile = 0;
  private buffer: Frame[] = [];
  private pending: PendingPoll | undefined;
  private flushScheduled = false;
  /** A close packet ("1") is owed to the client, after the buffer. */
  private closeOwed = false;
  /** The next GET is to be released with a noop (an upgrade is under way). */
  private noopOwed = false;

  /** Called when the buffer overflows (the client stopped polling). */
  onOverflow: (() => void) | undefined;

  send(frames: readonly Frame[], volatile = false): void {
    if (!this.open) return;
    if (volatile && this.pending === undefined) {
      this.droppedVolatile += frames.length;
      return;
    }
    for (const frame of frames) this.buffer.push(frame);
    if (this.buffer.length > MAX_BUFFERED_FRAMES) {
      this.onOverflow?.();
      return;
    }
    this.scheduleFlush();
  }

  /** True while a GET is held open. */
  get polling(): boolean {
    return this.pending !== undefined;
  }

  /**
   * A GET arrived. Returns false when another GET is already held (the client
   * broke the protocol); the caller answers that request itself.
   */
  onPoll(res: Uws.HttpResponse, headers: readonly (readonly [string, string])[]): boolean {
    if (this.pending !== undefined) return false;
    const pending: PendingPoll = { res, headers };
    this.pending = pending;
    res.onAborted(() => {
      if (this.pending === pending) this.pending = undefined;
    });
    if (this.noopOwed) {
      this.noopOwed = false;
      this.buffer.push("6");
    }
    if (this.buffer.length > 0 || this.closeOwed) this.scheduleFlush();
    return true;
  }

  /** Everything still buffered, emptied (for the move to another transport). */
  takeBuffer(): Frame[] {
    const frames = this.buffer;
    this.buffer = [];
    return frames;
  }

  /**
   * Answers the held GET with a noop so the client's poll returns (upgrade,
   * spec §upgrade). With none held yet (it is on its way), the next GET is
   * answered at once: the client pauses polling until it returns.
   */
  releasePoll(): void {
    if (this.pending === undefined) {
      this.noopOwed = true;
      return;
    }
    this.buffer.push("6");
    this.flush();
  }

  close(graceful = true): void {
    if (!this.open) return;
    this.open = false;
    if (!graceful) this.buffer = [];
    // The client learns of the close from a "1" that travels alone, after
    // everything still buffered (engine.io's order: clients handle a
    // payload's packets after its close packet). A held GET is never left
    // hanging; what it cannot take waits for the next GET (`draining`).
    this.closeOwed = graceful || this.pending !== undefined;
    if (this.pending !== undefined) this.flush();
  }

  /** Closed, with frames or the close packet still owed to the client's next GET. */
  get draining(): boolean {
    return !this.open && (this.closeOwed || this.buffer.length > 0);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.pending === undefined) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const pending = this.pending;
    if (pending === undefined) return;
    let frames = this.buffer;
    if (frames.length === 0) {
      if (!this.closeOwed) return;
      this.closeOwed = false;
      frames = ["1"];
    }
    this.pending = undefined;
    const body = encodePollingPayload(frames);
    this.buffer = [];
    pending.res.cork(() => {
      pending.res.writeStatus("200 OK");
      pending.res.writeHeader("Content-Type", "text/plain; charset=UTF-8");
      for (const [k, v] of pending.headers) pending.res.writeHeader(k, v);
      pending.res.end(body);
    });
  }
}
