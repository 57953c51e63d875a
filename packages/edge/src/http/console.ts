import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, extname, join } from "node:path";
import { gzipSync } from "node:zlib";
import type { Logger } from "../logger.js";
import type { Uws } from "../uws.js";
import { attachConsoleApi, type ConsoleSource } from "./console-api.js";

/** Where the console is served. */
export const CONSOLE_PATH = "/console";

/** Content types of what a Vite build emits; anything else is served as bytes. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

/** Worth compressing: text of some size. */
const COMPRESSIBLE = /^(text\/|application\/json|image\/svg)/;
const MIN_GZIP_BYTES = 1024;

/**
 * The page loads only its own files and talks only to this origin (the
 * Socket.IO client, the raw WebSocket, the publish and console APIs).
 */
const HTML_HEADERS: readonly (readonly [string, string])[] = [
  [
    "Content-Security-Policy",
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; " +
      "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  ],
  ["X-Frame-Options", "DENY"],
  ["Referrer-Policy", "no-referrer"],
];

/** One file of the built console, ready to send. */
interface Asset {
  body: Buffer;
  gzip: Buffer | undefined;
  contentType: string;
  etag: string;
  cacheControl: string;
  headers: readonly (readonly [string, string])[];
}

/** Options of {@link attachConsole}. */
export interface ConsoleOptions {
  /**
   * Serve the console. Off, `/console` answers 404 (uWS would otherwise drop
   * the connection without an answer). @default true
   */
  enabled?: boolean;
  /**
   * The console credential: the overview API wants `Authorization: Bearer
   * <token>`. @default undefined (the overview is open: dev mode)
   */
  token?: string;
  /** The built console. @default the `dist-web` directory of `@calcbridge/console` */
  webRoot?: string;
  /** How long the overview waits for other nodes. @default DEFAULT_CONSOLE_CLUSTER_TIMEOUT_MS */
  clusterTimeoutMs?: number;
  /** Told when the console is not built. @default undefined */
  log?: Logger;
}

/** The `dist-web` directory of the `@calcbridge/console` package (built or not). */
export function consoleWebRoot(): string {
  const pkg = createRequire(import.meta.url).resolve("@calcbridge/console/package.json");
  return join(dirname(pkg), "dist-web");
}

/**
 * Every regular file under `root`, keyed by its URL path (`/index.html`,
 * `/assets/index-abc123.js`). Only these keys are ever served, so no request
 * path can reach outside `root`; symbolic links are not followed.
 */
export function loadConsoleAssets(root: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const walk = (dir: string, prefix: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const url = `${prefix}/${entry.name}`;
      if (entry.isDirectory()) walk(path, url);
      else if (entry.isFile()) assets.set(url, assetOf(url, readFileSync(path)));
    }
  };
  walk(root, "");
  return assets;
}

function assetOf(url: string, body: Buffer): Asset {
  const contentType = CONTENT_TYPES[extname(url).toLowerCase()] ?? "application/octet-stream";
  const isHtml = contentType.startsWith("text/html");
  const gzip =
    COMPRESSIBLE.test(contentType) && body.length >= MIN_GZIP_BYTES ? gzipSync(body) : undefined;
  return {
    body,
    gzip: gzip !== undefined && gzip.length < body.length ? gzip : undefined,
    contentType,
    etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`,
    // Vite names assets after their content hash: they never change. The page
    // itself is revalidated so that a new build is picked up at once.
    cacheControl: url.startsWith("/assets/") ? "public, max-age=31536000, immutable" : "no-cache",
    headers: isHtml ? HTML_HEADERS : [],
  };
}

/** The asset key of a request path under {@link CONSOLE_PATH}, or undefined. */
export function assetKeyOf(url: string): string | undefined {
  if (url !== CONSOLE_PATH && !url.startsWith(`${CONSOLE_PATH}/`)) return undefined;
  const rest = url.slice(CONSOLE_PATH.length);
  if (rest === "" || rest === "/") return "/index.html";
  let path: string;
  try {
    path = decodeURIComponent(rest);
  } catch {
    return undefined;
  }
  // The map lookup alone keeps requests inside the build; refusing dot
  // segments and backslashes early keeps the intent plain.
  if (path.includes("\\") || path.includes("\0") || path.split("/").some((s) => s === ".."))
    return undefined;
  return path;
}

/** `If-None-Match` matches the asset (a list, a weak form, or `*`). */
function fresh(ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch === "") return false;
  if (ifNoneMatch.trim() === "*") return true;
  return ifNoneMatch.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag);
}

function send(res: Uws.HttpResponse, asset: Asset, ifNoneMatch: string, gzipOk: boolean): void {
  res.cork(() => {
    if (fresh(ifNoneMatch, asset.etag)) {
      res.writeStatus("304 Not Modified");
      res.writeHeader("ETag", asset.etag);
      res.writeHeader("Cache-Control", asset.cacheControl);
      res.endWithoutBody();
      return;
    }
    res.writeStatus("200 OK");
    res.writeHeader("Content-Type", asset.contentType);
    res.writeHeader("ETag", asset.etag);
    res.writeHeader("Cache-Control", asset.cacheControl);
    res.writeHeader("X-Content-Type-Options", "nosniff");
    for (const [k, v] of asset.headers) res.writeHeader(k, v);
    if (asset.gzip !== undefined) res.writeHeader("Vary", "Accept-Encoding");
    if (asset.gzip !== undefined && gzipOk) {
      res.writeHeader("Content-Encoding", "gzip");
      res.end(asset.gzip);
    } else {
      res.end(asset.body);
    }
  });
}

function notFound(res: Uws.HttpResponse, text: string, status = "404 Not Found"): void {
  res.cork(() => {
    res.writeStatus(status);
    res.writeHeader("Content-Type", "text/plain; charset=utf-8");
    res.writeHeader("X-Content-Type-Options", "nosniff");
    res.end(text);
  });
}

/**
 * Serves the built-in web console under `/console` (the files of
 * `@calcbridge/console`'s `dist-web`, read once into memory) and its JSON API
 * under `/console/api`. Without a build, `/console` answers 503 saying how to
 * build it; the API works either way.
 */
export function attachConsole(
  app: Uws.TemplatedApp,
  source: ConsoleSource,
  options: ConsoleOptions = {},
): void {
  if (options.enabled === false) {
    const off = (res: Uws.HttpResponse) => notFound(res, "Not found: the console is off\n");
    app.get(CONSOLE_PATH, off);
    app.get(`${CONSOLE_PATH}/*`, off);
    return;
  }
  attachConsoleApi(app, source, options);
  const root = options.webRoot ?? consoleWebRoot();
  const assets = existsSync(join(root, "index.html")) ? loadConsoleAssets(root) : undefined;
  if (assets === undefined) {
    options.log?.warn({ root }, "the web console is not built: run `pnpm run build`");
  }
  const handler = (res: Uws.HttpResponse, req: Uws.HttpRequest) => {
    // Copy request data now: req is only valid in this callback.
    const url = req.getUrl();
    const ifNoneMatch = req.getHeader("if-none-match");
    const gzipOk = /\bgzip\b/i.test(req.getHeader("accept-encoding"));
    if (assets === undefined) {
      notFound(
        res,
        "The web console is not built: run `pnpm run build` (it builds @calcbridge/console).\n",
        "503 Service Unavailable",
      );
      return;
    }
    const key = assetKeyOf(url);
    const asset = key === undefined ? undefined : assets.get(key);
    if (asset === undefined) notFound(res, "Not found\n");
    else send(res, asset, ifNoneMatch, gzipOk);
  };
  app.get(CONSOLE_PATH, handler);
  app.get(`${CONSOLE_PATH}/*`, handler);
}
