/**
 * Base of every error this package throws on purpose. `code` is stable
 * (`ERR_...`); `cause` keeps the nats.js error underneath, if any.
 */
export class BridgeError extends Error {
  override name = "BridgeError";
  readonly code: string;

  constructor(code: `ERR_${string}`, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * The bus cannot take a publish now (not connected, reconnecting, draining or
 * closed). Nothing was published and nothing was buffered: the caller decides
 * (the edge answers 503). Same code as the edge's `BusUnavailableError`.
 */
export class NatsUnavailableError extends BridgeError {
  override name = "NatsUnavailableError";
  declare readonly code: "ERR_BUS_UNAVAILABLE";

  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_BUS_UNAVAILABLE", message, options);
  }
}

/** A subject (or reply subject) NATS cannot carry: empty, or with whitespace in it. */
export class NatsSubjectError extends BridgeError {
  override name = "NatsSubjectError";
  declare readonly code: "ERR_BUS_SUBJECT";

  constructor(subject: string, options?: { cause?: unknown }) {
    super("ERR_BUS_SUBJECT", `not a valid NATS subject: ${JSON.stringify(subject)}`, options);
  }
}

/** nats.js refused a publish for a reason other than the connection (e.g. over `max_payload`). */
export class NatsPublishError extends BridgeError {
  override name = "NatsPublishError";
  declare readonly code: "ERR_BUS_PUBLISH";

  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_BUS_PUBLISH", message, options);
  }
}

/** Options that cannot be used; `reasons` has one entry per problem, each naming the field. */
export class NatsOptionsError extends BridgeError {
  override name = "NatsOptionsError";
  declare readonly code: "ERR_NATS_OPTIONS";
  readonly reasons: readonly string[];

  constructor(reasons: readonly string[]) {
    super("ERR_NATS_OPTIONS", `invalid NATS bus options: ${reasons.join("; ")}`);
    this.reasons = Object.freeze([...reasons]);
  }
}
