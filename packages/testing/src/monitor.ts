/**
 * Reads of nats-server's HTTP monitoring endpoints (`-m <port>`), used to
 * prove what a server knows: routes, and which subjects local clients are
 * subscribed to (interest-based routing).
 */

/** GET `monitorUrl + path` and parse the JSON body. */
export async function monitorJson<T = unknown>(
  monitorUrl: string,
  path: string,
  timeoutMs = 2000,
): Promise<T> {
  const res = await fetch(new URL(path, monitorUrl), { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${path} on ${monitorUrl}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

interface Routez {
  num_routes: number;
  routes?: { remote_id: string }[];
}

/** Distinct servers this server has a route to (`/routez`). */
export async function routeCount(monitorUrl: string): Promise<number> {
  const routez = await monitorJson<Routez>(monitorUrl, "/routez");
  return new Set((routez.routes ?? []).map((route) => route.remote_id)).size;
}

interface Connz {
  connections?: { subscriptions_list?: string[] }[];
}

/**
 * Subscriptions held by this server's own client connections (`/connz?subs=1`,
 * so routes and the system account do not count). With `subject`, only those
 * that a message published to `subject` would reach: the subject itself or a
 * wildcard pattern that matches it.
 */
export async function subscriptionCount(monitorUrl: string, subject?: string): Promise<number> {
  const connz = await monitorJson<Connz>(monitorUrl, "/connz?subs=1&limit=100000");
  let count = 0;
  for (const conn of connz.connections ?? []) {
    for (const pattern of conn.subscriptions_list ?? []) {
      if (subject === undefined || pattern === subject || subjectMatches(pattern, subject)) {
        count += 1;
      }
    }
  }
  return count;
}

/** Whether NATS subscription `pattern` (with `*` and `>`) matches literal `subject`. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    const token = p[i];
    if (token === ">") return s.length > i;
    if (i >= s.length) return false;
    if (token !== "*" && token !== s[i]) return false;
  }
  return p.length === s.length;
}
