/** Latency statistics computed from every response time (autocannon's own histogram keeps whole ms only). */

export interface LatencySummary {
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** p50, p99 and max of the given response times, in ms. */
export function summarize(times: number[]): LatencySummary {
  const sorted = Float64Array.from(times).sort();
  return {
    p50_ms: percentile(sorted, 50),
    p99_ms: percentile(sorted, 99),
    max_ms: sorted.length ? sorted[sorted.length - 1] : NaN,
  };
}
