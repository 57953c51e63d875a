/**
 * Small total helpers shared by the hand-written validators of this package
 * (no schema library: the protocol package has no runtime dependencies).
 * Internal: not exported from the package index.
 */

/** An own property of `o`, never an inherited one (so `__proto__` tricks read nothing). */
export function own(o: object, key: string): unknown {
  return Object.hasOwn(o, key) ? (o as Record<string, unknown>)[key] : undefined;
}

/**
 * Whether `x` is a plain object as `JSON.parse` makes them (prototype
 * `Object.prototype` or `null`): not an array, not a Date, Map or class
 * instance.
 */
export function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== "object" || x === null || Array.isArray(x)) return false;
  const proto: unknown = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/** A short printable rendering of untrusted text for a reason: quoted, escaped, truncated. */
export function quote(text: string, max = 64): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}

/** What `x` is, for a reason ("got an array"). */
export function describe(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return "an array";
  return typeof x === "object" ? "an object" : `a ${typeof x}`;
}

/**
 * Length of `text` in UTF-8 bytes, as TextEncoder would encode it (a lone
 * surrogate becomes U+FFFD, 3 bytes), without allocating.
 */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      bytes += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      // A surrogate pair: 2 units, 4 bytes. A lone surrogate: U+FFFD, 3 bytes.
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 2;
        i++;
      } else {
        bytes += 2;
      }
    } else {
      bytes += 2;
    }
  }
  return bytes;
}
