import { freePort } from "@calcbridge/testing";
import type { Child, ProcessSet } from "./proc.js";

export interface RedisHandle {
  url: string;
  port: number;
  child: Child;
}

/**
 * Our own redis-server on a free loopback port: no persistence, no
 * protected-mode surprises, nothing shared with the system's instance.
 */
export async function startRedis(procs: ProcessSet): Promise<RedisHandle> {
  const port = await freePort();
  const child = procs.spawn("redis-server", "redis-server", [
    "--bind",
    "127.0.0.1",
    "--port",
    String(port),
    "--save",
    "",
    "--appendonly",
    "no",
    "--protected-mode",
    "no",
    "--daemonize",
    "no",
  ]);
  await child.waitForLine(/Ready to accept connections/, 10_000);
  return { url: `redis://127.0.0.1:${port}`, port, child };
}
