import {
  FrameParser,
  OPCODE_CLOSE,
  OPCODE_PING,
  OPCODE_PONG,
  OPCODE_TEXT,
  clientFrame,
  type FrameHandler,
} from "./frame-parser.js";
import { nowMs, readSendTime } from "./latency.js";
import { openTcp, type TcpConnection } from "./tcp.js";
import { UpgradeHead, upgradeRequest } from "./upgrade.js";

/*
 * A Socket.IO client of the recovery scenario: connects to node A,
 * subscribes, and tracks what socket.io-client tracks for connection state
 * recovery (the `pid` of the CONNECT reply and the offset, the last argument
 * of each event). When A closes it, it reconnects at once to node B with
 * `auth: {token, pid, offset}` in its CONNECT, as socket.io-client >= 4.6
 * does, and counts what came back: the reconnect time, recovered or not,
 * offsets skipped (missed) or seen twice (duplicates), events replayed.
 *
 * Unlike `Connection`, it reads every frame (the parser copies each one out):
 * fine at this scenario's rate, and the offset of a frame split across reads
 * is not lost. Only the frame's tail is read for the offset; the send time
 * only while replayed events may still be coming.
 */

export interface RecoverySpec {
  host: string;
  /** Node A, where the client starts, and node B, where it goes when A closes it. */
  portA: number;
  portB: number;
  token: string;
  /** The room it subscribes on A (restored by recovery on B). */
  room: string;
  /** Bound on getting back: from A's close to B's CONNECT reply, and subscribed if not recovered. */
  reconnectTimeoutMs: number;
}

export interface RecoveryClientEvents {
  /** Connected and subscribed on node A. */
  ready(c: RecoveryClient): void;
  /** Failed before it was ready on A, or could not get back on B. */
  failed(c: RecoveryClient, reason: string): void;
  /** Node A closed it: it is reconnecting to B. */
  closed(c: RecoveryClient): void;
  /** The CONNECT reply from node B came. */
  back(c: RecoveryClient): void;
}

/** What one client saw, for the report. */
export interface RecoveryRecord {
  /** From A's close (frame, or TCP close) to B's CONNECT reply, ms; -1 if it did not get back. */
  reconnectMs: number;
  /** Code of A's close frame; 1006 when A closed TCP without one; 0 when A never closed it. */
  closeCode: number;
  /** The CONNECT reply on B carried the same pid (socket.io-client's `socket.recovered`). */
  recovered: boolean;
  /** ... and the same sid (socket.io restores the id on recovery). */
  sameSid: boolean;
  /** Event frames received, A and B. */
  events: number;
  /** Offsets at or below the last one seen. */
  duplicates: number;
  /** Offsets skipped while on node A. */
  missedOnA: number;
  /** Offsets skipped from the reconnect on (the replay's seam, and live on B). */
  missedOnB: number;
  /** Last offset seen (0: none). */
  lastOffset: number;
  /** Events received on B that were published before B's CONNECT reply (from the history). */
  replayed: number;
  /** Epoch ms: A's close, B's CONNECT reply, the last replayed event (0: none). */
  closedAt: number;
  backAt: number;
  replayDoneAt: number;
  failure?: string;
}

type Phase = "connecting" | "http" | "engine-open" | "connect" | "subscribe" | "ready" | "closed";

/** `42[`: a Socket.IO EVENT of the main namespace. */
const C4 = 0x34;
const C2 = 0x32;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const QUOTE = 0x22;
const COMMA = 0x2c;

/**
 * The offset of a Socket.IO event frame `42[...,"<digits>"]` (its last
 * argument, a decimal string), read backwards from `end`; NaN when the last
 * argument is not a decimal string.
 */
export function trailingOffset(buf: Uint8Array, end: number = buf.length): number {
  let j = end - 1;
  if (j < 4 || buf[j] !== RBRACKET || buf[j - 1] !== QUOTE) return NaN;
  j -= 2;
  let value = 0;
  let scale = 1;
  let digits = 0;
  while (j > 0 && digits < 16) {
    const c = buf[j]!;
    if (c < 0x30 || c > 0x39) break;
    value += (c - 0x30) * scale;
    scale *= 10;
    digits++;
    j--;
  }
  if (digits === 0 || buf[j] !== QUOTE || buf[j - 1] !== COMMA) return NaN;
  return value;
}

/** A client's record before anything happened to it. */
export function newRecord(): RecoveryRecord {
  return {
    reconnectMs: -1,
    closeCode: 0,
    recovered: false,
    sameSid: false,
    events: 0,
    duplicates: 0,
    missedOnA: 0,
    missedOnB: 0,
    lastOffset: 0,
    replayed: 0,
    closedAt: 0,
    backAt: 0,
    replayDoneAt: 0,
  };
}

export class RecoveryClient implements FrameHandler {
  phase: Phase = "connecting";
  /** 0: on node A; 1: on (or going to) node B. */
  leg: 0 | 1 = 0;
  sid: string | undefined;
  pid: string | undefined;
  readonly record: RecoveryRecord = newRecord();
  private socket: TcpConnection | undefined;
  private parser: FrameParser;
  private head = new UpgradeHead();
  private closeCode: number | undefined;
  private nextAck = 1;
  /** While > 0: events published before this (epoch ms) are counted as replayed. */
  private replayBefore = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly spec: RecoverySpec,
    private readonly events: RecoveryClientEvents,
    private readonly readBuffer: Buffer,
  ) {
    this.parser = new FrameParser(this, Infinity);
  }

  /** Connects to node A. */
  open(): void {
    this.dial(this.spec.portA);
  }

  /** Ends it without counting anything (end of the run). */
  destroy(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.phase = "closed";
    this.socket?.destroy();
  }

  private dial(port: number): void {
    // A new parser per connection: nothing of the old stream carries over.
    this.parser = new FrameParser(this, Infinity);
    this.head = new UpgradeHead();
    this.closeCode = undefined;
    this.phase = "connecting";
    // Shared read buffer: every frame is copied out during the callback.
    const socket: TcpConnection = openTcp(this.spec.host, port, this.readBuffer, {
      connected: () => {
        if (this.socket !== socket) return;
        this.phase = "http";
        socket.write(upgradeRequest(this.spec.host, port, "/socket.io/?EIO=4&transport=websocket"));
      },
      data: (buf, nread) => {
        if (this.socket === socket) this.onRead(buf, nread);
      },
      ended: (reason) => {
        if (this.socket === socket)
          this.lost(
            reason === undefined ? `closed during ${this.phase}` : `socket error: ${reason}`,
          );
      },
    });
    this.socket = socket;
  }

  /** The connection ended (close frame, TCP close or error). */
  private lost(reason: string): void {
    if (this.phase === "closed") return;
    const was = this.phase;
    const socket = this.socket;
    this.socket = undefined;
    socket?.destroy();
    if (this.leg === 0 && was === "ready") {
      // Node A let it go: straight to node B.
      this.record.closedAt = nowMs();
      this.record.closeCode = this.closeCode ?? 1006;
      this.leg = 1;
      this.events.closed(this);
      this.timer = setTimeout(
        () => this.fail(`not back on node B within ${this.spec.reconnectTimeoutMs} ms`),
        this.spec.reconnectTimeoutMs,
      );
      this.dial(this.spec.portB);
      return;
    }
    this.fail(
      this.closeCode === undefined ? reason : `${reason} (closed by server with ${this.closeCode})`,
    );
  }

  /** Gives up on it: counted as failed (with `reason`) unless it is already closed. */
  fail(reason: string): void {
    if (this.phase === "closed") return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.phase = "closed";
    this.socket?.destroy();
    this.socket = undefined;
    this.record.failure ??= `${this.leg === 0 ? "node A" : "node B"}: ${reason}`;
    this.events.failed(this, this.record.failure);
  }

  private send(text: string): void {
    this.socket?.write(clientFrame(OPCODE_TEXT, text));
  }

  private onRead(buf: Buffer, nread: number): void {
    if (this.phase === "http") this.onHead(buf, nread);
    else if (this.phase !== "closed" && this.phase !== "connecting")
      this.parser.push(buf, 0, nread);
  }

  private onHead(buf: Buffer, nread: number): void {
    const head = this.head.push(buf, nread);
    if (head.t === "more") return;
    if (head.t === "refused") {
      this.fail(head.reason);
      return;
    }
    this.phase = "engine-open";
    if (head.rest.length > 0) this.parser.push(head.rest, 0, head.rest.length);
  }

  /** Never called: the parser copies every frame out (minEventBytes Infinity). */
  onEvent(): void {}

  onMessage(opcode: number, payload: Buffer): void {
    if (opcode === OPCODE_TEXT) {
      const n = payload.length;
      if (n > 3 && payload[0] === C4 && payload[1] === C2 && payload[2] === LBRACKET) {
        this.onEventFrame(payload, n);
        return;
      }
      this.onPacket(payload.toString("utf8"));
      return;
    }
    if (opcode === OPCODE_PING) {
      this.socket?.write(clientFrame(OPCODE_PONG, payload));
      return;
    }
    if (opcode === OPCODE_CLOSE) {
      this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      this.lost(`closed by server with ${this.closeCode}`);
    }
  }

  private onEventFrame(payload: Buffer, n: number): void {
    const r = this.record;
    r.events++;
    const offset = trailingOffset(payload, n);
    if (offset !== offset) return; // no offset (history off): nothing to track
    if (this.replayBefore > 0) {
      const sent = readSendTime(payload, 0, n);
      if (sent === sent && sent < this.replayBefore) {
        r.replayed++;
        r.replayDoneAt = nowMs();
      } else this.replayBefore = 0;
    }
    const last = r.lastOffset;
    if (last === 0) r.lastOffset = offset;
    else if (offset <= last) r.duplicates++;
    else {
      if (offset > last + 1) {
        if (this.leg === 0) r.missedOnA += offset - last - 1;
        else r.missedOnB += offset - last - 1;
      }
      r.lastOffset = offset;
    }
  }

  private onPacket(text: string): void {
    // Engine.IO PING (server heartbeat): PONG.
    if (text === "2") {
      this.send("3");
      return;
    }
    switch (this.phase) {
      case "engine-open":
        if (!text.startsWith("0{")) {
          this.fail(`expected the Engine.IO open packet, got ${text.slice(0, 80)}`);
          return;
        }
        this.phase = "connect";
        {
          // socket.io-client: `{pid, offset, ...auth}` once it has a pid.
          const auth: Record<string, string> = { token: this.spec.token };
          if (this.leg === 1 && this.pid !== undefined) {
            auth["pid"] = this.pid;
            if (this.record.lastOffset > 0) auth["offset"] = String(this.record.lastOffset);
          }
          this.send(`40${JSON.stringify(auth)}`);
        }
        return;
      case "connect":
        if (text.startsWith("40")) this.onConnected(text);
        else if (text.startsWith("44")) this.fail(`CONNECT refused: ${text.slice(2, 200)}`);
        return;
      case "subscribe":
        if (text.startsWith("43")) {
          if (!text.includes('"ok":true')) {
            this.fail(`subscribe refused: ${text.slice(0, 200)}`);
            return;
          }
          this.becomeReady();
        }
        return;
      default:
        return;
    }
  }

  private onConnected(text: string): void {
    let reply: { sid?: unknown; pid?: unknown };
    try {
      reply = JSON.parse(text.slice(2)) as { sid?: unknown; pid?: unknown };
    } catch {
      this.fail(`bad CONNECT reply: ${text.slice(0, 120)}`);
      return;
    }
    const sid = typeof reply.sid === "string" ? reply.sid : undefined;
    const pid = typeof reply.pid === "string" ? reply.pid : undefined;
    if (this.leg === 0) {
      this.sid = sid;
      this.pid = pid;
      this.subscribe();
      return;
    }
    const r = this.record;
    r.backAt = nowMs();
    r.reconnectMs = r.backAt - r.closedAt;
    r.recovered = pid !== undefined && pid === this.pid;
    r.sameSid = sid !== undefined && sid === this.sid;
    this.sid = sid;
    this.pid = pid;
    this.events.back(this);
    if (r.recovered) {
      // Rooms restored by the server, missed events follow the CONNECT.
      this.replayBefore = r.backAt;
      this.becomeReady();
    } else {
      // A new session: the application subscribes again (what it missed is lost).
      this.subscribe();
    }
  }

  private subscribe(): void {
    this.phase = "subscribe";
    this.send(`42${this.nextAck++}${JSON.stringify(["subscribe", this.spec.room])}`);
  }

  private becomeReady(): void {
    this.phase = "ready";
    if (this.leg === 0) this.events.ready(this);
    else if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
