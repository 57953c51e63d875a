import type { NatsConnection } from "@nats-io/transport-node";

/**
 * Reads of nats.js internals that its public API does not offer. Each probe
 * checks the shape it expects and falls back to a neutral answer, so that a
 * nats.js upgrade that moves them degrades a metric, never the bus.
 * Known to hold for @nats-io/nats-core 3.4.
 */
interface ProtocolShape {
  protocol?: {
    connected?: unknown;
    outbound?: { size?: unknown };
  };
}

/**
 * Whether the socket is up right now. nats.js clears `protocol.connected`
 * as soon as the transport closes, a few microtasks before the `disconnect`
 * status reaches a status iterator. `true` when the field is not there.
 */
export function transportConnected(nc: NatsConnection): boolean {
  return (nc as unknown as ProtocolShape).protocol?.connected !== false;
}

/** Bytes in nats.js's outbound buffer, not yet written to the socket; 0 if unknown. */
export function outboundBytes(nc: NatsConnection): number {
  const outbound = (nc as unknown as ProtocolShape).protocol?.outbound;
  if (typeof outbound?.size !== "function") return 0;
  const size: unknown = (outbound.size as () => unknown).call(outbound);
  return typeof size === "number" && Number.isFinite(size) ? size : 0;
}
