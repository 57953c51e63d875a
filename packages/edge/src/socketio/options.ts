import { z } from "zod";
import { EdgeError } from "../errors.js";
import { DEFAULT_ENGINE_OPTIONS, type CorsOptions, type EngineOptions } from "../engine/options.js";

/** Options of the Socket.IO-compatible `Server`. Engine.IO options sit beside them, as in socket.io. */
export interface ServerOptions extends EngineOptions {
  /** Close a connection that has joined no namespace within this many ms. @default 45000 */
  connectTimeout: number;
  /** Rooms a socket may be in (its own id room included). @default 1000 */
  maxRoomsPerSocket: number;
  /** Acknowledgements a socket may await at once. @default 1000 */
  maxPendingAcks: number;
  /** Binary attachments one packet may carry. @default 10 */
  maxAttachments: number;
  /** Start even if uWebSockets.js fell back to its pure-JS server. @default false */
  allowUwsFallback: boolean;
  /** How long cross-node operations (fetchSockets, serverSideEmit acks) wait for other nodes, in ms. @default 5000 */
  clusterRequestTimeout: number;
}

export const DEFAULT_SERVER_OPTIONS: Readonly<ServerOptions> = Object.freeze({
  ...DEFAULT_ENGINE_OPTIONS,
  connectTimeout: 45_000,
  maxRoomsPerSocket: 1000,
  maxPendingAcks: 1000,
  maxAttachments: 10,
  allowUwsFallback: false,
  clusterRequestTimeout: 5000,
});

const positiveInt = z.number().int().positive();

const schema = z
  .object({
    path: z
      .string()
      .regex(/^\/(?:[^?#]*\/)?$/, "must start and end with '/'")
      .default(DEFAULT_SERVER_OPTIONS.path),
    pingInterval: positiveInt.default(DEFAULT_SERVER_OPTIONS.pingInterval),
    pingTimeout: positiveInt.default(DEFAULT_SERVER_OPTIONS.pingTimeout),
    maxPayload: positiveInt.default(DEFAULT_SERVER_OPTIONS.maxPayload),
    upgradeTimeout: positiveInt.default(DEFAULT_SERVER_OPTIONS.upgradeTimeout),
    transports: z
      .array(z.enum(["polling", "websocket"]))
      .min(1)
      .default([...DEFAULT_SERVER_OPTIONS.transports]),
    allowUpgrades: z.boolean().default(DEFAULT_SERVER_OPTIONS.allowUpgrades),
    maxBackpressure: positiveInt.default(DEFAULT_SERVER_OPTIONS.maxBackpressure),
    cors: z
      .object({
        origin: z.union([z.string(), z.array(z.string())]).optional(),
        credentials: z.boolean().optional(),
      })
      .default({}),
    connectTimeout: positiveInt.default(DEFAULT_SERVER_OPTIONS.connectTimeout),
    maxRoomsPerSocket: positiveInt.default(DEFAULT_SERVER_OPTIONS.maxRoomsPerSocket),
    maxPendingAcks: positiveInt.default(DEFAULT_SERVER_OPTIONS.maxPendingAcks),
    maxAttachments: z.number().int().nonnegative().default(DEFAULT_SERVER_OPTIONS.maxAttachments),
    allowUwsFallback: z.boolean().default(DEFAULT_SERVER_OPTIONS.allowUwsFallback),
    clusterRequestTimeout: positiveInt.default(DEFAULT_SERVER_OPTIONS.clusterRequestTimeout),
  })
  .strict();

/** Validates options; throws `EdgeError` (ERR_INVALID_OPTION) naming the field. */
export function parseServerOptions(input: Partial<ServerOptions> = {}): Readonly<ServerOptions> {
  const result = schema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue?.path.join(".") || "options";
    throw new EdgeError(
      "ERR_INVALID_OPTION",
      `Server option "${field}": ${issue?.message ?? "invalid"}`,
    );
  }
  const cors: CorsOptions = Object.freeze({ ...result.data.cors });
  return Object.freeze({ ...result.data, cors, transports: Object.freeze(result.data.transports) });
}
