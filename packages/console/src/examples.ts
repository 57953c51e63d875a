import type { EventPayloads, EventType } from "@calcbridge/protocol";

/**
 * A valid example payload of every event type, for the publish form. The
 * mapped type makes a missing type a compile error; the browser test
 * publishes each of them and expects a 202.
 */
export const EXAMPLE_PAYLOADS: { readonly [T in EventType]: EventPayloads[T] } = {
  "workbook.status_changed": {
    workbook_id: "wb_1",
    status: "ready",
    previous_status: "processing",
  },
  "workbook.processing_started": { workbook_id: "wb_1", job_id: "job_1" },
  "workbook.processing_progress": { workbook_id: "wb_1", progress: 42, stage: "calculating" },
  "workbook.processing_completed": {
    workbook_id: "wb_1",
    sheets: ["Sheet1", "Summary"],
    duration_ms: 3200,
  },
  "workbook.processing_failed": {
    workbook_id: "wb_1",
    error: { code: "FORMULA_ERROR", message: "#REF! in Sheet1!B2" },
  },
  "sheet.data_updated": {
    workbook_id: "wb_1",
    sheet: "Sheet1",
    range: "A1:C10",
    changes: [{ cell: "B2", value: 42 }],
  },
  "job.started": { job_id: "job_1" },
  "job.progress": { job_id: "job_1", progress: 50, stage: "calculating", message: "halfway" },
  "job.completed": { job_id: "job_1", result: { rows_processed: 150, duration_ms: 3200 } },
  "job.failed": { job_id: "job_1", error: { code: "TIMEOUT", message: "the job ran too long" } },
  "job.cancelled": { job_id: "job_1", reason: "cancelled by the user" },
  "job.retrying": {
    job_id: "job_1",
    attempt: 2,
    next_retry_at: "2026-01-25T10:31:00Z",
    error: { code: "TIMEOUT", message: "the job ran too long" },
  },
  notification: { id: "n_1", title: "Export ready", body: "Your export of Q4.xlsx is ready" },
  alert: { priority: "high", title: "Quota", message: "90% of the monthly quota is used" },
};

/** The room an event of `type` usually goes to, for the given identity. */
export function exampleRoom(type: EventType, identity: { sub: string; tenant: string }): string {
  if (type.startsWith("job.")) return "job:job_1";
  if (type.startsWith("workbook.") || type.startsWith("sheet."))
    return `workbook:${identity.tenant}:wb_1`;
  return `notifications:${identity.sub}`;
}

/** The example payload of `type` as the form shows it. */
export function examplePayloadText(type: EventType): string {
  return JSON.stringify(EXAMPLE_PAYLOADS[type], null, 2);
}
