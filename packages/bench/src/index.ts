export { ClientPool } from "./client/pool.js";
export { Connection } from "./client/connection.js";
export { FrameParser, clientFrame } from "./client/frame-parser.js";
export { readSendTime, newHistogram, summarize, TS_MARKER } from "./client/latency.js";
export {
  parseOptions,
  SCENARIOS,
  DEFAULT_RATES,
  DEFAULT_ROOM_RATES,
  OptionsError,
} from "./options.js";
export { DEFAULT_THRESHOLDS, evaluate } from "./report/thresholds.js";
export { renderMarkdown } from "./report/markdown.js";
export { padFor, benchRequest } from "./publisher/payload.js";

export type { ClientMode, ConnectionSpec } from "./client/connection.js";
export type { OpenResult, PoolStats } from "./client/pool.js";
export type { LatencySummary } from "./client/latency.js";
export type { BenchOptions, ScenarioName } from "./options.js";
export type { Thresholds, ThresholdResult, Verdict } from "./report/thresholds.js";
export type { RunReport } from "./report/markdown.js";
export type { SeriesReport, ConnsReport } from "./scenarios/context.js";
export type { StepResult, SeriesResult } from "./scenarios/stepper.js";
