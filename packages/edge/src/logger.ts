import { pino, type DestinationStream, type Logger, type LoggerOptions } from "pino";

export type { Logger };

/**
 * Paths pino censors in every log line: tokens, secrets and credentials never
 * reach a log, whatever object carries them.
 */
export const REDACT_PATHS: readonly string[] = Object.freeze([
  "token",
  "*.token",
  "auth.token",
  "*.auth.token",
  "secret",
  "*.secret",
  "password",
  "*.password",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
  "query.token",
  "*.query.token",
  "handshake.auth",
  "*.handshake.auth",
  "nkeySeed",
  "*.nkeySeed",
]);

/** Removes a `token` query parameter from a URL before it is logged. */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:token|access_token)=)[^&#]*/gi, "$1[Redacted]");
}

/** The node's root logger: JSON lines with the node id on each. */
export function createLogger(
  options: { level?: string; nodeId: string },
  destination?: NodeJS.WritableStream,
): Logger {
  const config: LoggerOptions = {
    level: options.level ?? "info",
    base: { node: options.nodeId, pid: process.pid },
    redact: { paths: [...REDACT_PATHS], censor: "[Redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination === undefined ? pino(config) : pino(config, destination as DestinationStream);
}
