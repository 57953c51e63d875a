import { describe, isPlainObject, own } from "./check.js";
import { idProblem } from "./rooms.js";

/*
 * The event types of the CalcBridge public API and the shapes of their
 * payloads. Every payload is a JSON object; the fields below are checked, any
 * other field is allowed and passes through (forward compatible: a backend may
 * add fields before this package knows them).
 *
 * Any event type may be published to any room kind: `notification` and
 * `alert` usually go to `notifications:{user}`, `job.*` to `job:{id}` and
 * `workbook.*`/`sheet.*` to `workbook:{tenant}:{id}`, but a job's progress on
 * its workbook's room or a tenant-wide alert on a workbook room are legitimate,
 * and tenancy does not depend on the type. Nor is a payload's `job_id` or
 * `workbook_id` required to match the room's id.
 */

/** An error as events report it. */
export interface EventError {
  /** A machine-readable code, e.g. `"FORMULA_ERROR"`. */
  code?: string;
  /** What went wrong, for people. */
  message: string;
  [k: string]: unknown;
}

/** `workbook.status_changed`: a workbook moved to another status. */
export interface WorkbookStatusChangedPayload {
  workbook_id: string;
  /** The new status, e.g. `"processing"`, `"ready"`, `"error"`. */
  status: string;
  /** The status before the change, if known. */
  previous_status?: string;
  [k: string]: unknown;
}

/** `workbook.processing_started`: a workbook started processing. */
export interface WorkbookProcessingStartedPayload {
  workbook_id: string;
  /** The job doing the processing, if any. */
  job_id?: string;
  [k: string]: unknown;
}

/** `workbook.processing_progress`: how far the processing of a workbook is. */
export interface WorkbookProcessingProgressPayload {
  workbook_id: string;
  /** Percent done, a number from 0 to 100. */
  progress: number;
  /** The current stage, e.g. `"parsing"`, `"calculating"`. */
  stage?: string;
  message?: string;
  [k: string]: unknown;
}

/** `workbook.processing_completed`: a workbook finished processing. */
export interface WorkbookProcessingCompletedPayload {
  workbook_id: string;
  /** Names of the sheets processed. */
  sheets?: string[];
  /** Processing time in milliseconds (a number >= 0). */
  duration_ms?: number;
  [k: string]: unknown;
}

/** `workbook.processing_failed`: the processing of a workbook failed. */
export interface WorkbookProcessingFailedPayload {
  workbook_id: string;
  error: EventError;
  [k: string]: unknown;
}

/** `sheet.data_updated`: cells of a sheet changed. */
export interface SheetDataUpdatedPayload {
  workbook_id: string;
  /** The sheet's name. */
  sheet: string;
  /** The range that changed, in A1 notation (e.g. `"A1:C10"`); not parsed here. */
  range?: string;
  /** The changes, one object each (e.g. `{ "cell": "B2", "value": 42 }`). */
  changes?: Record<string, unknown>[];
  [k: string]: unknown;
}

/** `job.started`: a job started. */
export interface JobStartedPayload {
  job_id: string;
  [k: string]: unknown;
}

/** `job.progress`: how far a job is. */
export interface JobProgressPayload {
  job_id: string;
  /** Percent done, a number from 0 to 100. */
  progress: number;
  stage?: string;
  message?: string;
  [k: string]: unknown;
}

/** `job.completed`: a job finished; `result` is job-specific. */
export interface JobCompletedPayload {
  job_id: string;
  /** e.g. `{ "rows_processed": 150, "duration_ms": 3200 }`. */
  result?: Record<string, unknown>;
  [k: string]: unknown;
}

/** `job.failed`: a job failed for good. */
export interface JobFailedPayload {
  job_id: string;
  error: EventError;
  [k: string]: unknown;
}

/** `job.cancelled`: a job was cancelled. */
export interface JobCancelledPayload {
  job_id: string;
  reason?: string;
  [k: string]: unknown;
}

/** `job.retrying`: a job failed and will run again. */
export interface JobRetryingPayload {
  job_id: string;
  /** The attempt about to run, an integer >= 1. */
  attempt: number;
  /** When it will run, an ISO 8601 UTC date-time. */
  next_retry_at?: string;
  /** Why the previous attempt failed. */
  error?: EventError;
  [k: string]: unknown;
}

/** `notification`: a message for a user. */
export interface NotificationPayload {
  id?: string;
  title: string;
  body?: string;
  message?: string;
  [k: string]: unknown;
}

/** How urgent an {@link AlertPayload} is. */
export type AlertPriority = "low" | "normal" | "high" | "critical";

/** `alert`: something that needs attention. */
export interface AlertPayload {
  priority: AlertPriority;
  message: string;
  id?: string;
  title?: string;
  [k: string]: unknown;
}

/** The payload type of each event type. */
export interface EventPayloads {
  "workbook.status_changed": WorkbookStatusChangedPayload;
  "workbook.processing_started": WorkbookProcessingStartedPayload;
  "workbook.processing_progress": WorkbookProcessingProgressPayload;
  "workbook.processing_completed": WorkbookProcessingCompletedPayload;
  "workbook.processing_failed": WorkbookProcessingFailedPayload;
  "sheet.data_updated": SheetDataUpdatedPayload;
  "job.started": JobStartedPayload;
  "job.progress": JobProgressPayload;
  "job.completed": JobCompletedPayload;
  "job.failed": JobFailedPayload;
  "job.cancelled": JobCancelledPayload;
  "job.retrying": JobRetryingPayload;
  notification: NotificationPayload;
  alert: AlertPayload;
}

/** An event type of the CalcBridge API. */
export type EventType = keyof EventPayloads;

/** The alert priorities, lowest first. */
export const ALERT_PRIORITIES: readonly AlertPriority[] = Object.freeze([
  "low",
  "normal",
  "high",
  "critical",
]);

type Check = (p: Record<string, unknown>, reasons: string[]) => void;

const checkWorkbookId: Check = (p, r) => requireId(p, "workbook_id", r);
const checkJobId: Check = (p, r) => requireId(p, "job_id", r);

// One entry per event type; the mapped type makes a missing one a compile error.
const CHECKS: { readonly [T in EventType]: readonly Check[] } = {
  "workbook.status_changed": [
    checkWorkbookId,
    (p, r) => requireText(p, "status", r),
    (p, r) => optionalString(p, "previous_status", r),
  ],
  "workbook.processing_started": [checkWorkbookId, (p, r) => optionalId(p, "job_id", r)],
  "workbook.processing_progress": [
    checkWorkbookId,
    (p, r) => requireProgress(p, r),
    (p, r) => optionalString(p, "stage", r),
    (p, r) => optionalString(p, "message", r),
  ],
  "workbook.processing_completed": [
    checkWorkbookId,
    (p, r) => {
      const v = own(p, "sheets");
      if (v !== undefined && !(Array.isArray(v) && v.every((s) => typeof s === "string"))) {
        r.push("payload.sheets must be an array of sheet names (strings)");
      }
    },
    (p, r) => optionalDuration(p, "duration_ms", r),
  ],
  "workbook.processing_failed": [checkWorkbookId, (p, r) => requireError(p, "error", r)],
  "sheet.data_updated": [
    checkWorkbookId,
    (p, r) => requireText(p, "sheet", r),
    (p, r) => optionalString(p, "range", r),
    (p, r) => {
      const v = own(p, "changes");
      if (v !== undefined && !(Array.isArray(v) && v.every(isPlainObject))) {
        r.push("payload.changes must be an array of objects");
      }
    },
  ],
  "job.started": [checkJobId],
  "job.progress": [
    checkJobId,
    (p, r) => requireProgress(p, r),
    (p, r) => optionalString(p, "stage", r),
    (p, r) => optionalString(p, "message", r),
  ],
  "job.completed": [
    checkJobId,
    (p, r) => {
      const v = own(p, "result");
      if (v !== undefined && !isPlainObject(v)) r.push("payload.result must be an object");
    },
  ],
  "job.failed": [checkJobId, (p, r) => requireError(p, "error", r)],
  "job.cancelled": [checkJobId, (p, r) => optionalString(p, "reason", r)],
  "job.retrying": [
    checkJobId,
    (p, r) => {
      const v = own(p, "attempt");
      if (!(typeof v === "number" && Number.isSafeInteger(v) && v >= 1)) {
        r.push("payload.attempt must be an integer >= 1");
      }
    },
    (p, r) => {
      const v = own(p, "next_retry_at");
      if (v !== undefined && !isIsoUtcTimestamp(v)) {
        r.push("payload.next_retry_at must be an ISO 8601 UTC date-time");
      }
    },
    (p, r) => {
      if (own(p, "error") !== undefined) requireError(p, "error", r);
    },
  ],
  notification: [
    (p, r) => optionalId(p, "id", r),
    (p, r) => requireText(p, "title", r),
    (p, r) => optionalString(p, "body", r),
    (p, r) => optionalString(p, "message", r),
  ],
  alert: [
    (p, r) => {
      const v = own(p, "priority");
      if (!(typeof v === "string" && (ALERT_PRIORITIES as readonly string[]).includes(v))) {
        r.push(
          `payload.priority must be one of ${ALERT_PRIORITIES.map((x) => `"${x}"`).join(", ")}`,
        );
      }
    },
    (p, r) => requireText(p, "message", r),
    (p, r) => optionalId(p, "id", r),
    (p, r) => optionalString(p, "title", r),
  ],
};

/** Every event type, in documentation order. */
export const EVENT_TYPES: readonly EventType[] = Object.freeze(Object.keys(CHECKS) as EventType[]);

const EVENT_TYPE_SET: ReadonlySet<string> = new Set(EVENT_TYPES);

/** Whether `x` is one of {@link EVENT_TYPES}. */
export function isEventType(x: unknown): x is EventType {
  return typeof x === "string" && EVENT_TYPE_SET.has(x);
}

/**
 * Checks a payload against the shape of its event type. Returns the reasons
 * it is invalid, each naming the field (`"payload.progress must be a number
 * from 0 to 100"`); an empty array means valid. Only the documented fields are
 * checked, and only at their own level: other fields, and whatever nests in
 * `result` or `changes`, pass untouched. Never throws.
 */
export function validatePayload(type: EventType, payload: unknown): string[] {
  if (!isEventType(type)) return [`type must be a known event type`];
  if (!isPlainObject(payload)) return [`payload must be an object (got ${describe(payload)})`];
  const reasons: string[] = [];
  for (const check of CHECKS[type]) check(payload, reasons);
  return reasons;
}

function requireId(p: Record<string, unknown>, key: string, reasons: string[]): void {
  const v = own(p, key);
  const problem = v === undefined ? `payload.${key} is required` : idProblem(`payload.${key}`, v);
  if (problem !== null) reasons.push(problem);
}

function optionalId(p: Record<string, unknown>, key: string, reasons: string[]): void {
  if (own(p, key) !== undefined) requireId(p, key, reasons);
}

function requireText(p: Record<string, unknown>, key: string, reasons: string[]): void {
  const v = own(p, key);
  if (v === undefined) {
    reasons.push(`payload.${key} is required`);
  } else if (typeof v !== "string" || v.length === 0) {
    reasons.push(`payload.${key} must be a non-empty string`);
  }
}

function optionalString(p: Record<string, unknown>, key: string, reasons: string[]): void {
  const v = own(p, key);
  if (v !== undefined && typeof v !== "string") reasons.push(`payload.${key} must be a string`);
}

function optionalDuration(p: Record<string, unknown>, key: string, reasons: string[]): void {
  const v = own(p, key);
  if (v !== undefined && !(typeof v === "number" && Number.isFinite(v) && v >= 0)) {
    reasons.push(`payload.${key} must be a number >= 0`);
  }
}

function requireProgress(p: Record<string, unknown>, reasons: string[]): void {
  const v = own(p, "progress");
  if (!(typeof v === "number" && v >= 0 && v <= 100)) {
    reasons.push("payload.progress must be a number from 0 to 100");
  }
}

function requireError(p: Record<string, unknown>, key: string, reasons: string[]): void {
  const v = own(p, key);
  if (!isPlainObject(v)) {
    reasons.push(`payload.${key} must be an object with a "message"`);
    return;
  }
  const message = own(v, "message");
  if (typeof message !== "string" || message.length === 0) {
    reasons.push(`payload.${key}.message must be a non-empty string`);
  }
  const code = own(v, "code");
  if (code !== undefined && typeof code !== "string") {
    reasons.push(`payload.${key}.code must be a string`);
  }
}

// YYYY-MM-DDTHH:MM:SS[.fraction]Z, the UTC profile of ISO 8601 (RFC 3339 §5.6 with "Z").
const ISO_UTC = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?Z$/;

/**
 * Whether `x` is an ISO 8601 UTC date-time such as `2026-01-25T10:30:15Z` or
 * `2026-01-25T10:30:15.123Z`: the `Z` designator, no offsets, a real calendar
 * date and time (no leap second).
 */
export function isIsoUtcTimestamp(x: unknown): x is string {
  if (typeof x !== "string" || x.length > 40) return false;
  const m = ISO_UTC.exec(x);
  if (m === null) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return false;
  return day <= daysInMonth(year, month);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) {
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    return leap ? 29 : 28;
  }
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}
