import type { Uws } from "../uws.js";
import type { CorsOptions } from "./options.js";
import type { HandshakeInfo } from "./session.js";

/**
 * Copies everything a session may need later out of a uWS request: the
 * request object is only valid inside its handler.
 */
export function readHandshake(
  res: Uws.HttpResponse,
  req: Uws.HttpRequest,
  secure: boolean,
): HandshakeInfo {
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  req.forEach((key, value) => {
    headers[key] = value;
  });
  const rawQuery = req.getQuery() ?? "";
  const query: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [key, value] of new URLSearchParams(rawQuery)) query[key] = value;
  const address = Buffer.from(res.getRemoteAddressAsText()).toString();
  const url = rawQuery.length > 0 ? `${req.getUrl()}?${rawQuery}` : req.getUrl();
  return { headers, query, address, url, issued: Date.now(), secure };
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
