/**
 * Times kept for a connection's whole life (when its handshake came, when its
 * token expires) are stored relative to the process's start: a small integer
 * fits in the object, where an absolute time in ms is a heap number of its
 * own per connection.
 */
const TIME_ORIGIN = Date.now();

/** `ms` (since the epoch) in the compact form. */
export function toCompactTime(ms: number): number {
  return ms - TIME_ORIGIN;
}

/** A compact time back in ms since the epoch. */
export function fromCompactTime(compact: number): number {
  return compact + TIME_ORIGIN;
}
