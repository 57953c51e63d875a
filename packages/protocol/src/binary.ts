/**
 * Binary attachments of Socket.IO v5 packets ("Packet encoding", BINARY_EVENT
 * and BINARY_ACK): every binary value in the data is replaced by
 * `{"_placeholder":true,"num":n}` and sent as attachment `n` after the text.
 *
 * Encoding walks trusted server data, recursively, within
 * {@link MAX_ENCODE_DEPTH}. Decoding walks parsed client JSON iteratively
 * within the decoder's `maxDepth`, validates every placeholder as soon as the
 * text arrives, and fills the attachments in place once they are all there.
 */
import { DecodeError, EncodeError } from "./errors.js";

/** How deep {@link hasBinary} and the encoder follow nested data; deeper (or cyclic) data is an `EncodeError`. */
export const MAX_ENCODE_DEPTH = 1000;

/** A Buffer, any other typed array or DataView, or an ArrayBuffer. */
export function isBinary(value: unknown): value is ArrayBuffer | ArrayBufferView {
  return value instanceof ArrayBuffer || ArrayBuffer.isView(value);
}

/** The bytes of a binary value as a Uint8Array view (no copy; a Uint8Array or Buffer is returned as is). */
export function toBytes(value: ArrayBuffer | ArrayBufferView): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

function tooDeep(): EncodeError {
  return new EncodeError(
    "ERR_TOO_DEEP",
    `data is nested deeper than ${MAX_ENCODE_DEPTH} levels (or is cyclic)`,
  );
}

function hasToJSON(value: object): value is { toJSON: () => unknown } {
  return typeof (value as { toJSON?: unknown }).toJSON === "function";
}

/** Set `key` on a fresh object without ever reaching `Object.prototype.__proto__`'s setter. */
function defineKey(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(target, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    target[key] = value;
  }
}

function hasBinaryAt(value: unknown, depth: number, viaToJSON: boolean): boolean {
  if (value === null || typeof value !== "object") return false;
  if (depth > MAX_ENCODE_DEPTH) throw tooDeep();
  if (isBinary(value)) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (hasBinaryAt(value[i], depth + 1, false)) return true;
    }
    return false;
  }
  // What JSON.stringify will serialise is what toJSON returns (a Date, say).
  if (!viaToJSON && hasToJSON(value)) return hasBinaryAt(value.toJSON(), depth, true);
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (hasBinaryAt(record[key], depth + 1, false)) return true;
  }
  return false;
}

/**
 * Whether `value` holds binary data (see {@link isBinary}) anywhere inside
 * arrays and objects, following `toJSON` as `JSON.stringify` would.
 *
 * @throws EncodeError (`ERR_TOO_DEEP`) past {@link MAX_ENCODE_DEPTH} levels.
 */
export function hasBinary(value: unknown): boolean {
  return hasBinaryAt(value, 1, false);
}

function deconstructAt(
  value: unknown,
  buffers: Uint8Array[],
  depth: number,
  viaToJSON: boolean,
): unknown {
  if (value === null || typeof value !== "object") return value;
  if (depth > MAX_ENCODE_DEPTH) throw tooDeep();
  if (isBinary(value)) {
    buffers.push(toBytes(value));
    return { _placeholder: true, num: buffers.length - 1 };
  }
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++)
      out[i] = deconstructAt(value[i], buffers, depth + 1, false);
    return out;
  }
  if (!viaToJSON && hasToJSON(value)) return deconstructAt(value.toJSON(), buffers, depth, true);
  const record = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(record)) {
    defineKey(out, key, deconstructAt(record[key], buffers, depth + 1, false));
  }
  return out;
}

/**
 * A copy of `data` with each binary value replaced by its placeholder, in
 * depth-first order (array index order, then `Object.keys` order), and the
 * attachments in that order.
 */
export function deconstruct(data: unknown): { data: unknown; buffers: Uint8Array[] } {
  const buffers: Uint8Array[] = [];
  return { data: deconstructAt(data, buffers, 1, false), buffers };
}

/** Where attachment `num` goes once it arrives: `container[key]`. */
export interface PlaceholderSlot {
  container: unknown[] | Record<string, unknown>;
  key: number | string;
  num: number;
}

function isPlaceholder(value: object): boolean {
  return (
    !Array.isArray(value) &&
    Object.hasOwn(value, "_placeholder") &&
    (value as { _placeholder?: unknown })._placeholder === true
  );
}

/**
 * Check parsed JSON `data` (iteratively: 100k nested brackets cost no stack)
 * against `maxDepth`, and, when `attachments` is not null, find its
 * placeholders. Each must have an integer `num` in `[0, attachments)`.
 *
 * @throws DecodeError `ERR_TOO_DEEP` or `ERR_INVALID_PLACEHOLDER`.
 */
export function scanPayload(
  data: unknown,
  maxDepth: number,
  attachments: number | null,
): PlaceholderSlot[] {
  const slots: PlaceholderSlot[] = [];
  if (data === null || typeof data !== "object") return slots;
  const values: object[] = [data];
  const depths: number[] = [1];
  while (values.length > 0) {
    const value = values.pop() as object;
    const depth = depths.pop() as number;
    if (depth > maxDepth) {
      throw new DecodeError("ERR_TOO_DEEP", `payload is nested deeper than ${maxDepth} levels`);
    }
    const container = value as unknown[] | Record<string, unknown>;
    const keys: readonly (number | string)[] | null = Array.isArray(value)
      ? null
      : Object.keys(value);
    const count = keys === null ? (value as unknown[]).length : keys.length;
    for (let i = 0; i < count; i++) {
      const key = keys === null ? i : (keys[i] as string);
      const child = (container as Record<string | number, unknown>)[key];
      if (child === null || typeof child !== "object") continue;
      if (attachments !== null && isPlaceholder(child)) {
        const num = (child as { num?: unknown }).num;
        if (typeof num !== "number" || !Number.isInteger(num) || num < 0 || num >= attachments) {
          throw new DecodeError(
            "ERR_INVALID_PLACEHOLDER",
            `placeholder num must be an integer in [0, ${attachments}), got ${typeof num === "number" ? num : typeof num}`,
          );
        }
        slots.push({ container, key, num });
      } else {
        values.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return slots;
}

/** Put each attachment where its placeholders were (in place; no prototype is touched). */
export function fillPlaceholders(
  slots: readonly PlaceholderSlot[],
  buffers: readonly Uint8Array[],
): void {
  for (const { container, key, num } of slots) {
    const buffer = buffers[num];
    if (Array.isArray(container)) container[key as number] = buffer;
    else defineKey(container, key as string, buffer);
  }
}
