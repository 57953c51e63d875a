/** What the console shows of a JWT: its claims, decoded but NOT verified (the server verifies). */
export interface TokenClaims {
  sub?: string;
  tenant_id?: string;
  scope?: string;
  exp?: number;
}

/** The claims of a compact JWS, or undefined when `token` is not one. */
export function decodeClaims(token: string): TokenClaims | undefined {
  const part = token.trim().split(".")[1];
  if (part === undefined) return undefined;
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)), (c) =>
      c.charCodeAt(0),
    );
    const claims = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
    return typeof claims === "object" && claims !== null ? (claims as TokenClaims) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the claims carry the publish scope. */
export function canPublish(claims: TokenClaims | undefined): boolean {
  return typeof claims?.scope === "string" && claims.scope.split(" ").includes("rt:publish");
}

const TOKEN_KEY = "calcbridge.console.token";
const CONSOLE_TOKEN_KEY = "calcbridge.console.consoleToken";

/**
 * Tokens live in sessionStorage (this tab only). A token in the URL fragment
 * (`/console/#token=...`, as `start` prints it) is taken once and removed
 * from the address bar; fragments never reach the server.
 */
export function initialToken(): string {
  const params = new URLSearchParams(location.hash.replace(/^#\/?/, ""));
  const fromUrl = params.get("token");
  if (fromUrl !== null && fromUrl !== "") {
    storeToken(fromUrl);
    history.replaceState(null, "", location.pathname + location.search);
    return fromUrl;
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

export function storeToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function storedConsoleToken(): string {
  return sessionStorage.getItem(CONSOLE_TOKEN_KEY) ?? "";
}

export function storeConsoleToken(token: string): void {
  sessionStorage.setItem(CONSOLE_TOKEN_KEY, token);
}
