import {
  destination as pinoDestination,
  pino,
  type DestinationStream,
  type Logger,
  type LoggerOptions,
} from "pino";

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

/**
 * The node's root logger: JSON lines with the node id on each, on stdout
 * unless `destination` is given. Stdout is written synchronously: pino's
 * default asynchronous stdout can reorder or lose the lines still in flight
 * when the process exits (the CLI exits right after its drain). The node
 * logs nothing per message above `debug`, so the blocking writes are few.
 */
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
  return pino(
    config,
    destination === undefined
      ? pinoDestination({ dest: 1, sync: true })
      : (destination as DestinationStream),
  );
}
