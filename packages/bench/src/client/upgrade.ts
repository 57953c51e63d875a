/** The client side of the WebSocket opening handshake, shared by the generator's clients. */

const HEADER_END = Buffer.from("\r\n\r\n", "latin1");
/** Bound on the server's HTTP response head. */
const MAX_HTTP_HEAD = 16 * 1024;
const KEY_BYTES = Buffer.alloc(16);

/**
 * A Sec-WebSocket-Key: 16 bytes, base64. The server only hashes it into its
 * answer, so a cheap pseudo-random key does; crypto's randomBytes cost the
 * generator more CPU per connection than the rest of its handshake.
 */
function webSocketKey(): string {
  for (let i = 0; i < 16; i += 4) KEY_BYTES.writeUInt32BE((Math.random() * 0x100000000) >>> 0, i);
  return KEY_BYTES.toString("base64");
}

/** The HTTP upgrade request for `path` on `host:port`. */
export function upgradeRequest(host: string, port: number, path: string): string {
  return (
    `GET ${path} HTTP/1.1\r\n` +
    `Host: ${host}:${port}\r\n` +
    "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
    `Sec-WebSocket-Key: ${webSocketKey()}\r\nSec-WebSocket-Version: 13\r\n\r\n`
  );
}

/** What the response head read so far says. */
export type HeadResult =
  | { t: "more" }
  | { t: "refused"; reason: string }
  /** 101: `rest` holds the bytes after the head (the first frames). */
  | { t: "upgraded"; rest: Buffer };

/**
 * Collects the server's response head across reads. The head is small and
 * rare, so each read is copied (the clients' read buffer is shared).
 */
export class UpgradeHead {
  private head: Buffer | undefined;

  push(buf: Buffer, nread: number): HeadResult {
    const chunk = Buffer.from(buf.subarray(0, nread));
    const head = this.head === undefined ? chunk : Buffer.concat([this.head, chunk]);
    const end = head.indexOf(HEADER_END);
    if (end < 0) {
      if (head.length > MAX_HTTP_HEAD) {
        this.head = undefined;
        return { t: "refused", reason: "HTTP response head too large" };
      }
      this.head = head;
      return { t: "more" };
    }
    this.head = undefined;
    const status = head.subarray(0, head.indexOf("\r\n")).toString("latin1");
    if (!/^HTTP\/1\.1 101 /.test(status))
      return { t: "refused", reason: `upgrade refused: ${status}` };
    return { t: "upgraded", rest: head.subarray(end + 4) };
  }
}
