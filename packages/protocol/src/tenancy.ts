import { DecodeError, ValidationError } from "./errors.js";
import { idProblem, roomProblems, type Room } from "./rooms.js";

/*
 * Tenancy by construction (DESIGN.md, "Rooms and tenancy"): every subject
 * carries the tenant, `<prefix>.<tenant>.workbook.<id>`, `<prefix>.<tenant>.job.<id>`,
 * `<prefix>.<tenant>.user.<id>`, and this file is the only place that builds
 * them. NATS subjects split on "." and treat "*" and ">" as wildcards, so ids
 * are escaped into single, wildcard-free tokens.
 */

/** The default first token(s) of every subject. */
export const DEFAULT_SUBJECT_PREFIX = "rt";

/** The escape character of {@link escapeToken}. */
const ESCAPE = "~";
/** What {@link escapeToken} makes of the empty string ("~" alone is no `~HH`). */
const EMPTY_TOKEN = ESCAPE;
const SAFE = /^[A-Za-z0-9_-]+$/;
const HEX = "0123456789ABCDEF";
// A prefix is one or more safe tokens: "rt", "prod.rt".
const PREFIX = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;

const KIND_TOKENS = { workbook: "workbook", job: "job", notifications: "user" } as const;

function isSafeUnit(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x5f || // _
    c === 0x2d // -
  );
}

/**
 * Escapes any string into one NATS subject token. `[A-Za-z0-9_-]` stay as they
 * are; every other code point becomes its UTF-8 bytes, each written `~HH`
 * (uppercase hex), so `~` itself is `~7E`, `.` is `~2E` and `é` is `~C3~A9`.
 * A lone surrogate (a JS string need not be well-formed UTF-16) is written as
 * the 3-byte sequence UTF-8 would give its code point (as WTF-8 does), so it
 * cannot collide with U+FFFD or anything else. The empty string becomes `~`.
 *
 * The output is never empty, contains only `[A-Za-z0-9_~-]`, and the mapping
 * is injective: {@link unescapeToken} inverts it.
 *
 * @throws ValidationError `ERR_INVALID_ID` when `id` is not a string.
 */
export function escapeToken(id: string): string {
  if (typeof id !== "string") {
    throw new ValidationError("ERR_INVALID_ID", ["an id to escape must be a string"]);
  }
  if (id.length === 0) return EMPTY_TOKEN;
  if (SAFE.test(id)) return id;
  let out = "";
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (isSafeUnit(c)) {
      out += id[i];
      continue;
    }
    let cp = c;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < id.length) {
      const next = id.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
      }
    }
    if (cp < 0x80) {
      out += hex(cp);
    } else if (cp < 0x800) {
      out += hex(0xc0 | (cp >> 6)) + hex(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += hex(0xe0 | (cp >> 12)) + hex(0x80 | ((cp >> 6) & 0x3f)) + hex(0x80 | (cp & 0x3f));
    } else {
      out +=
        hex(0xf0 | (cp >> 18)) +
        hex(0x80 | ((cp >> 12) & 0x3f)) +
        hex(0x80 | ((cp >> 6) & 0x3f)) +
        hex(0x80 | (cp & 0x3f));
    }
  }
  return out;
}

function hex(byte: number): string {
  return ESCAPE + HEX[byte >> 4] + HEX[byte & 0x0f];
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1; // lowercase hex is not canonical
}

/**
 * The inverse of {@link escapeToken}. Accepts exactly the tokens
 * `escapeToken` produces: any other spelling of the same string (lowercase
 * hex, an escaped safe character, an overlong or split sequence) is rejected,
 * so each string has one token and each token one string.
 *
 * @throws DecodeError `ERR_INVALID_TOKEN_ESCAPE`
 */
export function unescapeToken(token: string): string {
  if (typeof token !== "string" || token.length === 0) {
    throw invalidToken("an escaped token must be a non-empty string");
  }
  if (token === EMPTY_TOKEN) return "";
  if (SAFE.test(token)) return token;
  let out = "";
  let i = 0;
  while (i < token.length) {
    const c = token.charCodeAt(i);
    if (isSafeUnit(c)) {
      out += token[i];
      i++;
      continue;
    }
    if (c !== 0x7e) throw invalidToken(`unexpected character at ${i}`);
    const lead = byteAt(token, i);
    i += 3;
    let cp: number;
    let need: number;
    if (lead < 0x80) {
      cp = lead;
      need = 0;
    } else if (lead >= 0xc2 && lead <= 0xdf) {
      cp = lead & 0x1f;
      need = 1;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      cp = lead & 0x0f;
      need = 2;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      cp = lead & 0x07;
      need = 3;
    } else {
      throw invalidToken(`invalid UTF-8 lead byte at ${i - 3}`);
    }
    for (let k = 0; k < need; k++) {
      if (token.charCodeAt(i) !== 0x7e) throw invalidToken(`truncated UTF-8 sequence at ${i}`);
      const b = byteAt(token, i);
      if ((b & 0xc0) !== 0x80) throw invalidToken(`invalid UTF-8 continuation byte at ${i}`);
      cp = (cp << 6) | (b & 0x3f);
      i += 3;
    }
    if (cp > 0x10ffff) throw invalidToken(`code point beyond U+10FFFF before ${i}`);
    out += String.fromCodePoint(cp);
  }
  // Overlong forms, escaped safe characters, surrogate pairs written as two
  // 3-byte sequences and code points past U+10FFFF all decode to something
  // whose escape differs from the input: the canonical check catches them all.
  if (escapeToken(out) !== token) throw invalidToken("not the canonical escape of its value");
  return out;
}

function byteAt(token: string, i: number): number {
  const hi = hexValue(token.charCodeAt(i + 1));
  const lo = hexValue(token.charCodeAt(i + 2));
  if (hi < 0 || lo < 0)
    throw invalidToken(`"~" at ${i} must be followed by two uppercase hex digits`);
  return (hi << 4) | lo;
}

function invalidToken(reason: string): DecodeError {
  return new DecodeError("ERR_INVALID_TOKEN_ESCAPE", `invalid escaped subject token: ${reason}`);
}

export function checkPrefix(prefix: string): void {
  if (typeof prefix !== "string" || !PREFIX.test(prefix)) {
    throw new ValidationError("ERR_INVALID_SUBJECT_PREFIX", [
      "subject prefix must be one or more dot-separated tokens of [A-Za-z0-9_-]",
    ]);
  }
}

/**
 * The NATS subject of a room of a tenant: the room's identity across the
 * cluster, e.g. `rt.acme.workbook.wb_1`, `rt.acme.job.j~3A1`,
 * `rt.acme.user.u1`. Ids are escaped with {@link escapeToken}; the subject is
 * also fit to use as a local pub/sub topic key.
 *
 * For a workbook room `tenantId` must be the room's own tenant (which
 * `authorizeRoom` has checked equals the claims' tenant): anything else is a
 * tenancy bug and throws rather than building a cross-tenant subject.
 *
 * @param prefix first token(s) of the subject. @default "rt"
 * @throws ValidationError `ERR_INVALID_TENANT` (bad tenant id or a workbook
 *   room of another tenant), `ERR_INVALID_ROOM`, `ERR_INVALID_SUBJECT_PREFIX`
 */
export function subjectFor(
  tenantId: string,
  room: Room,
  prefix: string = DEFAULT_SUBJECT_PREFIX,
): string {
  checkPrefix(prefix);
  const tenantProblem = idProblem("tenant_id", tenantId);
  if (tenantProblem !== null) throw new ValidationError("ERR_INVALID_TENANT", [tenantProblem]);
  const found = roomProblems(room);
  if (found.length > 0) throw new ValidationError("ERR_INVALID_ROOM", found);
  const tenant = escapeToken(tenantId);
  switch (room.kind) {
    case "workbook":
      if (room.tenantId !== tenantId) {
        throw new ValidationError("ERR_INVALID_TENANT", [
          "a workbook room can only be scoped to its own tenant",
        ]);
      }
      return `${prefix}.${tenant}.${KIND_TOKENS.workbook}.${escapeToken(room.workbookId)}`;
    case "job":
      return `${prefix}.${tenant}.${KIND_TOKENS.job}.${escapeToken(room.jobId)}`;
    case "notifications":
      return `${prefix}.${tenant}.${KIND_TOKENS.notifications}.${escapeToken(room.userId)}`;
  }
}

/**
 * The wildcard covering every room of every tenant, `${prefix}.>`: the
 * subject filter of the JetStream history stream.
 *
 * @param prefix @default "rt"
 * @throws ValidationError `ERR_INVALID_SUBJECT_PREFIX`
 */
export function subjectWildcard(prefix: string = DEFAULT_SUBJECT_PREFIX): string {
  checkPrefix(prefix);
  return `${prefix}.>`;
}

/**
 * The inverse of {@link subjectFor}: the tenant and room of a subject, or
 * `null` when the subject is not one {@link subjectFor} builds with this
 * prefix (other prefix, wrong number of tokens, unknown kind, a
 * non-canonical escape, an invalid id). Never throws.
 *
 * @param prefix @default "rt"
 */
export function parseSubject(
  subject: string,
  prefix: string = DEFAULT_SUBJECT_PREFIX,
): { tenantId: string; room: Room } | null {
  if (typeof subject !== "string" || typeof prefix !== "string" || !PREFIX.test(prefix)) {
    return null;
  }
  if (!subject.startsWith(prefix) || subject.charCodeAt(prefix.length) !== 0x2e) return null;
  const tokens = subject.slice(prefix.length + 1).split(".", 4);
  if (tokens.length !== 3) return null;
  const [tenantToken, kindToken, idToken] = tokens as [string, string, string];
  let tenantId: string;
  let id: string;
  try {
    tenantId = unescapeToken(tenantToken);
    id = unescapeToken(idToken);
  } catch {
    return null;
  }
  let room: Room;
  switch (kindToken) {
    case KIND_TOKENS.workbook:
      room = { kind: "workbook", tenantId, workbookId: id };
      break;
    case KIND_TOKENS.job:
      room = { kind: "job", jobId: id };
      break;
    case KIND_TOKENS.notifications:
      room = { kind: "notifications", userId: id };
      break;
    default:
      return null;
  }
  if (idProblem("tenant_id", tenantId) !== null || roomProblems(room).length > 0) return null;
  return { tenantId, room };
}
