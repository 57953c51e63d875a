/** CORS settings for the HTTP long-polling transport. */
export interface CorsOptions {
  /** Allowed origins: `"*"`, one origin, or a list. @default undefined (no CORS headers) */
  origin?: string | readonly string[];
  /** Send `Access-Control-Allow-Credentials: true`. @default false */
  credentials?: boolean;
}

/** Engine.IO server options (the names follow engine.io's where they exist). */
export interface EngineOptions {
  /** URL path of the Engine.IO endpoint, with trailing slash. @default "/socket.io/" */
  path: string;
  /** How often the server pings, in ms. @default 25000 */
  pingInterval: number;
  /** How long the server waits for a pong after a ping, in ms. @default 20000 */
  pingTimeout: number;
  /** Largest message or polling body accepted, in bytes. @default 1000000 */
  maxPayload: number;
  /** How long a polling session may take to finish a WebSocket upgrade, in ms. @default 10000 */
  upgradeTimeout: number;
  /** Transports offered. @default ["polling", "websocket"] */
  transports: readonly ("polling" | "websocket")[];
  /** Whether polling sessions may upgrade to WebSocket. @default true */
  allowUpgrades: boolean;
  /**
   * Bytes a WebSocket may have queued before the slow-consumer policy applies:
   * volatile packets are dropped above half of it, and uWS closes the socket
   * beyond it. @default 1048576
   */
  maxBackpressure: number;
  /** CORS for polling requests. @default {} */
  cors: CorsOptions;
}

export const DEFAULT_ENGINE_OPTIONS: Readonly<EngineOptions> = Object.freeze({
  path: "/socket.io/",
  pingInterval: 25_000,
  pingTimeout: 20_000,
  maxPayload: 1_000_000,
  upgradeTimeout: 10_000,
  transports: Object.freeze(["polling", "websocket"] as const),
  allowUpgrades: true,
  maxBackpressure: 1024 * 1024,
  cors: Object.freeze({}),
});
