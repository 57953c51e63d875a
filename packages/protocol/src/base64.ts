/**
 * Base64 (RFC 4648 section 4, standard alphabet) for Engine.IO's `b<base64>`
 * binary packets. Node's `Buffer` does the encoding when it exists (it is
 * native and this sits on the polling hot path); the portable loops below
 * cover other runtimes. Decoding is always done here, because `Buffer`
 * silently skips characters outside the alphabet and we must reject them.
 */
import { DecodeError } from "./errors.js";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const PAD = 61; // "="

/** char code -> 6-bit value, or -1 outside the alphabet. */
const LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;

interface NodeBufferLike {
  from(
    buffer: ArrayBufferLike,
    byteOffset: number,
    length: number,
  ): { toString(enc: string): string };
}
const NodeBuffer = (globalThis as { Buffer?: NodeBufferLike }).Buffer;

/** Base64 of `bytes`, with `=` padding. */
export function encodeBase64(bytes: Uint8Array): string {
  if (NodeBuffer !== undefined) {
    return NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
  }
  return encodeBase64Portable(bytes);
}

/** The runtime-independent encoder (exported for tests). */
export function encodeBase64Portable(bytes: Uint8Array): string {
  const parts: string[] = [];
  let chunk = "";
  const n = bytes.length;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v =
      ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number);
    chunk +=
      ALPHABET.charAt(v >>> 18) +
      ALPHABET.charAt((v >>> 12) & 63) +
      ALPHABET.charAt((v >>> 6) & 63) +
      ALPHABET.charAt(v & 63);
    if (chunk.length >= 8192) {
      parts.push(chunk);
      chunk = "";
    }
  }
  const rest = n - i;
  if (rest === 1) {
    const v = (bytes[i] as number) << 16;
    chunk += ALPHABET.charAt(v >>> 18) + ALPHABET.charAt((v >>> 12) & 63) + "==";
  } else if (rest === 2) {
    const v = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8);
    chunk +=
      ALPHABET.charAt(v >>> 18) +
      ALPHABET.charAt((v >>> 12) & 63) +
      ALPHABET.charAt((v >>> 6) & 63) +
      "=";
  }
  parts.push(chunk);
  return parts.join("");
}

/**
 * Decode `text.slice(start, end)`. Padding is optional, but when present it must
 * complete the last quantum; anything outside the alphabet (whitespace,
 * the URL-safe `-`/`_`, a lone trailing sextet) is a `DecodeError`.
 */
export function decodeBase64(text: string, start = 0, end = text.length): Uint8Array {
  let padding = 0;
  while (end > start && text.charCodeAt(end - 1) === PAD && padding < 2) {
    end--;
    padding++;
  }
  const chars = end - start;
  if (padding > 0 && (chars + padding) % 4 !== 0) {
    throw new DecodeError("ERR_INVALID_BASE64", "base64 padding does not complete a quantum");
  }
  if (chars % 4 === 1) {
    throw new DecodeError("ERR_INVALID_BASE64", "base64 length is not valid");
  }
  const out = new Uint8Array(Math.floor((chars * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? (LOOKUP[c] as number) : -1;
    if (v < 0) {
      throw new DecodeError("ERR_INVALID_BASE64", `invalid base64 character at offset ${i}`);
    }
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 0xff;
    }
  }
  return out;
}
