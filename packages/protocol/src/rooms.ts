import { own, quote } from "./check.js";
import { ValidationError } from "./errors.js";

/**
 * A room of the CalcBridge API. Public names (DESIGN.md, "Rooms and tenancy"):
 * `workbook:{tenant_id}:{workbook_id}`, `job:{job_id}`, `notifications:{user_id}`.
 *
 * Job and notification rooms name no tenant: they are always scoped to the
 * tenant of the token that joins them (see `authorizeRoom`).
 */
export type Room =
  | { kind: "workbook"; tenantId: string; workbookId: string }
  | { kind: "job"; jobId: string }
  | { kind: "notifications"; userId: string };

/** The kinds of {@link Room}. */
export type RoomKind = Room["kind"];

/** Longest id (tenant, workbook, job, user), in UTF-16 code units. */
export const MAX_ID_LENGTH = 128;

const WORKBOOK_PREFIX = "workbook:";
const JOB_PREFIX = "job:";
const NOTIFICATIONS_PREFIX = "notifications:";

// C0 controls, DEL and C1 controls: Unicode general category Cc.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Checks one id against the rules every id shares: a string, non-empty, at
 * most {@link MAX_ID_LENGTH} UTF-16 units, no control characters. Any other
 * character is allowed (`.`, `*`, `>`, `:`, spaces, any Unicode): ids are
 * escaped where they become subject tokens. Returns the problem, naming
 * `field`, or `null` when the id is valid.
 */
export function idProblem(field: string, id: unknown): string | null {
  if (typeof id !== "string") return `${field} must be a string`;
  if (id.length === 0) return `${field} must not be empty`;
  if (id.length > MAX_ID_LENGTH) {
    return `${field} must be at most ${MAX_ID_LENGTH} characters (got ${id.length})`;
  }
  if (CONTROL.test(id)) return `${field} must not contain control characters`;
  return null;
}

/**
 * The one parser behind {@link parseRoom} and {@link isRoomName}: a room, or
 * the reasons why `name` is not one.
 */
function tryParseRoom(name: unknown): Room | string[] {
  if (typeof name !== "string") return ["room must be a string"];
  if (name.startsWith(WORKBOOK_PREFIX)) {
    // The tenant ends at the first ":" after the prefix; the workbook id is
    // the rest and may itself contain ":". So tenant ids of workbook rooms
    // never contain ":", which formatRoom enforces to keep the round trip.
    const rest = name.slice(WORKBOOK_PREFIX.length);
    const colon = rest.indexOf(":");
    if (colon < 0) {
      return [`room ${quote(name)} must have the form "workbook:{tenant_id}:{workbook_id}"`];
    }
    const tenantId = rest.slice(0, colon);
    const workbookId = rest.slice(colon + 1);
    const reasons = problems(
      idProblem("room tenant_id", tenantId),
      idProblem("room workbook_id", workbookId),
    );
    return reasons.length > 0 ? reasons : { kind: "workbook", tenantId, workbookId };
  }
  if (name.startsWith(JOB_PREFIX)) {
    const jobId = name.slice(JOB_PREFIX.length);
    const reasons = problems(idProblem("room job_id", jobId));
    return reasons.length > 0 ? reasons : { kind: "job", jobId };
  }
  if (name.startsWith(NOTIFICATIONS_PREFIX)) {
    const userId = name.slice(NOTIFICATIONS_PREFIX.length);
    const reasons = problems(idProblem("room user_id", userId));
    return reasons.length > 0 ? reasons : { kind: "notifications", userId };
  }
  return [`room ${quote(name)} must start with "workbook:", "job:" or "notifications:"`];
}

function problems(...found: (string | null)[]): string[] {
  return found.filter((p): p is string => p !== null);
}

/**
 * Parses a public room name: `workbook:{tenant_id}:{workbook_id}`,
 * `job:{job_id}` or `notifications:{user_id}`.
 *
 * In a workbook room the tenant id runs from after `workbook:` to the next
 * `:`, and the workbook id is everything after it (so `workbook:t1:a:b` is
 * workbook `a:b` of tenant `t1`). Job and user ids are everything after their
 * prefix. Ids follow the rules of {@link MAX_ID_LENGTH}: non-empty, bounded,
 * no control characters. `formatRoom(parseRoom(x)) === x` for every valid `x`.
 *
 * @throws ValidationError `ERR_INVALID_ROOM`, whose reasons name what is wrong.
 */
export function parseRoom(name: string): Room {
  const parsed = tryParseRoom(name);
  if (Array.isArray(parsed)) throw new ValidationError("ERR_INVALID_ROOM", parsed);
  return parsed;
}

/** Whether `name` is a valid public room name (what {@link parseRoom} accepts). Never throws. */
export function isRoomName(name: unknown): name is string {
  return !Array.isArray(tryParseRoom(name));
}

/**
 * The problems of a {@link Room} value (empty when valid): a known kind, valid
 * ids, and no `:` in a workbook room's tenant id (its public name could not be
 * parsed back). Never throws.
 */
export function roomProblems(room: unknown): string[] {
  if (typeof room !== "object" || room === null) return ["room must be an object"];
  const r = room as Record<string, unknown>;
  switch (own(r, "kind")) {
    case "workbook": {
      const tenantId = own(r, "tenantId");
      const found = problems(
        idProblem("room tenantId", tenantId),
        idProblem("room workbookId", own(r, "workbookId")),
      );
      if (found.length === 0 && (tenantId as string).includes(":")) {
        found.push('room tenantId of a workbook room must not contain ":"');
      }
      return found;
    }
    case "job":
      return problems(idProblem("room jobId", own(r, "jobId")));
    case "notifications":
      return problems(idProblem("room userId", own(r, "userId")));
    default:
      return ['room kind must be "workbook", "job" or "notifications"'];
  }
}

/**
 * The public name of a room, the inverse of {@link parseRoom}.
 *
 * @throws ValidationError `ERR_INVALID_ROOM` for an invalid room, including a
 *   workbook room whose tenant id contains `:`.
 */
export function formatRoom(room: Room): string {
  const found = roomProblems(room);
  if (found.length > 0) throw new ValidationError("ERR_INVALID_ROOM", found);
  switch (room.kind) {
    case "workbook":
      return `${WORKBOOK_PREFIX}${room.tenantId}:${room.workbookId}`;
    case "job":
      return `${JOB_PREFIX}${room.jobId}`;
    case "notifications":
      return `${NOTIFICATIONS_PREFIX}${room.userId}`;
  }
}
