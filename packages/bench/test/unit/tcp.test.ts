import { spawnSync } from "node:child_process";
import { createServer, type Server, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import t from "tap";
import { delay, waitFor } from "@calcbridge/testing";
import { openTcp, tcpTransport, type TcpConnection } from "../../src/client/tcp.js";

// The generator's TCP layer against a real node:net server on loopback: the
// bytes both ways, the peer's close, a refused connect and a destroy that
// stays silent. The same checks run over the libuv handle (this process)
// and over node:net (a child with BENCH_TCP=net).

interface Seen {
  connected: number;
  data: string;
  ended: (string | undefined)[];
}

function listen(onSocket: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer(onSocket);
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      resolve({ server, port: typeof addr === "object" && addr !== null ? addr.port : 0 });
    });
  });
}

function watch(port: number, buf: Buffer): { conn: TcpConnection; seen: Seen } {
  const seen: Seen = { connected: 0, data: "", ended: [] };
  const conn = openTcp("127.0.0.1", port, buf, {
    connected: () => {
      seen.connected++;
    },
    data: (b, n) => {
      seen.data += b.toString("latin1", 0, n);
    },
    ended: (reason) => {
      seen.ended.push(reason);
    },
  });
  return { conn, seen };
}

t.test("this Node.js exposes the libuv TCP handle, so the generator uses it", (t) => {
  t.equal(tcpTransport, process.env["BENCH_TCP"] === "net" ? "net" : "tcp_wrap");
  t.end();
});

t.test(
  "strings and buffers go out, the answer comes back, the peer's close ends it once",
  async (t) => {
    const { server, port } = await listen((s) => {
      let got = "";
      s.on("data", (d: Buffer) => {
        got += d.toString("latin1");
        if (got.endsWith("|end")) s.end(Buffer.from(`echo:${got}`, "latin1"));
      });
    });
    t.teardown(() => server.close());
    const buf = Buffer.alloc(64);
    const { conn, seen } = watch(port, buf);
    await waitFor(() => seen.connected === 1, { message: "connected" });
    conn.write("héllo ");
    conn.write(Buffer.from("world|end", "latin1"));
    await waitFor(() => seen.ended.length > 0, { message: "the server's close" });
    t.equal(seen.data, "echo:héllo world|end", "latin1 both ways, across a small shared buffer");
    t.same(seen.ended, [undefined], "ended once, as a close");
    conn.write("after the end");
    conn.destroy();
    t.same(seen.ended, [undefined], "nothing after the end");
  },
);

t.test("a refused connect ends with the reason", async (t) => {
  const { server, port } = await listen(() => {});
  await new Promise<void>((r) => server.close(() => r()));
  const { seen } = watch(port, Buffer.alloc(64));
  await waitFor(() => seen.ended.length > 0, { message: "the refusal" });
  t.equal(seen.connected, 0);
  t.equal(seen.ended.length, 1);
  t.match(seen.ended[0], /ECONNREFUSED/);
});

t.test("destroy closes the connection and calls nothing", async (t) => {
  let peerClosed = false;
  const { server, port } = await listen((s) => {
    s.on("close", () => (peerClosed = true));
    s.write("hi");
  });
  t.teardown(() => server.close());
  const { conn, seen } = watch(port, Buffer.alloc(64));
  await waitFor(() => seen.data === "hi", { message: "the first bytes" });
  conn.destroy();
  await waitFor(() => peerClosed, { message: "the server seeing the close" });
  await delay(50);
  t.same(seen.ended, [], "no ended after destroy");
});

t.test("the same checks pass over node:net (BENCH_TCP=net)", { timeout: 60_000 }, (t) => {
  if (process.env["BENCH_TCP"] === "net") {
    t.equal(tcpTransport, "net", "the fallback is in use here");
    t.end();
    return;
  }
  const self = fileURLToPath(import.meta.url);
  const run = spawnSync(process.execPath, [self], {
    env: { ...process.env, BENCH_TCP: "net" },
    encoding: "utf8",
    timeout: 55_000,
  });
  t.equal(
    run.status,
    0,
    run.status === 0 ? "the child passed" : `${run.stdout.slice(-3000)}${run.stderr}`,
  );
  t.equal(run.stdout.match(/^ok \d+ - /gm)?.length, 5, "the child ran all five checks");
  t.notMatch(run.stdout, /^not ok/m);
  t.end();
});
