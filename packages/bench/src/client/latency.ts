import * as hdr from "hdr-histogram-js";

/*
 * One-way latency from the publisher's send time, which every bench event
 * carries as `"ts":<ms since the epoch, fractional>` (performance.timeOrigin +
 * performance.now() in the publisher). All processes run on one machine, so
 * their clocks agree to well under a millisecond. Histograms are HdrHistogram
 * (the `hdr-histogram-js` port), in microseconds, 3 significant digits.
 */

/** The marker before the send time in an event's bytes. */
export const TS_MARKER = Buffer.from('"ts":', "latin1");

/** Highest latency recorded, in µs (larger values are clamped to it). */
export const MAX_LATENCY_US = 120_000_000;

export type LatencyHistogram = hdr.Histogram;

export function newHistogram(): LatencyHistogram {
  return hdr.build({
    bitBucketSize: 32,
    lowestDiscernibleValue: 1,
    highestTrackableValue: MAX_LATENCY_US,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
}

/** Wall-clock time in ms, with sub-ms precision, comparable across processes. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Reads the send time from `buf[start, end)`: a fixed-marker search and a
 * hand-rolled decimal read, no string is made. NaN when there is none.
 */
export function readSendTime(buf: Buffer, start: number, end: number): number {
  const at = buf.indexOf(TS_MARKER, start);
  if (at < 0 || at >= end) return NaN;
  let j = at + TS_MARKER.length;
  let value = 0;
  let digits = 0;
  let c = buf[j]!;
  while (j < end && c >= 0x30 && c <= 0x39) {
    value = value * 10 + (c - 0x30);
    digits++;
    c = buf[++j]!;
  }
  if (digits === 0) return NaN;
  if (c === 0x2e) {
    let scale = 0.1;
    c = buf[++j]!;
    while (j < end && c >= 0x30 && c <= 0x39) {
      value += (c - 0x30) * scale;
      scale /= 10;
      c = buf[++j]!;
    }
  }
  return value;
}

export function recordLatencyMs(h: LatencyHistogram, ms: number): void {
  const us = Math.round(ms * 1000);
  h.recordValue(us < 1 ? 1 : us > MAX_LATENCY_US ? MAX_LATENCY_US : us);
}

/** A histogram as it crosses a process boundary. */
export function encodeHistogram(h: LatencyHistogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decodeHistogram(s: string): LatencyHistogram {
  return hdr.decodeFromCompressedBase64(s, 32, false);
}

/** Latency figures of one measurement, in ms. */
export interface LatencySummary {
  samples: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

export function summarize(h: LatencyHistogram): LatencySummary {
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    samples: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
  };
}
