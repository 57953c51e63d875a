import { describe, isPlainObject, own } from "./check.js";
import { CloseCode } from "./close-codes.js";
import { ValidationError } from "./errors.js";
import { idProblem, type Room } from "./rooms.js";

/**
 * The JWT claims CalcBridge Realtime reads (DESIGN.md, "Stable names"). The
 * signature, `exp`, `nbf`, `iss` and `aud` are checked by the edge's JWT
 * verifier; {@link parseClaims} checks the shape.
 */
export interface Claims {
  /** The user id: `notifications:{sub}` is this user's room. */
  sub: string;
  /** The tenant every room joined with this token is scoped to. */
  tenant_id: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
  /** Space-separated scopes; `rt:publish` lets a service publish. */
  scope?: string;
  iat?: number;
  nbf?: number;
  iss?: string;
  aud?: string | string[];
  [k: string]: unknown;
}

/** The scope that lets a token publish events (`POST /v1/publish`). */
export const PUBLISH_SCOPE = "rt:publish";

/**
 * Validates the shape of a verified JWT payload: `sub` and `tenant_id` are ids
 * (non-empty strings of at most `MAX_ID_LENGTH` units, no control
 * characters), `exp` a finite number, and the optional registered claims have
 * their RFC 7519 types. Other claims pass through untouched. Returns a shallow
 * copy (own properties only).
 *
 * @throws ValidationError `ERR_INVALID_CLAIMS`, with one reason per bad claim.
 */
export function parseClaims(payload: unknown): Claims {
  if (!isPlainObject(payload)) {
    throw new ValidationError("ERR_INVALID_CLAIMS", [
      `claims must be an object (got ${describe(payload)})`,
    ]);
  }
  const reasons: string[] = [];
  const sub = idProblem("sub", own(payload, "sub"));
  if (sub !== null) reasons.push(sub);
  const tenant = idProblem("tenant_id", own(payload, "tenant_id"));
  if (tenant !== null) reasons.push(tenant);
  if (!isFiniteNumber(own(payload, "exp"))) reasons.push("exp must be a number");
  for (const key of ["iat", "nbf"]) {
    const v = own(payload, key);
    if (v !== undefined && !isFiniteNumber(v)) reasons.push(`${key} must be a number`);
  }
  for (const key of ["scope", "iss"]) {
    const v = own(payload, key);
    if (v !== undefined && typeof v !== "string") reasons.push(`${key} must be a string`);
  }
  const aud = own(payload, "aud");
  if (
    aud !== undefined &&
    typeof aud !== "string" &&
    !(Array.isArray(aud) && aud.every((a) => typeof a === "string"))
  ) {
    reasons.push("aud must be a string or an array of strings");
  }
  if (reasons.length > 0) throw new ValidationError("ERR_INVALID_CLAIMS", reasons);
  // Spread copies own enumerable properties with define semantics: an own
  // "__proto__" key stays a plain property and never sets the prototype.
  return { ...payload } as Claims;
}

function isFiniteNumber(x: unknown): x is number {
  return typeof x === "number" && Number.isFinite(x);
}

/** Whether the space-separated `scope` claim contains `scope` (exact match of one entry). */
export function hasScope(claims: Claims, scope: string): boolean {
  const granted = claims.scope;
  if (typeof granted !== "string" || scope.length === 0) return false;
  return granted.split(" ").includes(scope);
}

/**
 * The result of {@link authorizeRoom}: the tenant the room is scoped to, or
 * the 4003 close code with a reason.
 */
export type Authorization =
  | { ok: true; tenantId: string; room: Room }
  | { ok: false; code: typeof CloseCode.FORBIDDEN; reason: string };

/**
 * The one rule that says which claims may join which room (DESIGN.md, "Rooms
 * and tenancy"):
 *
 * - `workbook:{tenant_id}:{id}`: only when `claims.tenant_id` equals the
 *   room's tenant;
 * - `job:{id}`: always, scoped to `claims.tenant_id` (tenant A's `job:x` is
 *   not tenant B's `job:x`);
 * - `notifications:{user_id}`: only when `claims.sub` equals the user id,
 *   scoped to `claims.tenant_id`.
 *
 * The returned `tenantId` is the tenant whose subject the member joins; for a
 * workbook room it equals the room's tenant.
 */
export function authorizeRoom(claims: Claims, room: Room): Authorization {
  switch (room.kind) {
    case "workbook":
      if (room.tenantId !== claims.tenant_id) {
        return deny("workbook belongs to another tenant");
      }
      return { ok: true, tenantId: claims.tenant_id, room };
    case "job":
      return { ok: true, tenantId: claims.tenant_id, room };
    case "notifications":
      if (room.userId !== claims.sub) {
        return deny("notifications of another user");
      }
      return { ok: true, tenantId: claims.tenant_id, room };
    default:
      return deny("unknown room kind");
  }
}

function deny(reason: string): Authorization {
  return { ok: false, code: CloseCode.FORBIDDEN, reason };
}
