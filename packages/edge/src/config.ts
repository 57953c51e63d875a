import { createPublicKey, randomBytes } from "node:crypto";
import { accessSync, constants } from "node:fs";
import { hostname } from "node:os";
import { z } from "zod";
import { EdgeError } from "./errors.js";

/** Listening port of HTTP, WebSocket and (unless `METRICS_PORT`) `/metrics`. */
export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = "0.0.0.0";
export const DEFAULT_LOG_LEVEL = "info";
/** Seconds of clock skew allowed when checking `exp` and `nbf`. */
export const DEFAULT_JWT_CLOCK_TOLERANCE_SEC = 5;
export const DEFAULT_DRAIN_SECONDS = 10;
export const DEFAULT_HISTORY_MAX_AGE_SECONDS = 300;
export const DEFAULT_HISTORY_MAX_PER_ROOM = 1000;
export const DEFAULT_HISTORY_MAX_BYTES = 64 * 1024 * 1024;
export const DEFAULT_RECOVERY_MAX_DISCONNECTION_SECONDS = 120;
/** Engine.IO `pingInterval`, as Socket.IO's default. */
export const DEFAULT_PING_INTERVAL_MS = 25_000;
/** Engine.IO `pingTimeout`, as Socket.IO's default. */
export const DEFAULT_PING_TIMEOUT_MS = 20_000;
/** Engine.IO `maxPayload` and uWS `maxPayloadLength`, as Socket.IO's default (1e6). */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1_000_000;
/** uWS `maxBackpressure` per socket: 1 MiB. */
export const DEFAULT_MAX_BACKPRESSURE_BYTES = 1024 * 1024;
/**
 * Rooms one socket may be in. uWS topics are cheap; the limit bounds what one
 * client can make a node (and its NATS interest) hold.
 */
export const DEFAULT_MAX_ROOMS_PER_SOCKET = 1000;

/** pino's levels, plus `silent`. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Minimum HS256 secret length, in bytes (RFC 7518 §3.2: at least the hash size). */
export const MIN_SECRET_BYTES = 32;

/** Minimum length of `CONSOLE_TOKEN`, in bytes. */
export const MIN_CONSOLE_TOKEN_BYTES = 16;

/** Connection settings of the NATS cluster (present only when `NATS_URL` is set). */
export interface NatsConfig {
  /** Server URLs (`nats://` or `tls://`), in the order given. */
  readonly servers: readonly string[];
  /** @default undefined */
  readonly token?: string;
  /** @default undefined */
  readonly user?: string;
  /** @default undefined */
  readonly password?: string;
  /** An NKey user seed (`SU...`). @default undefined */
  readonly nkeySeed?: string;
  /** Path of a `.creds` file (JWT + seed). @default undefined */
  readonly credsFile?: string;
  /** Paths of PEM files for TLS. @default undefined */
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string };
}

/** Token verification settings; `createTokenVerifier` takes them (plus a dev secret in dev mode). */
export interface AuthConfig {
  /** HS256 shared secret, at least 32 bytes. @default undefined */
  readonly secret?: string;
  /** PEM public key (RS256/ES256/EdDSA, detected from the key). @default undefined */
  readonly publicKey?: string;
  /** JWKS endpoint. @default undefined */
  readonly jwksUrl?: string;
  /** Required `iss`. @default undefined (not checked) */
  readonly issuer?: string;
  /** Accepted `aud` values (any one). @default undefined (not checked) */
  readonly audience?: readonly string[];
  /** @default DEFAULT_JWT_CLOCK_TOLERANCE_SEC */
  readonly clockToleranceSec: number;
}

/** Event history settings (HISTORY_*). */
export interface HistoryConfig {
  /** @default "memory" without NATS_URL, "jetstream" with it */
  readonly mode: "memory" | "jetstream" | "off";
  /** @default 300000 */
  readonly maxAgeMs: number;
  /** @default DEFAULT_HISTORY_MAX_PER_ROOM (1000) */
  readonly maxPerRoom: number;
  /** @default DEFAULT_HISTORY_MAX_BYTES (64 MiB) */
  readonly maxBytes: number;
  /** @default "CALCBRIDGE_EVENTS" */
  readonly stream: string;
  /** @default 1 */
  readonly replicas: number;
  /** @default true */
  readonly manageStream: boolean;
}

/** The edge node's configuration, parsed from the environment by {@link parseConfig}. */
export interface EdgeConfig {
  /** @default DEFAULT_PORT (8080) */
  readonly port: number;
  /** @default DEFAULT_HOST ("0.0.0.0") */
  readonly host: string;
  /** Names this node in logs, metrics and the cluster. @default `<hostname>-<6 hex digits>` */
  readonly nodeId: string;
  /** @default DEFAULT_LOG_LEVEL ("info") */
  readonly logLevel: LogLevel;
  /** `NODE_ENV` is `production`: no dev mode. @default false */
  readonly production: boolean;
  /** @default { clockToleranceSec: 5 } (no key: dev mode) */
  readonly auth: AuthConfig;
  /**
   * No JWT key is configured: the `start` command generates a secret and
   * prints a token. Never true in production.
   * @default true when none of JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_URL is set
   */
  readonly devMode: boolean;
  /** @default undefined (embedded in-process bus) */
  readonly nats: NatsConfig | undefined;
  /** @default undefined (`/metrics` on `port`) */
  readonly metricsPort: number | undefined;
  /** Seconds a draining node waits for clients to leave before closing them with 1001. @default DEFAULT_DRAIN_SECONDS (10) */
  readonly drainSeconds: number;
  /** @default DEFAULT_PING_INTERVAL_MS (25000) */
  readonly pingIntervalMs: number;
  /** @default DEFAULT_PING_TIMEOUT_MS (20000) */
  readonly pingTimeoutMs: number;
  /** @default DEFAULT_MAX_PAYLOAD_BYTES (1000000) */
  readonly maxPayloadBytes: number;
  /** @default DEFAULT_MAX_BACKPRESSURE_BYTES (1048576) */
  readonly maxBackpressureBytes: number;
  /** @default DEFAULT_MAX_ROOMS_PER_SOCKET (1000) */
  readonly maxRoomsPerSocket: number;
  /** Allowed CORS origins: `"*"` or a list; `undefined` sends no CORS headers. @default undefined */
  readonly corsOrigin: "*" | readonly string[] | undefined;
  /** Start even if uWebSockets.js fell back to its pure-JS implementation. @default false */
  readonly allowUwsFallback: boolean;
  /** Event history for recovery. @default mode memory (embedded) or jetstream (NATS) */
  readonly history: HistoryConfig;
  /** How long a disconnected Socket.IO session can be recovered, in ms. @default 120000 */
  readonly recoveryMaxDisconnectionMs: number;
  /** Serve the built-in web console (the `start` command also serves it in dev mode). @default false */
  readonly consoleEnabled: boolean;
  /**
   * The console's credential: its overview API wants `Authorization: Bearer
   * <token>`. Required with `consoleEnabled` in production. @default undefined
   */
  readonly consoleToken?: string;
}

/**
 * A configuration that cannot be used. `reasons` has one entry per problem,
 * each naming the variable (or option), what is wrong and how to fix it.
 */
export class ConfigError extends EdgeError {
  override name = "ConfigError";
  declare readonly code: "ERR_CONFIG";
  readonly reasons: readonly string[];

  constructor(reasons: readonly string[], options?: { cause?: unknown }) {
    super(
      "ERR_CONFIG",
      reasons.length === 1
        ? String(reasons[0])
        : `invalid configuration:\n${reasons.map((r) => `  - ${r}`).join("\n")}`,
      options,
    );
    this.reasons = Object.freeze([...reasons]);
  }
}

// ---------------------------------------------------------------------------
// Value schemas. Each takes the raw (non-empty, trimmed) variable text; the
// message of a failure comes from the table entry, not from zod.

const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^[+-]?\d+$/)
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const decimal = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+(\.\d+)?$/)
    .transform(Number)
    .pipe(z.number().min(min).max(max));

const boolean = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");

const nonEmpty = z.string().min(1);

/** Splits a comma-separated list, dropping empty items. */
const list = (text: string): string[] =>
  text
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

const isUrl = (text: string, protocols: readonly string[]): boolean => {
  try {
    const url = new URL(text);
    return protocols.includes(url.protocol) && url.hostname.length > 0;
  } catch {
    return false;
  }
};

const natsUrls = z
  .string()
  .transform(list)
  .pipe(z.array(z.string().refine((u) => isUrl(u, ["nats:", "tls:"]))).min(1));

const httpUrl = z.string().refine((u) => isUrl(u, ["http:", "https:"]));

/** An origin exactly as browsers send it: scheme://host[:port], no path. */
const origin = z.string().transform((text, ctx) => {
  const trimmed = text.replace(/\/$/, "");
  try {
    const url = new URL(trimmed);
    if ((url.protocol === "http:" || url.protocol === "https:") && url.origin === trimmed) {
      return trimmed;
    }
  } catch {
    // fall through
  }
  ctx.addIssue({ code: "custom", message: "not an origin" });
  return z.NEVER;
});

const corsOrigins = z
  .string()
  .transform(list)
  .pipe(z.union([z.tuple([z.literal("*")]).transform(() => "*" as const), z.array(origin).min(1)]));

/** `\n` escapes become newlines, so a PEM fits on one line of a `.env` file. */
const pemPublicKey = z
  .string()
  .transform((text) => text.replace(/\\n/g, "\n").trim())
  .refine((pem) => {
    if (!/^-----BEGIN (PUBLIC KEY|RSA PUBLIC KEY|CERTIFICATE)-----/.test(pem)) return false;
    try {
      return createPublicKey(pem).type === "public";
    } catch {
      return false;
    }
  });

const readableFile = nonEmpty.refine((path) => {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
});

const secretOfMinLength = z.string().refine((s) => Buffer.byteLength(s) >= MIN_SECRET_BYTES);

const defaultNodeId = (): string =>
  `${
    hostname()
      .replace(/[^A-Za-z0-9_-]/g, "-")
      .slice(0, 48) || "edge"
  }-${randomBytes(3).toString("hex")}`;

// ---------------------------------------------------------------------------
// The table: every environment variable, the option it sets, its default, its
// documentation and how to tell the operator it is wrong.

interface EnvVar<T> {
  /** Dotted path of the `EdgeConfig` field it sets, for the docs. */
  readonly option: string;
  readonly schema: z.ZodType<T, string>;
  /** The default as the docs show it; `undefined`: unset means off or none. */
  readonly default: string | undefined;
  readonly description: string;
  /** Completes "<NAME> must be ...". */
  readonly expect: string;
  /** Completes "set <NAME>=...". */
  readonly example: string;
  /** Never echo the value in an error. */
  readonly secret?: boolean;
}

const envVar = <T>(spec: EnvVar<T>): EnvVar<T> => spec;

const VARS = {
  PORT: envVar({
    option: "port",
    schema: integer(0, 65535),
    default: String(DEFAULT_PORT),
    description: "Port of HTTP, WebSocket and, unless METRICS_PORT is set, /metrics (0: any)",
    expect: "an integer from 0 to 65535",
    example: String(DEFAULT_PORT),
  }),
  HOST: envVar({
    option: "host",
    schema: z.string().regex(/^[^\s/]+$/),
    default: DEFAULT_HOST,
    description: "Address to listen on",
    expect: "an IP address or host name",
    example: DEFAULT_HOST,
  }),
  NODE_ID: envVar({
    option: "nodeId",
    schema: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
    default: "<hostname>-<random>",
    description: "This node's name in logs, metrics and the cluster",
    expect: "1 to 64 letters, digits, '-' or '_'",
    example: "edge-1",
  }),
  LOG_LEVEL: envVar({
    option: "logLevel",
    schema: z.enum(LOG_LEVELS),
    default: DEFAULT_LOG_LEVEL,
    description: "Minimum log level (pino)",
    expect: `one of ${LOG_LEVELS.join(", ")}`,
    example: DEFAULT_LOG_LEVEL,
  }),
  NODE_ENV: envVar({
    option: "production",
    schema: z.string().transform((v) => v === "production"),
    default: undefined,
    description: "production: refuse to start without a JWT key (no dev mode)",
    expect: "a string",
    example: "production",
  }),
  JWT_SECRET: envVar({
    option: "auth.secret",
    schema: secretOfMinLength,
    default: undefined,
    description: `HS256 shared secret, at least ${MIN_SECRET_BYTES} bytes (one of the JWT_* keys)`,
    expect: `at least ${MIN_SECRET_BYTES} bytes long`,
    example: '"$(openssl rand -base64 48)"',
    secret: true,
  }),
  JWT_PUBLIC_KEY: envVar({
    option: "auth.publicKey",
    schema: pemPublicKey,
    default: undefined,
    description: "PEM public key for RS256/ES256/EdDSA tokens; \\n escapes allowed",
    expect: 'a PEM public key ("-----BEGIN PUBLIC KEY-----...", not a private key)',
    example: '"$(cat jwt-public.pem)"',
  }),
  JWT_JWKS_URL: envVar({
    option: "auth.jwksUrl",
    schema: httpUrl,
    default: undefined,
    description: "JWKS endpoint of the token issuer (keys cached, refetched on unknown kid)",
    expect: "an http:// or https:// URL",
    example: "https://auth.example.com/.well-known/jwks.json",
  }),
  JWT_ISSUER: envVar({
    option: "auth.issuer",
    schema: nonEmpty,
    default: undefined,
    description: "Required iss claim (unset: not checked)",
    expect: "a non-empty string",
    example: "https://auth.example.com/",
  }),
  JWT_AUDIENCE: envVar({
    option: "auth.audience",
    schema: z.string().transform(list).pipe(z.array(nonEmpty).min(1)),
    default: undefined,
    description: "Accepted aud claim values, comma-separated (unset: not checked)",
    expect: "a comma-separated list of audiences",
    example: "calcbridge-realtime",
  }),
  JWT_CLOCK_TOLERANCE: envVar({
    option: "auth.clockToleranceSec",
    schema: integer(0, 300),
    default: String(DEFAULT_JWT_CLOCK_TOLERANCE_SEC),
    description: "Seconds of clock skew allowed for exp and nbf",
    expect: "an integer number of seconds from 0 to 300",
    example: String(DEFAULT_JWT_CLOCK_TOLERANCE_SEC),
  }),
  NATS_URL: envVar({
    option: "nats.servers",
    schema: natsUrls,
    default: undefined,
    description: "NATS servers, comma-separated (unset: embedded single-node bus)",
    expect: "a comma-separated list of nats:// or tls:// URLs",
    example: "nats://nats-0:4222,nats://nats-1:4222",
  }),
  NATS_TOKEN: envVar({
    option: "nats.token",
    schema: nonEmpty,
    default: undefined,
    description: "NATS token authentication",
    expect: "a non-empty token",
    example: "<token>",
    secret: true,
  }),
  NATS_USER: envVar({
    option: "nats.user",
    schema: nonEmpty,
    default: undefined,
    description: "NATS user (with NATS_PASSWORD)",
    expect: "a non-empty user name",
    example: "edge",
  }),
  NATS_PASSWORD: envVar({
    option: "nats.password",
    schema: nonEmpty,
    default: undefined,
    description: "NATS password (with NATS_USER)",
    expect: "a non-empty password",
    example: "<password>",
    secret: true,
  }),
  NATS_NKEY_SEED: envVar({
    option: "nats.nkeySeed",
    schema: z.string().regex(/^SU[A-Z2-7]{56}$/),
    default: undefined,
    description: "NATS NKey user seed",
    expect: 'an NKey user seed (58 characters starting with "SU")',
    example: "SUA...",
    secret: true,
  }),
  NATS_CREDS_FILE: envVar({
    option: "nats.credsFile",
    schema: readableFile,
    default: undefined,
    description: "Path of a NATS .creds file (user JWT and seed)",
    expect: "the path of a readable file",
    example: "/etc/nats/edge.creds",
  }),
  NATS_TLS_CA: envVar({
    option: "nats.tls.ca",
    schema: readableFile,
    default: undefined,
    description: "Path of the CA certificate (PEM) that signed the NATS servers' certificates",
    expect: "the path of a readable PEM file",
    example: "/etc/nats/ca.pem",
  }),
  NATS_TLS_CERT: envVar({
    option: "nats.tls.cert",
    schema: readableFile,
    default: undefined,
    description: "Path of this node's client certificate (PEM), with NATS_TLS_KEY",
    expect: "the path of a readable PEM file",
    example: "/etc/nats/client.pem",
  }),
  NATS_TLS_KEY: envVar({
    option: "nats.tls.key",
    schema: readableFile,
    default: undefined,
    description: "Path of this node's client key (PEM), with NATS_TLS_CERT",
    expect: "the path of a readable PEM file",
    example: "/etc/nats/client-key.pem",
  }),
  METRICS_PORT: envVar({
    option: "metricsPort",
    schema: integer(1, 65535),
    default: undefined,
    description: "Serve /metrics on this port instead (unset: on PORT)",
    expect: "an integer from 1 to 65535",
    example: "9464",
  }),
  DRAIN_SECONDS: envVar({
    option: "drainSeconds",
    schema: decimal(0, 3600),
    default: String(DEFAULT_DRAIN_SECONDS),
    description: "On SIGTERM, seconds to let clients leave before closing them with 1001",
    expect: "a number of seconds from 0 to 3600",
    example: String(DEFAULT_DRAIN_SECONDS),
  }),
  HISTORY: envVar({
    option: "history.mode",
    schema: z.enum(["auto", "memory", "jetstream", "off"]),
    default: "auto",
    description:
      "Event history for recovery: memory (embedded bus), jetstream (NATS), off; auto picks memory without NATS_URL, jetstream with it",
    expect: "one of auto, memory, jetstream, off",
    example: "jetstream",
  }),
  HISTORY_MAX_AGE_SECONDS: envVar({
    option: "history.maxAgeMs",
    schema: decimal(1, 30 * 24 * 3600),
    default: String(DEFAULT_HISTORY_MAX_AGE_SECONDS),
    description: "Events older than this are dropped from the history",
    expect: "a number of seconds from 1 to 2592000",
    example: "600",
  }),
  HISTORY_MAX_PER_ROOM: envVar({
    option: "history.maxPerRoom",
    schema: integer(1, 1_000_000),
    default: String(DEFAULT_HISTORY_MAX_PER_ROOM),
    description: "Events kept per room; a client that missed more is told recovery_gap",
    expect: "an integer from 1 to 1000000",
    example: "1000",
  }),
  HISTORY_MAX_BYTES: envVar({
    option: "history.maxBytes",
    schema: integer(1024, Number.MAX_SAFE_INTEGER),
    default: String(DEFAULT_HISTORY_MAX_BYTES),
    description: "Bytes of events kept in all (oldest dropped first)",
    expect: "an integer number of bytes, at least 1024",
    example: String(DEFAULT_HISTORY_MAX_BYTES),
  }),
  HISTORY_STREAM: envVar({
    option: "history.stream",
    schema: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
    default: "CALCBRIDGE_EVENTS",
    description: "JetStream stream of the history (jetstream mode)",
    expect: "1 to 64 letters, digits, '-' or '_'",
    example: "CALCBRIDGE_EVENTS",
  }),
  HISTORY_REPLICAS: envVar({
    option: "history.replicas",
    schema: integer(1, 5),
    default: "1",
    description: "Replicas of the JetStream streams (3 on a 3-server NATS cluster)",
    expect: "an integer from 1 to 5",
    example: "3",
  }),
  HISTORY_MANAGE_STREAM: envVar({
    option: "history.manageStream",
    schema: boolean,
    default: "true",
    description: "Create or update the JetStream streams at start-up (false: only check them)",
    expect: "true or false",
    example: "false",
  }),
  RECOVERY_MAX_DISCONNECTION_SECONDS: envVar({
    option: "recoveryMaxDisconnectionMs",
    schema: decimal(1, 24 * 3600),
    default: String(DEFAULT_RECOVERY_MAX_DISCONNECTION_SECONDS),
    description: "How long a disconnected Socket.IO session can be recovered",
    expect: "a number of seconds from 1 to 86400",
    example: "120",
  }),
  PING_INTERVAL_MS: envVar({
    option: "pingIntervalMs",
    schema: integer(1, 2_147_483_647),
    default: String(DEFAULT_PING_INTERVAL_MS),
    description: "Engine.IO pingInterval",
    expect: "an integer number of milliseconds from 1 to 2147483647",
    example: String(DEFAULT_PING_INTERVAL_MS),
  }),
  PING_TIMEOUT_MS: envVar({
    option: "pingTimeoutMs",
    schema: integer(1, 2_147_483_647),
    default: String(DEFAULT_PING_TIMEOUT_MS),
    description:
      "Engine.IO pingTimeout; a raw client silent for pingInterval + pingTimeout is closed with 4008",
    expect: "an integer number of milliseconds from 1 to 2147483647",
    example: String(DEFAULT_PING_TIMEOUT_MS),
  }),
  MAX_PAYLOAD_BYTES: envVar({
    option: "maxPayloadBytes",
    schema: integer(1024, 2_147_483_647),
    default: String(DEFAULT_MAX_PAYLOAD_BYTES),
    description: "Largest message or polling payload a client may send",
    expect: "an integer number of bytes from 1024 to 2147483647",
    example: String(DEFAULT_MAX_PAYLOAD_BYTES),
  }),
  MAX_BACKPRESSURE_BYTES: envVar({
    option: "maxBackpressureBytes",
    schema: integer(1024, 2_147_483_647),
    default: String(DEFAULT_MAX_BACKPRESSURE_BYTES),
    description: "Unsent bytes a slow client may accumulate (uWS maxBackpressure)",
    expect: "an integer number of bytes from 1024 to 2147483647",
    example: String(DEFAULT_MAX_BACKPRESSURE_BYTES),
  }),
  MAX_ROOMS_PER_SOCKET: envVar({
    option: "maxRoomsPerSocket",
    schema: integer(1, 1_000_000),
    default: String(DEFAULT_MAX_ROOMS_PER_SOCKET),
    description: "Rooms one connection may join",
    expect: "an integer from 1 to 1000000",
    example: String(DEFAULT_MAX_ROOMS_PER_SOCKET),
  }),
  CORS_ORIGIN: envVar({
    option: "corsOrigin",
    schema: corsOrigins,
    default: undefined,
    description: 'Allowed CORS origins: "*" or a comma-separated list (unset: no CORS headers)',
    expect: '"*" or a comma-separated list of origins (scheme://host[:port])',
    example: "https://app.example.com",
  }),
  ALLOW_UWS_FALLBACK: envVar({
    option: "allowUwsFallback",
    schema: boolean,
    default: "false",
    description: "Start even when uWebSockets.js falls back to its pure-JS implementation",
    expect: "true, false, 1 or 0",
    example: "false",
  }),
  CONSOLE_ENABLED: envVar({
    option: "consoleEnabled",
    schema: boolean,
    default: "false",
    description: "Serve the built-in web console",
    expect: "true, false, 1 or 0",
    example: "true",
  }),
  CONSOLE_TOKEN: envVar({
    option: "consoleToken",
    schema: z.string().refine((s) => Buffer.byteLength(s) >= MIN_CONSOLE_TOKEN_BYTES),
    default: undefined,
    description: `Credential of the console's overview API, at least ${MIN_CONSOLE_TOKEN_BYTES} bytes (required with CONSOLE_ENABLED in production)`,
    expect: `at least ${MIN_CONSOLE_TOKEN_BYTES} bytes long`,
    example: '"$(openssl rand -base64 24)"',
    secret: true,
  }),
} as const;

type VarName = keyof typeof VARS;
type Values = { [K in VarName]: (typeof VARS)[K] extends EnvVar<infer T> ? T | undefined : never };

/** One environment variable, as the README's configuration table and `--help` show it. */
export interface EnvVarDoc {
  readonly name: string;
  /** Dotted path of the `EdgeConfig` field it sets. */
  readonly option: string;
  /** The default as text; `undefined` when unset means off or none. */
  readonly default: string | undefined;
  readonly description: string;
}

/** Every environment variable the edge reads, in documentation order. */
export const ENV_TABLE: readonly EnvVarDoc[] = Object.freeze(
  (Object.keys(VARS) as VarName[]).map((name) =>
    Object.freeze({
      name,
      option: VARS[name].option,
      default: VARS[name].default,
      description: VARS[name].description,
    }),
  ),
);

const JWT_KEYS = ["JWT_SECRET", "JWT_PUBLIC_KEY", "JWT_JWKS_URL"] as const;
const NATS_AUTH = [
  ["NATS_TOKEN"],
  ["NATS_USER", "NATS_PASSWORD"],
  ["NATS_NKEY_SEED"],
  ["NATS_CREDS_FILE"],
] as const;
const NATS_DEPENDENT = (Object.keys(VARS) as VarName[]).filter(
  (name) => name.startsWith("NATS_") && name !== "NATS_URL",
);

/** A cross-variable problem: its message is complete as written. */
const whole = (ctx: z.RefinementCtx, message: string): void =>
  ctx.addIssue({ code: "custom", message, params: { whole: true } });

const blankToUndefined = (value: unknown): unknown =>
  typeof value === "string" && value.trim() === "" ? undefined : value;

const envSchema = z
  .object(
    Object.fromEntries(
      (Object.keys(VARS) as VarName[]).map((name) => [
        name,
        z.preprocess(
          blankToUndefined,
          (VARS[name].schema as z.ZodType<unknown, string>).optional(),
        ),
      ]),
    ),
  )
  .transform((raw) => raw as Values)
  .superRefine((v, ctx) => {
    const keys = JWT_KEYS.filter((name) => v[name] !== undefined);
    if (keys.length > 1) {
      whole(
        ctx,
        `JWT_SECRET, JWT_PUBLIC_KEY and JWT_JWKS_URL are alternatives (got ${keys.join(" and ")}); set only one`,
      );
    }
    if (keys.length === 0 && v.NODE_ENV === true) {
      whole(
        ctx,
        "NODE_ENV=production needs a token key and none is configured; set JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL",
      );
    }
    if (v.NATS_URL === undefined) {
      const stray = NATS_DEPENDENT.filter((name) => v[name] !== undefined);
      if (stray.length > 0) {
        whole(
          ctx,
          `${stray.join(", ")} ${stray.length === 1 ? "has" : "have"} no effect without NATS_URL; set NATS_URL=nats://<host>:4222 or unset ${stray.join(", ")}`,
        );
      }
    }
    const methods = NATS_AUTH.filter((group) => group.some((name) => v[name] !== undefined));
    if (methods.length > 1) {
      whole(
        ctx,
        `NATS credentials are alternatives (got ${methods.map((g) => g.join("/")).join(" and ")}); set only one of NATS_TOKEN, NATS_USER+NATS_PASSWORD, NATS_NKEY_SEED, NATS_CREDS_FILE`,
      );
    }
    if ((v.NATS_USER === undefined) !== (v.NATS_PASSWORD === undefined)) {
      whole(ctx, "NATS_USER and NATS_PASSWORD go together; set both or neither");
    }
    if ((v.NATS_TLS_CERT === undefined) !== (v.NATS_TLS_KEY === undefined)) {
      whole(ctx, "NATS_TLS_CERT and NATS_TLS_KEY go together; set both or neither");
    }
    if (v.CONSOLE_ENABLED === true && v.NODE_ENV === true && v.CONSOLE_TOKEN === undefined) {
      whole(
        ctx,
        'CONSOLE_ENABLED=true in production needs the console\'s credential; set CONSOLE_TOKEN="$(openssl rand -base64 24)" or unset CONSOLE_ENABLED',
      );
    }
    const port = v.PORT ?? DEFAULT_PORT;
    if (v.HISTORY === "memory" && v.NATS_URL !== undefined) {
      whole(
        ctx,
        "HISTORY=memory keeps offsets per process and cannot serve a cluster; with NATS_URL set HISTORY=jetstream (or off)",
      );
    }
    if (v.HISTORY === "jetstream" && v.NATS_URL === undefined) {
      whole(
        ctx,
        "HISTORY=jetstream needs NATS_URL (a NATS server with JetStream); without it use HISTORY=memory",
      );
    }
    if (v.METRICS_PORT !== undefined && v.METRICS_PORT === port) {
      whole(
        ctx,
        `METRICS_PORT must differ from PORT (both ${port}); unset METRICS_PORT to serve /metrics on PORT`,
      );
    }
  });

/** How a bad value is shown: quoted and shortened, or only its length for secrets. */
function shown(name: VarName, raw: string | undefined): string {
  if (raw === undefined) return "unset";
  if (VARS[name].secret) return `${Buffer.byteLength(raw)} bytes`;
  // URLs may carry credentials (nats://user:password@host): never echo them.
  const safe = raw.replace(/\/\/[^/@\s]*@/g, "//[redacted]@");
  const text = safe.length > 60 ? `${safe.slice(0, 60)}…` : safe;
  return JSON.stringify(text);
}

/**
 * Reads the edge's configuration from environment variables (see
 * {@link ENV_TABLE}). Blank values count as unset.
 *
 * @throws ConfigError naming each bad variable, what is wrong and the fix,
 *   e.g. `PORT must be an integer from 0 to 65535 (got "abc"); set PORT=8080`.
 */
export function parseConfig(env: NodeJS.ProcessEnv = process.env): Readonly<EdgeConfig> {
  const input = Object.fromEntries(
    (Object.keys(VARS) as VarName[]).map((name) => [name, env[name]]),
  );
  const result = envSchema.safeParse(input);
  if (!result.success) {
    const reasons = new Set<string>();
    for (const issue of result.error.issues) {
      const name = issue.path[0];
      if (issue.code === "custom" && issue.params?.["whole"] === true) {
        reasons.add(issue.message);
      } else if (typeof name === "string" && name in VARS) {
        const spec = VARS[name as VarName];
        reasons.add(
          `${name} must be ${spec.expect} (got ${shown(name as VarName, env[name]?.trim())}); set ${name}=${spec.example}`,
        );
      } else {
        reasons.add(issue.message);
      }
    }
    throw new ConfigError([...reasons], { cause: result.error });
  }
  return deepFreeze(toConfig(result.data));
}

function toConfig(v: Values): EdgeConfig {
  const secret = v.JWT_SECRET;
  const publicKey = v.JWT_PUBLIC_KEY;
  const jwksUrl = v.JWT_JWKS_URL;
  const production = v.NODE_ENV ?? false;
  const tls =
    v.NATS_TLS_CA !== undefined || v.NATS_TLS_CERT !== undefined
      ? defined({ ca: v.NATS_TLS_CA, cert: v.NATS_TLS_CERT, key: v.NATS_TLS_KEY })
      : undefined;
  return {
    port: v.PORT ?? DEFAULT_PORT,
    host: v.HOST ?? DEFAULT_HOST,
    nodeId: v.NODE_ID ?? defaultNodeId(),
    logLevel: v.LOG_LEVEL ?? DEFAULT_LOG_LEVEL,
    production,
    auth: defined({
      secret,
      publicKey,
      jwksUrl,
      issuer: v.JWT_ISSUER,
      audience: v.JWT_AUDIENCE,
      clockToleranceSec: v.JWT_CLOCK_TOLERANCE ?? DEFAULT_JWT_CLOCK_TOLERANCE_SEC,
    }),
    devMode: secret === undefined && publicKey === undefined && jwksUrl === undefined,
    nats:
      v.NATS_URL === undefined
        ? undefined
        : defined({
            servers: v.NATS_URL,
            token: v.NATS_TOKEN,
            user: v.NATS_USER,
            password: v.NATS_PASSWORD,
            nkeySeed: v.NATS_NKEY_SEED,
            credsFile: v.NATS_CREDS_FILE,
            tls,
          }),
    metricsPort: v.METRICS_PORT,
    drainSeconds: v.DRAIN_SECONDS ?? DEFAULT_DRAIN_SECONDS,
    pingIntervalMs: v.PING_INTERVAL_MS ?? DEFAULT_PING_INTERVAL_MS,
    pingTimeoutMs: v.PING_TIMEOUT_MS ?? DEFAULT_PING_TIMEOUT_MS,
    maxPayloadBytes: v.MAX_PAYLOAD_BYTES ?? DEFAULT_MAX_PAYLOAD_BYTES,
    maxBackpressureBytes: v.MAX_BACKPRESSURE_BYTES ?? DEFAULT_MAX_BACKPRESSURE_BYTES,
    maxRoomsPerSocket: v.MAX_ROOMS_PER_SOCKET ?? DEFAULT_MAX_ROOMS_PER_SOCKET,
    corsOrigin: v.CORS_ORIGIN,
    allowUwsFallback: v.ALLOW_UWS_FALLBACK ?? false,
    consoleEnabled: v.CONSOLE_ENABLED ?? false,
    ...(v.CONSOLE_TOKEN === undefined ? {} : { consoleToken: v.CONSOLE_TOKEN }),
    history: {
      mode: historyMode(v.HISTORY ?? "auto", v.NATS_URL !== undefined),
      maxAgeMs: (v.HISTORY_MAX_AGE_SECONDS ?? DEFAULT_HISTORY_MAX_AGE_SECONDS) * 1000,
      maxPerRoom: v.HISTORY_MAX_PER_ROOM ?? DEFAULT_HISTORY_MAX_PER_ROOM,
      maxBytes: v.HISTORY_MAX_BYTES ?? DEFAULT_HISTORY_MAX_BYTES,
      stream: v.HISTORY_STREAM ?? "CALCBRIDGE_EVENTS",
      replicas: v.HISTORY_REPLICAS ?? 1,
      manageStream: v.HISTORY_MANAGE_STREAM ?? true,
    },
    recoveryMaxDisconnectionMs:
      (v.RECOVERY_MAX_DISCONNECTION_SECONDS ?? DEFAULT_RECOVERY_MAX_DISCONNECTION_SECONDS) * 1000,
  };
}

function historyMode(
  mode: "auto" | "memory" | "jetstream" | "off",
  nats: boolean,
): HistoryConfig["mode"] {
  if (mode === "auto") return nats ? "jetstream" : "memory";
  return mode;
}

/** Drops `undefined` members, so optional fields are absent rather than present-but-undefined. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, value]) => value !== undefined)) as T;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}

/** The environment variables as `--help` prints them. */
export function formatHelp(): string {
  const width = Math.max(...ENV_TABLE.map((v) => v.name.length)) + 2;
  const lines = ENV_TABLE.map((v) => {
    const def = v.default === undefined ? "" : ` (default: ${v.default})`;
    return `  ${v.name.padEnd(width)}${v.description}${def}`;
  });
  return `Environment variables:\n${lines.join("\n")}\n`;
}

/** The environment variables as the README's Markdown table. */
export function formatEnvMarkdown(): string {
  const cell = (text: string): string => text.replace(/\|/g, "\\|");
  const rows = ENV_TABLE.map(
    (v) =>
      `| \`${v.name}\` | ${v.default === undefined ? "" : `\`${cell(v.default)}\``} | ${cell(v.description)} |`,
  );
  return ["| Variable | Default | Description |", "| --- | --- | --- |", ...rows].join("\n") + "\n";
}
