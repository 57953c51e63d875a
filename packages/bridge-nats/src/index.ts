export { NatsBus } from "./nats-bus.js";
export { JetStreamHistory, DEFAULT_HISTORY_STREAM } from "./jetstream-history.js";
export { JetStreamSessionStore, DEFAULT_SESSION_STREAM } from "./jetstream-sessions.js";
export { Emitter, RoomEmitter, NamespaceEmitter, EmitterValidationError } from "./emitter.js";
export {
  BridgeError,
  NatsOptionsError,
  NatsPublishError,
  NatsSubjectError,
  NatsUnavailableError,
} from "./errors.js";
export {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_MAX_RECONNECT_ATTEMPTS,
  DEFAULT_PING_INTERVAL_MS,
  DEFAULT_RECONNECT_JITTER_MS,
  DEFAULT_RECONNECT_TIME_WAIT_MS,
  natsBusOptionsFromConfig,
  parseNatsBusOptions,
} from "./options.js";

export type { NatsBusStats } from "./nats-bus.js";
export type { JetStreamHistoryOptions } from "./jetstream-history.js";
export type { EmitterOptions, EmitterTransport } from "./emitter.js";
export type {
  NatsBusOptions,
  NatsConfigLike,
  NatsTlsFiles,
  ResolvedNatsBusOptions,
} from "./options.js";
