import { readFileSync } from "node:fs";
import { nkeys } from "@nats-io/transport-node";
import { NatsOptionsError } from "./errors.js";

/** Milliseconds between two connection attempts to the same server (nats.js `reconnectTimeWait`). */
export const DEFAULT_RECONNECT_TIME_WAIT_MS = 2000;
/**
 * Upper bound of a random delay added to each wait (nats.js `reconnectJitter`,
 * also used for TLS): spreads the reconnects of a whole fleet of edge nodes
 * after a NATS server restarts.
 */
export const DEFAULT_RECONNECT_JITTER_MS = 500;
/** `-1`: never give up on the cluster. */
export const DEFAULT_MAX_RECONNECT_ATTEMPTS = -1;
/**
 * Client PINGs: with nats.js's 2 outstanding pings, a half-open connection is
 * noticed within about 2-3 intervals (nats.js's own default is 2 minutes).
 */
export const DEFAULT_PING_INTERVAL_MS = 20_000;
/** Bound on one connection handshake (nats.js `timeout`, 20 s by default there). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/** TLS material, as paths of PEM files (read by nats.js on each connection). */
export interface NatsTlsFiles {
  /** CA certificate(s) that signed the servers' certificates. @default undefined (system CAs) */
  readonly ca?: string;
  /** Client certificate, with `key`. @default undefined */
  readonly cert?: string;
  /** Client private key, with `cert`. @default undefined */
  readonly key?: string;
}

/**
 * How a `NatsBus` connects. At most one kind of credentials: `token`,
 * `user` + `password`, `nkeySeed` or `credsFile`.
 */
export interface NatsBusOptions {
  /** URLs of the servers of one NATS cluster (`nats://host:port`, `tls://host:port`). */
  readonly servers: readonly string[];
  /** Connection name shown by the server's monitoring (e.g. the node id). @default undefined */
  readonly name?: string;
  /** Token authentication. @default undefined */
  readonly token?: string;
  /** User name, with `password`. @default undefined */
  readonly user?: string;
  /** Password, with `user`. @default undefined */
  readonly password?: string;
  /** An NKey user seed (`SU...`). @default undefined */
  readonly nkeySeed?: string;
  /** Path of a `.creds` file (user JWT + seed), read again on every connection. @default undefined */
  readonly credsFile?: string;
  /** TLS files; set (even empty) to require TLS. @default undefined (TLS only for `tls://` URLs) */
  readonly tls?: NatsTlsFiles;
  /** @default DEFAULT_RECONNECT_TIME_WAIT_MS (2000) */
  readonly reconnectTimeWaitMs?: number;
  /** @default DEFAULT_RECONNECT_JITTER_MS (500) */
  readonly reconnectJitterMs?: number;
  /**
   * Attempts per server after the connection was lost, `-1` for no limit.
   * Before the first connection the bus retries without limit (nats.js
   * `waitOnFirstConnect` semantics). When exhausted the bus is `"closed"`.
   * @default DEFAULT_MAX_RECONNECT_ATTEMPTS (-1)
   */
  readonly maxReconnectAttempts?: number;
  /** @default DEFAULT_PING_INTERVAL_MS (20000) */
  readonly pingIntervalMs?: number;
  /** @default DEFAULT_CONNECT_TIMEOUT_MS (5000) */
  readonly connectTimeoutMs?: number;
  /**
   * Try `servers` in the order given instead of a random order (e.g. to
   * prefer a node-local server).
   * @default false
   */
  readonly noRandomize?: boolean;
}

/** {@link NatsBusOptions} after validation, with every default filled in. */
export interface ResolvedNatsBusOptions extends Readonly<
  Required<
    Pick<
      NatsBusOptions,
      | "reconnectTimeWaitMs"
      | "reconnectJitterMs"
      | "maxReconnectAttempts"
      | "pingIntervalMs"
      | "connectTimeoutMs"
      | "noRandomize"
    >
  >
> {
  readonly servers: readonly string[];
  readonly name: string | undefined;
  readonly token: string | undefined;
  readonly user: string | undefined;
  readonly password: string | undefined;
  readonly nkeySeed: string | undefined;
  readonly credsFile: string | undefined;
  readonly tls: Readonly<NatsTlsFiles> | undefined;
}

/**
 * The edge's `NatsConfig` (see `packages/edge/src/config.ts`), restated here
 * so that this package does not depend on the edge.
 */
export interface NatsConfigLike {
  readonly servers: readonly string[];
  readonly token?: string;
  readonly user?: string;
  readonly password?: string;
  readonly nkeySeed?: string;
  readonly credsFile?: string;
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string };
}

/** Maps the edge's NATS configuration to bus options (validated later, by `NatsBus.start`). */
export function natsBusOptionsFromConfig(config: NatsConfigLike): NatsBusOptions {
  const tls = config.tls && definedOnly({ ...config.tls });
  return definedOnly({
    servers: [...config.servers],
    token: config.token,
    user: config.user,
    password: config.password,
    nkeySeed: config.nkeySeed,
    credsFile: config.credsFile,
    tls,
  }) as NatsBusOptions;
}

/**
 * Validates `options` and returns them frozen with defaults filled in.
 * Throws {@link NatsOptionsError} naming every bad field. Checks that the
 * creds and TLS files are readable now, so that a typo fails at start rather
 * than as an endless series of failed connections.
 */
export function parseNatsBusOptions(options: NatsBusOptions): ResolvedNatsBusOptions {
  // Hand-rolled checks: this package has no schema library dependency (yet).
  const reasons: string[] = [];
  const o = options as Partial<NatsBusOptions> | undefined;
  if (typeof o !== "object" || o === null) {
    throw new NatsOptionsError(["options: expected an object"]);
  }

  const servers = Array.isArray(o.servers) ? (o.servers as unknown[]) : undefined;
  if (servers === undefined || servers.length === 0) {
    reasons.push("servers: expected a non-empty list of NATS URLs");
  } else {
    servers.forEach((s, i) => {
      if (typeof s !== "string" || s.trim() === "" || /\s/.test(s)) {
        reasons.push(
          `servers[${i}]: expected a URL such as nats://host:4222 (got ${JSON.stringify(s)})`,
        );
      }
    });
  }

  const name = optionalString(o, "name", reasons);
  const token = optionalString(o, "token", reasons);
  const user = optionalString(o, "user", reasons);
  const password = optionalString(o, "password", reasons);
  const nkeySeed = optionalString(o, "nkeySeed", reasons);
  const credsFile = optionalString(o, "credsFile", reasons);

  const methods = [
    token !== undefined && "token",
    (user !== undefined || password !== undefined) && "user/password",
    nkeySeed !== undefined && "nkeySeed",
    credsFile !== undefined && "credsFile",
  ].filter(Boolean);
  if (methods.length > 1) {
    reasons.push(`credentials: use one of ${methods.join(", ")}, not several`);
  }
  if ((user === undefined) !== (password === undefined)) {
    reasons.push(
      `${user === undefined ? "user" : "password"}: required with ${user === undefined ? "password" : "user"}`,
    );
  }
  if (nkeySeed !== undefined && !isUserSeed(nkeySeed)) {
    reasons.push("nkeySeed: expected an NKey user seed (SU...)");
  }
  if (credsFile !== undefined) readable("credsFile", credsFile, reasons);

  let tls: NatsTlsFiles | undefined;
  if (o.tls !== undefined) {
    if (typeof o.tls !== "object" || o.tls === null) {
      reasons.push("tls: expected an object { ca?, cert?, key? }");
    } else {
      const t = o.tls as Record<string, unknown>;
      const files: Record<string, string> = {};
      for (const field of ["ca", "cert", "key"] as const) {
        const value = optionalString(t, field, reasons, "tls.");
        if (value !== undefined) {
          readable(`tls.${field}`, value, reasons);
          files[field] = value;
        }
      }
      if ((files["cert"] === undefined) !== (files["key"] === undefined)) {
        reasons.push(
          `tls.${files["cert"] === undefined ? "cert" : "key"}: required with tls.${files["cert"] === undefined ? "key" : "cert"}`,
        );
      }
      tls = Object.freeze(files);
    }
  }

  const resolved: ResolvedNatsBusOptions = {
    servers: Object.freeze([...((servers ?? []) as string[])]),
    name,
    token,
    user,
    password,
    nkeySeed,
    credsFile,
    tls,
    reconnectTimeWaitMs: integer(
      o,
      "reconnectTimeWaitMs",
      DEFAULT_RECONNECT_TIME_WAIT_MS,
      0,
      reasons,
    ),
    reconnectJitterMs: integer(o, "reconnectJitterMs", DEFAULT_RECONNECT_JITTER_MS, 0, reasons),
    maxReconnectAttempts: integer(
      o,
      "maxReconnectAttempts",
      DEFAULT_MAX_RECONNECT_ATTEMPTS,
      -1,
      reasons,
    ),
    pingIntervalMs: integer(o, "pingIntervalMs", DEFAULT_PING_INTERVAL_MS, 1, reasons),
    connectTimeoutMs: integer(o, "connectTimeoutMs", DEFAULT_CONNECT_TIMEOUT_MS, 1, reasons),
    noRandomize: boolean(o, "noRandomize", false, reasons),
  };
  if (reasons.length > 0) throw new NatsOptionsError(reasons);
  return Object.freeze(resolved);
}

function definedOnly<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function optionalString(
  o: object,
  field: string,
  reasons: string[],
  prefix = "",
): string | undefined {
  const value = (o as Record<string, unknown>)[field];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") {
    reasons.push(`${prefix}${field}: expected a non-empty string`);
    return undefined;
  }
  return value;
}

function integer(
  o: object,
  field: string,
  fallback: number,
  min: number,
  reasons: string[],
): number {
  const value = (o as Record<string, unknown>)[field];
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    reasons.push(`${field}: expected an integer >= ${min} (got ${JSON.stringify(value)})`);
    return fallback;
  }
  return value;
}

function boolean(o: object, field: string, fallback: boolean, reasons: string[]): boolean {
  const value = (o as Record<string, unknown>)[field];
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") {
    reasons.push(`${field}: expected true or false`);
    return fallback;
  }
  return value;
}

function readable(field: string, path: string, reasons: string[]): void {
  try {
    // Reading (not just access()) also catches a directory given as a file.
    readFileSync(path);
  } catch (err) {
    reasons.push(
      `${field}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
}

function isUserSeed(seed: string): boolean {
  try {
    return nkeys.fromSeed(new TextEncoder().encode(seed)).getPublicKey().startsWith("U");
  } catch {
    return false;
  }
}
