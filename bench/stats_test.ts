import assert from "node:assert/strict";
import { percentile, summarize } from "./stats.ts";

Deno.test("percentile takes the nearest rank, so p50 of 1..100 is 50 and p99 is 99", () => {
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(sorted, 50), 50);
  assert.equal(percentile(sorted, 99), 99);
  assert.equal(percentile(sorted, 100), 100);
});

Deno.test("percentile of nothing is NaN rather than a made-up zero", () => {
  assert.ok(Number.isNaN(percentile([], 50)));
});

Deno.test("summarize sorts numerically and keeps sub-millisecond resolution", () => {
  assert.deepEqual(summarize([0.9, 10.5, 0.25, 2]), { p50_ms: 0.9, p99_ms: 10.5, max_ms: 10.5 });
});
