/**
 * Helpers of the console tests: the built console, a real headless Chromium
 * (Debian's package, driven by playwright-core), `/metrics` scraping and
 * plain HTTP requests with the path sent exactly as written.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { consoleWebRoot } from "../../src/http/console.js";
import type { Teardown } from "../helpers.js";

/** Debian's `chromium` package; `CHROMIUM_PATH` overrides. */
export const CHROMIUM_PATH = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Throws, naming the fix, when the console has not been built. */
export function requireConsoleBuild(): string {
  const root = consoleWebRoot();
  if (!existsSync(join(root, "index.html"))) {
    throw new Error(
      `the web console is not built (${root}/index.html is missing): run \`pnpm run build\``,
    );
  }
  return root;
}

/**
 * A fresh headless Chromium profile (a new temporary user-data-dir), closed
 * and removed at teardown. Fails, never skips, when Chromium is missing.
 */
export async function launchChromium(t: Teardown): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium is not installed (no ${CHROMIUM_PATH}): the console's browser tests need it; ` +
        "run `apt-get update && apt-get install -y chromium` (never `npx playwright install`)",
    );
  }
  const userDataDir = mkdtempSync(join(tmpdir(), "calcbridge-chromium-"));
  t.teardown(() => rmSync(userDataDir, { recursive: true, force: true }));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1440, height: 900 },
  });
  t.teardown(() => context.close());
  return context;
}

/** `packages/console/screenshots/`, created if needed. */
export function screenshotDir(): string {
  const dir = join(consoleWebRoot(), "..", "screenshots");
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** The sum of every sample of `name` (all label sets) in a Prometheus text exposition. */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== "{" && rest[0] !== " ") continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

/** `GET /metrics` as text. */
export async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, {
    headers: { connection: "close" },
    signal: AbortSignal.timeout(3000),
  });
  return res.text();
}

export interface RawHttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * A GET with `path` sent byte for byte (fetch would normalise `..` away), so
 * that traversal attempts reach the server as an attacker writes them.
 */
export function rawGet(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<RawHttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "GET",
        agent: false,
        headers: { connection: "close", ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
      },
    );
    req.setTimeout(3000, () => req.destroy(new Error(`GET ${path}: no answer within 3000 ms`)));
    req.on("error", reject);
    req.end();
  });
}
