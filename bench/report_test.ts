import assert from "node:assert/strict";
import { atLeast, atMost, type BenchResults, ratio, renderMarkdown } from "./report.ts";

const sample: BenchResults = {
  started_at: "2026-11-23T00:00:00.000Z",
  finished_at: "2026-11-23T00:08:00.000Z",
  quick: false,
  plan: { sql_clients: 8 },
  machine: { cores: 2, cpu: "cpu", os: "linux", deno: "2.9.6", postgres: "15.18", settings: { fsync: "on" } },
  sql: [
    {
      workload: "bare_update",
      users: "random",
      clients: 8,
      seconds: 10,
      transactions: 1,
      tps: 1000,
      latency_avg_ms: 1,
      errors: 0,
    },
    {
      workload: "consume_credits",
      users: "random",
      clients: 8,
      seconds: 10,
      transactions: 1,
      tps: 800,
      latency_avg_ms: 2,
      errors: 0,
    },
    {
      workload: "consume_credits",
      users: "random",
      clients: 16,
      seconds: 5,
      transactions: 1,
      tps: 900,
      latency_avg_ms: 3,
      errors: 0,
    },
  ],
  http: [
    {
      function: "consume-credit",
      path: "direct",
      credential: "service key",
      connections: 16,
      seconds: 5,
      requests: 1,
      rps: 300,
      p50_ms: 4,
      p99_ms: 12,
      max_ms: 30,
      errors: 0,
      statuses: { 200: 1 },
    },
  ],
  cold_start: [],
  reset: [{
    accounts: 1_000_000,
    setup_s: 1,
    bare_insert_s: 10,
    reset_s: 15,
    accounts_rolled: 1_000_000,
    credits_granted: 3,
    credits_expired: 3,
    accounts_wrong: 0,
    ledger_problems_in_sample: 0,
  }],
  profile: null,
  skipped: ["tollgate.log_ai_usage not installed"],
};

Deno.test("ratio refuses a missing or zero baseline instead of dividing by it", () => {
  assert.equal(ratio(2, 4), 0.5);
  assert.ok(Number.isNaN(ratio(2, undefined)));
  assert.ok(Number.isNaN(ratio(2, 0)));
});

Deno.test("targets are marked met or missed on the right side of the bound", () => {
  assert.equal(atLeast(0.8, 0.7), "0.80× ✅ (≥ 0.7×)");
  assert.equal(atLeast(0.5, 0.7), "0.50× ❌ (≥ 0.7×)");
  assert.equal(atMost(1.5, 2), "1.50× ✅ (≤ 2×)");
  assert.equal(atMost(12, 10, " ms"), "12.0 ms ❌ (≤ 10 ms)");
  assert.equal(atLeast(NaN, 0.7), "—");
});

Deno.test("the report compares consume with the bare UPDATE and HTTP with SQL at the same concurrency", () => {
  const md = renderMarkdown(sample);
  assert.match(
    md,
    /\| `consume_credits` \| random \| 800 \| 2\.00 \| 0 \| 0\.80× \| 0\.80× ✅ \(≥ 0\.7×\) \|/,
  );
  // 300 req/s over consume_credits at 16 clients (900 tx/s), not at pgbench's 8 clients.
  assert.match(md, /\| 0\.33× \| — \| 0\.33× ❌ \(≥ 0\.5×\); p99 12\.0 ms ❌ \(≤ 10 ms\) \|/);
  assert.match(md, /\| 1,000,000 \| 15\.0 \| 10\.0 \| 1\.50× ✅ \(≤ 2×\) \|/);
  assert.match(md, /- skipped: tollgate\.log_ai_usage not installed/);
  assert.match(md, /Machine: 2 cores \(cpu\), linux; PostgreSQL 15\.18 \(fsync=on\); Deno 2\.9\.6\./);
});
