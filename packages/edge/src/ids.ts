import { randomBytes } from "node:crypto";

const ID_BYTES = 15;
const POOL_IDS = 256;
let pool = Buffer.alloc(0);
let at = 0;

/**
 * A random 20-character base64url id (120 bits), like engine.io's and
 * socket.io's. Drawn from a pooled buffer: one randomBytes call per 256 ids
 * instead of one per connection.
 */
export function randomId(): string {
  if (at + ID_BYTES > pool.length) {
    pool = randomBytes(ID_BYTES * POOL_IDS);
    at = 0;
  }
  const id = pool.toString("base64url", at, at + ID_BYTES);
  at += ID_BYTES;
  return id;
}
