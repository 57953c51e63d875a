import type { ConsoleInfo, Overview } from "./types";

/** What `POST /v1/publish` answered. */
export interface PublishAnswer {
  status: number;
  accepted?: number;
  /** The API's reasons for a refusal (400/401/403/413/415/503). */
  reasons: string[];
}

/** Publish one event through the HTTP publish API with the user's own token. */
export async function publish(token: string, event: unknown): Promise<PublishAnswer> {
  const res = await fetch("/v1/publish", {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(event),
  });
  let body: { accepted?: number; reasons?: unknown } = {};
  try {
    body = (await res.json()) as typeof body;
  } catch {
    // A proxy's HTML error page, say: the status still tells.
  }
  const reasons = Array.isArray(body.reasons) ? body.reasons.map(String) : [];
  return {
    status: res.status,
    ...(typeof body.accepted === "number" ? { accepted: body.accepted } : {}),
    reasons,
  };
}

/** A refusal of the console API. */
export class ConsoleApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function getJson<T>(path: string, consoleToken?: string): Promise<T> {
  const headers: Record<string, string> = {};
  if (consoleToken) headers["authorization"] = `Bearer ${consoleToken}`;
  const res = await fetch(path, { headers, cache: "no-store" });
  if (!res.ok) {
    let reason = res.statusText;
    try {
      const body = (await res.json()) as { reasons?: string[] };
      reason = body.reasons?.join("; ") ?? reason;
    } catch {
      // Keep the status text.
    }
    throw new ConsoleApiError(res.status, reason);
  }
  return (await res.json()) as T;
}

export const fetchInfo = (): Promise<ConsoleInfo> => getJson("/console/api/info");

export const fetchOverview = (consoleToken: string): Promise<Overview> =>
  getJson("/console/api/overview", consoleToken);
