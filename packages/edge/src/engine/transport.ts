/**
 * One encoded Engine.IO frame in WebSocket form: a text frame (`"42[...]"`,
 * `"2"`, ...) or the bytes of a binary message. Broadcasts build these once and
 * every transport takes the same values.
 */
export type Frame = string | Uint8Array;

/** How a session's frames reach its client. */
export interface Transport {
  readonly name: "polling" | "websocket";
  /** False once the underlying socket or request is gone. */
  readonly open: boolean;
  /** Queue frames in order. Volatile frames may be dropped when the client is slow. */
  send(frames: readonly Frame[], volatile?: boolean): void;
  /**
   * End the transport; with `graceful` a polling client is told with a close
   * packet. `code` is the WebSocket close code (1001 on shutdown).
   */
  close(graceful?: boolean, code?: number): void;
}
