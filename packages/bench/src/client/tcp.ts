import { connect } from "node:net";
import { getSystemErrorName } from "node:util";

/*
 * The generator's TCP connections. A client must cost much less than the
 * server it measures; at connection setup `net.Socket`'s stream machinery
 * (the Duplex state, the write queue, the connect path) cost the generator
 * more JS time per connection than the edge's whole handshake. So the
 * clients sit directly on the libuv TCP handle that `node:net` itself is
 * built on (`tcp_wrap`), reading into one shared buffer and writing without
 * a queue. Where a Node.js version does not expose that binding, the same
 * interface runs over `node:net`. The report names the transport used.
 */

/** What a connection tells its owner. Exactly one of `ended` follows `open`. */
export interface TcpHandlers {
  connected(): void;
  /** `nread` bytes at the start of `buf` (the shared read buffer), valid during the call only. */
  data(buf: Buffer, nread: number): void;
  /**
   * The peer closed (`reason` undefined) or the connection failed. Not
   * called after {@link TcpConnection.destroy}.
   */
  ended(reason?: string): void;
}

export interface TcpConnection {
  write(data: Buffer | string): void;
  /** Closes it; no handler is called afterwards. */
  destroy(): void;
}

export type TcpTransport = "tcp_wrap" | "net";

interface StreamBase {
  readStart(): number;
  readStop(): number;
  useUserBuffer(buf: Buffer): void;
  setNoDelay(on: boolean): number;
  writeBuffer(req: object, buf: Buffer): number;
  writeLatin1String(req: object, s: string): number;
  connect(req: object, host: string, port: number): number;
  close(cb?: () => void): void;
  /** Must stay a function (node asserts it). */
  onread: (this: StreamBase) => void;
  owner?: HandleConn;
}

interface TcpBinding {
  TCP: new (type: number) => StreamBase;
  TCPConnectWrap: new () => {
    oncomplete: (status: number) => void;
    address: string;
    port: number;
  };
  constants: { SOCKET: number };
}

interface StreamBinding {
  WriteWrap: new () => {
    handle: StreamBase;
    oncomplete: (status: number) => void;
    async: boolean;
    buffer?: Buffer;
  };
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kLastWriteWasAsync: number;
}

const UV_EOF = -4095;

function loadBindings(): { tcp: TcpBinding; stream: StreamBinding } | undefined {
  if (process.env["BENCH_TCP"] === "net") return undefined;
  try {
    const binding = (process as unknown as { binding(name: string): unknown }).binding;
    const tcp = binding("tcp_wrap") as Partial<TcpBinding>;
    const stream = binding("stream_wrap") as Partial<StreamBinding>;
    if (
      typeof tcp.TCP !== "function" ||
      typeof tcp.TCPConnectWrap !== "function" ||
      typeof tcp.constants?.SOCKET !== "number" ||
      typeof stream.WriteWrap !== "function" ||
      !(stream.streamBaseState instanceof Int32Array) ||
      typeof stream.kReadBytesOrError !== "number"
    )
      return undefined;
    return { tcp: tcp as TcpBinding, stream: stream as StreamBinding };
  } catch {
    return undefined;
  }
}

const bindings = loadBindings();

/** Which transport {@link openTcp} uses in this process (`BENCH_TCP=net` forces `node:net`). */
export const tcpTransport: TcpTransport = bindings === undefined ? "net" : "tcp_wrap";

function errorName(status: number): string {
  try {
    return getSystemErrorName(status);
  } catch {
    return `error ${status}`;
  }
}

function ignore(): void {}

/** A connection on the bare libuv handle. */
class HandleConn implements TcpConnection {
  private closed = false;

  constructor(
    private readonly b: { tcp: TcpBinding; stream: StreamBinding },
    private readonly handle: StreamBase,
    private readonly readBuffer: Buffer,
    private readonly on: TcpHandlers,
  ) {}

  open(host: string, port: number): void {
    const handle = this.handle;
    handle.owner = this;
    handle.useUserBuffer(this.readBuffer);
    handle.onread = onHandleRead;
    const req = new this.b.tcp.TCPConnectWrap();
    req.address = host;
    req.port = port;
    req.oncomplete = (status) => {
      if (this.closed) return;
      if (status < 0) {
        this.end(`connect ${errorName(status)} ${host}:${port}`);
        return;
      }
      handle.setNoDelay(true);
      const err = handle.readStart();
      if (err < 0) this.end(`read ${errorName(err)}`);
      else this.on.connected();
    };
    const err = handle.connect(req, host, port);
    // Reported like an asynchronous failure: the owner is still setting up.
    if (err < 0) queueMicrotask(() => this.end(`connect ${errorName(err)} ${host}:${port}`));
  }

  /** The handle's read callback (`this` is the handle). */
  read(): void {
    const nread = this.b.stream.streamBaseState[this.b.stream.kReadBytesOrError]!;
    if (this.closed) return;
    if (nread > 0) this.on.data(this.readBuffer, nread);
    else if (nread === UV_EOF) this.end(undefined);
    else if (nread < 0) this.end(`read ${errorName(nread)}`);
  }

  write(data: Buffer | string): void {
    if (this.closed) return;
    const req = new this.b.stream.WriteWrap();
    req.handle = this.handle;
    req.async = false;
    req.oncomplete = ignore;
    let err: number;
    if (typeof data === "string") err = this.handle.writeLatin1String(req, data);
    else {
      // Kept alive by the request should libuv finish the write later.
      req.buffer = data;
      err = this.handle.writeBuffer(req, data);
    }
    if (err < 0) this.end(`write ${errorName(err)}`);
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle.onread = ignore;
    this.handle.close();
  }

  private end(reason: string | undefined): void {
    if (this.closed) return;
    this.destroy();
    this.on.ended(reason);
  }
}

function onHandleRead(this: StreamBase): void {
  this.owner?.read();
}

/** The same over `node:net`. */
function openNet(host: string, port: number, readBuffer: Buffer, on: TcpHandlers): TcpConnection {
  let closed = false;
  const end = (reason: string | undefined) => {
    if (closed) return;
    closed = true;
    socket.destroy();
    on.ended(reason);
  };
  const socket = connect({
    host,
    port,
    noDelay: true,
    onread: {
      buffer: readBuffer,
      callback: (nread: number, buf: Uint8Array): boolean => {
        if (!closed) on.data(buf as Buffer, nread);
        return true;
      },
    },
  });
  socket.on("connect", () => {
    if (!closed) on.connected();
  });
  socket.on("error", (err) => end(err.message));
  socket.on("close", () => end(undefined));
  return {
    write: (data) => {
      if (closed) return;
      if (typeof data === "string") socket.write(data, "latin1");
      else socket.write(data);
    },
    destroy: () => {
      closed = true;
      socket.destroy();
    },
  };
}

/**
 * Opens a TCP connection to `host:port` (an IP address). Strings are
 * written as latin1: the generator's handshakes are ASCII.
 */
export function openTcp(
  host: string,
  port: number,
  readBuffer: Buffer,
  on: TcpHandlers,
): TcpConnection {
  if (bindings === undefined) return openNet(host, port, readBuffer, on);
  const conn = new HandleConn(
    bindings,
    new bindings.tcp.TCP(bindings.tcp.constants.SOCKET),
    readBuffer,
    on,
  );
  conn.open(host, port);
  return conn;
}
