import {
  FrameParser,
  OPCODE_CLOSE,
  OPCODE_PING,
  OPCODE_PONG,
  OPCODE_TEXT,
  clientFrame,
  type FrameHandler,
} from "./frame-parser.js";
import { UpgradeHead, upgradeRequest } from "./upgrade.js";
import { nowMs, readSendTime, recordLatencyMs, type LatencyHistogram } from "./latency.js";
import { openTcp, type TcpConnection } from "./tcp.js";

/**
 * How a connection speaks once the WebSocket is open:
 * - `socketio`: Engine.IO v4 over WebSocket, CONNECT with `auth: {token}`,
 *   then `subscribe` events (acknowledged) for each room;
 * - `raw`: the CalcBridge API; the path may subscribe by itself
 *   (`/ws/jobs/<id>`), and each room is a `{"type":"subscribe"}` request;
 * - `plain`: a bare WebSocket that is ready once open (self-check, relay).
 */
export type ClientMode = "socketio" | "raw" | "plain";

export interface ConnectionSpec {
  host: string;
  port: number;
  mode: ClientMode;
  /** Request path with query, e.g. `/ws/jobs/bench?token=...`. */
  path: string;
  /** The token for the Socket.IO CONNECT packet. */
  token?: string;
  /** Rooms to subscribe once connected (socketio: `subscribe` event; raw: request). */
  rooms: readonly string[];
}

/** Counters shared by every connection of one worker (the hot path writes them). */
export interface WorkerCounters {
  events: number;
  /** Events since the last latency sample. */
  sinceSample: number;
  sampleEvery: number;
  /** Sampled frames that were split across reads, so not timed. */
  unsampled: number;
  histogram: LatencyHistogram;
}

export interface ConnectionEvents {
  ready(conn: Connection): void;
  failed(conn: Connection, reason: string): void;
  closed(conn: Connection, code: number | undefined): void;
}

type Phase = "connecting" | "http" | "engine-open" | "connect" | "subscribe" | "ready" | "closed";

/**
 * One client WebSocket over {@link openTcp}. It writes its own upgrade request
 * and masked frames, and hands every byte it reads to a {@link FrameParser}
 * that counts event frames in place.
 */
export class Connection implements FrameHandler {
  phase: Phase = "connecting";
  closeCode: number | undefined;
  private socket: TcpConnection | undefined;
  private readonly parser: FrameParser;
  private readonly head = new UpgradeHead();
  private pendingRooms = 0;
  private nextAck = 1;

  constructor(
    readonly spec: ConnectionSpec,
    private readonly counters: WorkerCounters,
    private readonly events: ConnectionEvents,
    minEventBytes: number,
    private readonly readBuffer: Buffer,
  ) {
    this.parser = new FrameParser(this, minEventBytes);
  }

  open(): void {
    // One read buffer shared by every connection of the worker: reads are
    // handled synchronously, so no read ever outlives its callback.
    this.socket = openTcp(this.spec.host, this.spec.port, this.readBuffer, {
      connected: () => {
        this.phase = "http";
        this.socket?.write(upgradeRequest(this.spec.host, this.spec.port, this.spec.path));
      },
      data: (buf, nread) => this.onRead(buf, nread),
      ended: (reason) => {
        if (reason !== undefined) {
          this.fail(`socket error: ${reason}`);
          return;
        }
        const was = this.phase;
        this.phase = "closed";
        if (was === "ready") this.events.closed(this, this.closeCode);
        else if (was !== "closed")
          this.events.failed(this, `closed during ${was} (code ${this.closeCode ?? "none"})`);
      },
    });
  }

  /** Send a text frame (masked). */
  sendText(text: string): void {
    this.socket?.write(clientFrame(OPCODE_TEXT, text));
  }

  /** A WebSocket ping (keeps the raw API's heartbeat satisfied). */
  ping(): void {
    if (this.phase === "ready") this.socket?.write(clientFrame(OPCODE_PING, Buffer.alloc(0)));
  }

  destroy(): void {
    if (this.phase === "closed") return;
    this.phase = "closed";
    this.socket?.destroy();
  }

  private fail(reason: string): void {
    if (this.phase === "closed") return;
    const wasReady = this.phase === "ready";
    this.phase = "closed";
    this.socket?.destroy();
    if (wasReady) this.events.closed(this, this.closeCode);
    else this.events.failed(this, reason);
  }

  private onRead(buf: Buffer, nread: number): void {
    if (this.phase === "http") {
      this.onHead(buf, nread);
      return;
    }
    if (this.phase !== "closed") this.parser.push(buf, 0, nread);
  }

  private onHead(buf: Buffer, nread: number): void {
    const head = this.head.push(buf, nread);
    if (head.t === "more") return;
    if (head.t === "refused") {
      this.fail(head.reason);
      return;
    }
    const rest = head.rest;
    switch (this.spec.mode) {
      case "socketio":
        this.phase = "engine-open";
        break;
      case "raw":
        this.subscribeRaw();
        break;
      case "plain":
        this.becomeReady();
        break;
    }
    if (rest.length > 0) this.parser.push(rest, 0, rest.length);
  }

  private becomeReady(): void {
    this.phase = "ready";
    this.parser.capturing = false;
    this.events.ready(this);
  }

  private subscribeRaw(): void {
    if (this.spec.rooms.length === 0) {
      this.becomeReady();
      return;
    }
    this.phase = "subscribe";
    this.pendingRooms = this.spec.rooms.length;
    for (const room of this.spec.rooms) this.sendText(JSON.stringify({ type: "subscribe", room }));
  }

  onEvent(buf: Buffer, start: number, length: number, whole: boolean): void {
    const c = this.counters;
    c.events++;
    if (++c.sinceSample < c.sampleEvery) return;
    if (!whole) {
      c.unsampled++;
      return; // sample the next one instead
    }
    c.sinceSample = 0;
    const sent = readSendTime(buf, start, start + length);
    if (sent === sent) recordLatencyMs(c.histogram, nowMs() - sent);
  }

  onMessage(opcode: number, payload: Buffer): void {
    if (opcode === OPCODE_PING) {
      this.socket?.write(clientFrame(OPCODE_PONG, payload));
      return;
    }
    if (opcode === OPCODE_CLOSE) {
      this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      const reason = payload.length > 2 ? payload.subarray(2).toString("utf8") : "";
      this.fail(`closed by server with ${this.closeCode}${reason ? ` (${reason})` : ""}`);
      return;
    }
    if (opcode === OPCODE_PONG) return;
    const text = payload.toString("utf8");
    // Engine.IO PING (server-initiated heartbeat, EIO v4): answer PONG.
    if (text === "2" && this.spec.mode === "socketio") {
      this.sendText("3");
      return;
    }
    switch (this.phase) {
      case "engine-open":
        if (text.startsWith("0{")) {
          this.phase = "connect";
          this.sendText(
            this.spec.token === undefined
              ? "40"
              : `40${JSON.stringify({ token: this.spec.token })}`,
          );
        } else this.fail(`expected the Engine.IO open packet, got ${text.slice(0, 80)}`);
        return;
      case "connect":
        if (text.startsWith("40")) {
          if (this.spec.rooms.length === 0) {
            this.becomeReady();
            return;
          }
          this.phase = "subscribe";
          this.pendingRooms = this.spec.rooms.length;
          for (const room of this.spec.rooms)
            this.sendText(`42${this.nextAck++}${JSON.stringify(["subscribe", room])}`);
        } else if (text.startsWith("44")) this.fail(`CONNECT refused: ${text.slice(2, 200)}`);
        return;
      case "subscribe":
        if (this.spec.mode === "socketio" && text.startsWith("43")) {
          if (!text.includes('"ok":true')) {
            this.fail(`subscribe refused: ${text.slice(0, 200)}`);
            return;
          }
          if (--this.pendingRooms === 0) this.becomeReady();
        } else if (this.spec.mode === "raw" && text.startsWith('{"type":"subscribed"')) {
          if (--this.pendingRooms === 0) this.becomeReady();
        } else if (this.spec.mode === "raw" && text.startsWith('{"type":"error"')) {
          this.fail(`subscribe refused: ${text.slice(0, 200)}`);
        }
        return;
      default:
        return;
    }
  }
}
