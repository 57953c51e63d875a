import WebSocket from "ws";

/** How long a garbage collection through the inspector may take, ms. */
const GC_TIMEOUT_MS = 30_000;

/** The inspector's WebSocket URL in a Node.js process's output (`--inspect=127.0.0.1:0`). */
export function inspectorUrl(output: string): string | undefined {
  return /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/.exec(output)?.[1];
}

/**
 * A full garbage collection in another Node.js process, through its
 * inspector (`HeapProfiler.collectGarbage`, twice: the second pass frees
 * what the first one's finalizers released). Memory figures read after it
 * count live objects, not garbage a busy process has not collected yet.
 */
export async function collectGarbage(url: string): Promise<void> {
  const ws = new WebSocket(url);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`inspector ${url}: no answer`)), 5000);
      ws.once("open", () => {
        clearTimeout(timer);
        resolve();
      });
      ws.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    let next = 1;
    const call = (method: string) =>
      new Promise<void>((resolve, reject) => {
        const id = next++;
        const timer = setTimeout(
          () => reject(new Error(`inspector ${method} took over ${GC_TIMEOUT_MS} ms`)),
          GC_TIMEOUT_MS,
        );
        const onMessage = (data: WebSocket.RawData) => {
          const msg = JSON.parse(data.toString()) as { id?: number; error?: { message: string } };
          if (msg.id !== id) return;
          ws.off("message", onMessage);
          clearTimeout(timer);
          if (msg.error !== undefined) reject(new Error(`${method}: ${msg.error.message}`));
          else resolve();
        };
        ws.on("message", onMessage);
        ws.send(JSON.stringify({ id, method }));
      });
    await call("HeapProfiler.collectGarbage");
    await call("HeapProfiler.collectGarbage");
  } finally {
    ws.close();
  }
}
