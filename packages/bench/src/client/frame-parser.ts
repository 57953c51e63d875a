/*
 * A WebSocket frame parser for server-to-client frames (RFC 6455 §5.2) that
 * counts event frames without copying or decoding them. Only small frames
 * (handshake replies, Engine.IO pings, control frames) are copied out, since
 * the connection must answer them; an event's payload is skipped in place,
 * except for the occasional sampled one, whose send time is read straight
 * from the bytes.
 */

export const OPCODE_CONTINUATION = 0x0;
export const OPCODE_TEXT = 0x1;
export const OPCODE_BINARY = 0x2;
export const OPCODE_CLOSE = 0x8;
export const OPCODE_PING = 0x9;
export const OPCODE_PONG = 0xa;

/** What the parser reports to its connection. */
export interface FrameHandler {
  /**
   * An event frame: a data frame of at least `minEventBytes` while not
   * capturing. `buf[start, start + length)` is the payload when `whole` (the
   * frame lies in this chunk): valid only during the call.
   */
  onEvent(buf: Buffer, start: number, length: number, whole: boolean): void;
  /** Any other frame, copied out (small by construction). */
  onMessage(opcode: number, payload: Buffer): void;
}

/** Largest frame that is ever copied out; a bigger non-event frame is skipped uncopied. */
const MAX_COPIED_FRAME = 64 * 1024;

/** Per-connection parser state. `push` is the hot path: no allocation per event frame. */
export class FrameParser {
  /** While true every frame is copied and handed to `onMessage` (the handshake phase). */
  capturing = true;
  /** Header bytes of a header split across chunks. */
  private readonly header = Buffer.allocUnsafe(14);
  private headerLength = 0;
  /** Payload bytes of the current frame still to come. */
  private remaining = 0;
  /** The current frame's payload, when it is being copied. */
  private copy: Buffer | undefined;
  private copied = 0;
  private opcode = 0;

  constructor(
    private readonly handler: FrameHandler,
    private readonly minEventBytes: number,
  ) {}

  /** Feeds `buf[start, end)`; the bytes are not kept past the call. */
  push(buf: Buffer, start: number, end: number): void {
    let i = start;
    while (i < end) {
      if (this.remaining > 0) {
        const take = this.remaining < end - i ? this.remaining : end - i;
        if (this.copy !== undefined) {
          buf.copy(this.copy, this.copied, i, i + take);
          this.copied += take;
        }
        i += take;
        this.remaining -= take;
        if (this.remaining === 0) this.endFrame();
        continue;
      }
      // Fast path: the whole header is in this chunk.
      if (this.headerLength === 0 && end - i >= 2) {
        const b1 = buf[i + 1]!;
        const len7 = b1 & 0x7f;
        const headerSize = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
        if (end - i >= headerSize) {
          const length =
            len7 < 126
              ? len7
              : len7 === 126
                ? buf.readUInt16BE(i + 2)
                : Number(buf.readBigUInt64BE(i + 2));
          const opcode = buf[i]! & 0x0f;
          i += headerSize;
          this.startFrame(opcode, length, buf, i, end);
          continue;
        }
      }
      // Slow path: gather the header byte by byte across chunks.
      this.header[this.headerLength++] = buf[i++]!;
      if (this.headerLength < 2) continue;
      const b1 = this.header[1]!;
      const len7 = b1 & 0x7f;
      const headerSize = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
      if (this.headerLength < headerSize) continue;
      const length =
        len7 < 126
          ? len7
          : len7 === 126
            ? this.header.readUInt16BE(2)
            : Number(this.header.readBigUInt64BE(2));
      this.headerLength = 0;
      this.startFrame(this.header[0]! & 0x0f, length, buf, i, end);
    }
  }

  private startFrame(opcode: number, length: number, buf: Buffer, at: number, end: number): void {
    this.opcode = opcode;
    const data =
      opcode === OPCODE_TEXT || opcode === OPCODE_BINARY || opcode === OPCODE_CONTINUATION;
    if (data && !this.capturing && length >= this.minEventBytes) {
      this.handler.onEvent(buf, at, length, end - at >= length);
      this.copy = undefined;
    } else {
      this.copy = length <= MAX_COPIED_FRAME ? Buffer.allocUnsafe(length) : undefined;
      this.copied = 0;
    }
    this.remaining = length;
    if (length === 0) this.endFrame();
  }

  private endFrame(): void {
    const copy = this.copy;
    if (copy === undefined) return;
    this.copy = undefined;
    this.handler.onMessage(this.opcode, copy);
  }
}

/** A masked client frame (RFC 6455 §5.3: every client frame is masked). */
export function clientFrame(opcode: number, payload: Buffer | string): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  const len = body.length;
  const headerSize = 2 + (len < 126 ? 0 : len < 65536 ? 2 : 8) + 4;
  const out = Buffer.allocUnsafe(headerSize + len);
  out[0] = 0x80 | opcode;
  let o = 2;
  if (len < 126) {
    out[1] = 0x80 | len;
  } else if (len < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
    o = 4;
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(len), 2);
    o = 10;
  }
  // The mask only has to differ between frames for proxies' sake; on loopback
  // a cheap pseudo-random key is enough.
  const mask = (Math.random() * 0x100000000) >>> 0;
  out.writeUInt32BE(mask, o);
  const m0 = mask >>> 24;
  const m1 = (mask >>> 16) & 0xff;
  const m2 = (mask >>> 8) & 0xff;
  const m3 = mask & 0xff;
  const p = o + 4;
  for (let k = 0; k < len; k++) {
    const m = (k & 3) === 0 ? m0 : (k & 3) === 1 ? m1 : (k & 3) === 2 ? m2 : m3;
    out[p + k] = body[k]! ^ m;
  }
  return out;
}
