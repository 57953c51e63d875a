/**
 * The only place uWS topic names are built. Topics are per namespace and room,
 * and one per namespace that every WebSocket in it holds (`io.emit` to all).
 * Length prefixes keep the mapping injective whatever the names contain.
 */
export function roomTopic(nsp: string, room: string): string {
  return `r:${nsp.length}:${nsp}${room}`;
}

/** Every WebSocket of the namespace is subscribed to this topic while connected. */
export function namespaceTopic(nsp: string): string {
  return `n:${nsp}`;
}

/** The uWS topic raw-API clients of a room hold: the room's NATS subject, prefixed. */
export function rawTopic(subject: string): string {
  return `w:${subject}`;
}

/** Held by every raw-API socket so none drops to zero topics (see Adapter.addMember). */
export const RAW_ANCHOR_TOPIC = "w*";
