import { fromCompactTime, toCompactTime } from "../compact-time.js";
import type { Uws } from "../uws.js";
import type { CorsOptions } from "./options.js";

/** Separates names and values in {@link HandshakeInfo}'s header string. */
const SEP = "\n";

/**
 * What a handshake request said, copied out of uWS while it was valid.
 *
 * Kept compact because every connection holds one for its whole life and
 * most never look at it: the headers are one string and the query its raw
 * text, each parsed into an object on first use (and kept from then on).
 */
export class HandshakeInfo {
  private headerCache: Readonly<Record<string, string>> | undefined;
  private queryCache: Readonly<Record<string, string>> | undefined;

  constructor(
    /** `name\nvalue\nname\nvalue...` (names lower case, as uWS gives them). */
    private readonly rawHeaders: string,
    /** The query string, without `?`. */
    readonly rawQuery: string,
    /** The request path. */
    readonly path: string,
    /** The peer's address, or where to read it when first asked (see {@link AddressSource}). */
    private addr: string | AddressSource,
    readonly secure: boolean,
    /** When the handshake arrived (ms since epoch). */
    issued: number = Date.now(),
  ) {
    this.issuedSinceStart = toCompactTime(issued);
  }

  private readonly issuedSinceStart: number;

  /** When the handshake arrived (ms since epoch). */
  get issued(): number {
    return fromCompactTime(this.issuedSinceStart);
  }

  /** The peer's address (text, as uWS gives it). */
  get address(): string {
    if (typeof this.addr === "string") return this.addr;
    let text = "";
    try {
      text = this.addr.remoteAddress();
    } catch {
      // The socket is gone without its address having been kept: unknown.
    }
    return (this.addr = text);
  }

  /** Read the address now if it was not: its source is about to go away. */
  keepAddress(): void {
    if (typeof this.addr !== "string") void this.address;
  }

  /** @internal Read the address from `source` when it is first asked for. */
  addressFrom(source: AddressSource): void {
    if (typeof this.addr !== "string" || this.addr.length === 0) this.addr = source;
  }

  get headers(): Readonly<Record<string, string>> {
    if (this.headerCache !== undefined) return this.headerCache;
    const headers: Record<string, string> = Object.create(null) as Record<string, string>;
    const parts = this.rawHeaders.length === 0 ? [] : this.rawHeaders.split(SEP);
    for (let i = 0; i + 1 < parts.length; i += 2) headers[parts[i]!] = parts[i + 1]!;
    return (this.headerCache = headers);
  }

  get query(): Readonly<Record<string, string>> {
    return (this.queryCache ??= parseQuery(this.rawQuery));
  }

  get url(): string {
    return this.rawQuery.length > 0 ? `${this.path}?${this.rawQuery}` : this.path;
  }

  /** One header without parsing them all (`name` in lower case). */
  header(name: string): string | undefined {
    if (this.headerCache !== undefined) return this.headerCache[name];
    const raw = this.rawHeaders;
    let at = 0;
    while (at < raw.length) {
      const nameEnd = raw.indexOf(SEP, at);
      if (nameEnd < 0) return undefined;
      let valueEnd = raw.indexOf(SEP, nameEnd + 1);
      if (valueEnd < 0) valueEnd = raw.length;
      if (nameEnd - at === name.length && raw.startsWith(name, at))
        return raw.slice(nameEnd + 1, valueEnd);
      at = valueEnd + 1;
    }
    return undefined;
  }
}

/**
 * A query string as an object (the last value of a repeated name wins), as
 * URLSearchParams reads it. A query without escapes (`%`, `+`) is split by
 * hand: every Engine.IO handshake goes through here.
 */
export function parseQuery(rawQuery: string): Readonly<Record<string, string>> {
  const query: Record<string, string> = Object.create(null) as Record<string, string>;
  if (rawQuery.length === 0) return query;
  if (rawQuery.includes("%") || rawQuery.includes("+")) {
    for (const [key, value] of new URLSearchParams(rawQuery)) query[key] = value;
    return query;
  }
  for (const pair of rawQuery.split("&")) {
    if (pair.length === 0) continue;
    const eq = pair.indexOf("=");
    if (eq < 0) query[pair] = "";
    else query[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return query;
}

/**
 * Headers of a WebSocket upgrade that only serve the upgrade itself (the
 * single-use key, the version, hop-by-hop `upgrade`/`connection`, the
 * extension offer uWS answered): not kept for the connection's life.
 */
const UPGRADE_ONLY: ReadonlySet<string> = new Set([
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-extensions",
  "upgrade",
  "connection",
]);

/**
 * Where a WebSocket's address is read when first asked for: reading it from
 * uWS costs more than the rest of the handshake copy (an ArrayBuffer per
 * call), and most connections are never asked. The socket keeps it before
 * it closes ({@link HandshakeInfo.keepAddress}).
 */
export interface AddressSource {
  remoteAddress(): string;
}

const addressDecoder = new TextDecoder();

/** The text of a uWS remote address; connections from one proxy share one string. */
export function addressText(address: ArrayBuffer): string {
  const text = addressDecoder.decode(address);
  if (text !== lastAddress) lastAddress = text;
  return lastAddress;
}

/**
 * The last remote address and query seen: connections from one proxy, or
 * clients that all ask for `EIO=4&transport=websocket`, share one string.
 */
let lastAddress = "";
let lastQuery = "";

/**
 * Copies everything a session may need later out of a uWS request: the
 * request object is only valid inside its handler. `path` is the string to
 * keep when the request's path equals it (one shared string, not a copy per
 * connection); `upgrade` leaves out the headers that only serve a WebSocket
 * upgrade (read them from `req` in the upgrade handler), and the address
 * (see {@link AddressSource}).
 */
export function readHandshake(
  res: Uws.HttpResponse,
  req: Uws.HttpRequest,
  secure: boolean,
  path?: string,
  upgrade = false,
): HandshakeInfo {
  const parts: string[] = [];
  // A value cannot hold a line feed (HTTP forbids it; uWS refuses it).
  req.forEach((key, value) => {
    if (!upgrade || !UPGRADE_ONLY.has(key)) parts.push(key, value);
  });
  const query = req.getQuery() ?? "";
  if (query !== lastQuery) lastQuery = query;
  // An upgrade's address is read from its WebSocket when first asked for.
  const address = upgrade ? "" : addressText(res.getRemoteAddressAsText());
  const url = req.getUrl();
  // join() makes one flat string: the pieces are not kept alive.
  return new HandshakeInfo(
    parts.join(SEP),
    lastQuery,
    path !== undefined && url === path ? path : url,
    address,
    secure,
  );
}

/** CORS response headers for a request from `origin`, or none. */
export function corsHeaders(
  cors: CorsOptions,
  origin: string | undefined,
): (readonly [string, string])[] {
  const allowed = cors.origin;
  if (allowed === undefined) return [];
  let value: string | undefined;
  if (allowed === "*") value = cors.credentials === true && origin ? origin : "*";
  else if (typeof allowed === "string") value = allowed;
  else if (origin !== undefined && allowed.includes(origin)) value = origin;
  if (value === undefined) return [];
  const headers: (readonly [string, string])[] = [["Access-Control-Allow-Origin", value]];
  if (value !== "*") headers.push(["Vary", "Origin"]);
  if (cors.credentials === true) headers.push(["Access-Control-Allow-Credentials", "true"]);
  return headers;
}
