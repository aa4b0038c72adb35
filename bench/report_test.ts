import assert from "node:assert/strict";
import { atLeast, atMost, type BenchResults, ratio, renderMarkdown } from "./report.ts";
import type { PgbenchResult } from "./sql_level.ts";
import type { HttpResult } from "./http_level.ts";
import type { OpenLoopResult } from "./open_loop.ts";

const pgbench = (p: Partial<PgbenchResult>): PgbenchResult => ({
  workload: "consume_credits",
  users: "random",
  protocol: "prepared",
  db: "direct",
  clients: 8,
  seconds: 10,
  transactions: 1,
  tps: 1000,
  latency_avg_ms: 1,
  errors: 0,
  ...p,
});

const http = (h: Partial<HttpResult>): HttpResult => ({
  function: "consume-credit",
  path: "direct",
  credential: "service key",
  db: "direct",
  connections: 16,
  seconds: 5,
  requests: 1,
  rps: 300,
  p50_ms: 4,
  p99_ms: 12,
  max_ms: 30,
  errors: 0,
  statuses: { 200: 1 },
  ...h,
});

const openLoop: OpenLoopResult = {
  offered_per_s: 250,
  seconds: 10,
  sent: 2500,
  ok: 2500,
  errors: 0,
  achieved_per_s: 249,
  p50_ms: 3,
  p99_ms: 9.5,
  max_ms: 20,
  max_in_flight: 6,
  max_send_lag_ms: 1.5,
};

const sample: BenchResults = {
  started_at: "2026-11-23T00:00:00.000Z",
  finished_at: "2026-11-23T00:08:00.000Z",
  quick: false,
  plan: { sql_clients: 8 },
  machine: { cores: 2, cpu: "cpu", os: "linux", deno: "2.9.6", postgres: "15.18", settings: { fsync: "on" } },
  sql: [
    pgbench({ workload: "tpcb_like", tps: 2000 }),
    pgbench({ workload: "bare_update", tps: 10000 }),
    pgbench({ workload: "consume_credits", tps: 2500, latency_avg_ms: 2 }),
    pgbench({ workload: "consume_credits", clients: 16, tps: 900, latency_avg_ms: 3 }),
    pgbench({ workload: "consume_credits", protocol: "extended", db: "pooled", tps: 1250 }),
  ],
  http: [
    http({}),
    http({ path: "gateway", credential: "user token", rps: 500 }),
    http({ path: "gateway", credential: "user token", db: "pooled", rps: 400 }),
  ],
  open_loop: [{
    ...openLoop,
    function: "consume-credit",
    path: "gateway",
    credential: "user token",
    db: "direct",
    measured_max_per_s: 500,
  }],
  cold_start: [],
  reset: [{
    accounts: 100_000,
    setup_s: 1,
    bare_insert_s: 1,
    reset_s: 7.5,
    accounts_rolled: 100_000,
    credits_granted: 3,
    credits_expired: 3,
    accounts_wrong: 0,
    ledger_problems_in_sample: 0,
    consumes_during: { ...openLoop, offered_per_s: 50, p99_ms: 13000, first_error: null },
  }],
  profile: {
    requests: 500,
    paths: [
      {
        db: "direct",
        prepare: true,
        round_trips_per_request: 2,
        statements_per_request: 3,
        parses_per_request: 0,
        trace: ["Query", "Bind Execute Sync"],
        sequential_p50_ms: 1.5,
        sequential_p99_ms: 3,
        concurrent_16_per_s: 1500,
      },
      {
        db: "pooled",
        prepare: false,
        round_trips_per_request: 3,
        statements_per_request: 3,
        parses_per_request: 2,
        trace: ["Query Parse Describe Flush", "Bind Execute Sync", "Parse Describe Bind Execute Sync"],
        sequential_p50_ms: 1.6,
        sequential_p99_ms: 3.2,
        concurrent_16_per_s: 1200,
      },
    ],
  },
  hold_settle: null,
  batch_ingest: null,
  skipped: ["batch ingest not installed (no function in schema tollgate takes p_events)"],
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
  assert.equal(atMost(3, 3, ""), "3 ✅ (≤ 3)");
  assert.equal(atMost(5, 3, ""), "5 ❌ (≤ 3)");
  assert.equal(atLeast(NaN, 0.7), "—");
});

Deno.test("the targets table holds each figure to DESIGN.md against its own baseline", () => {
  const md = renderMarkdown(sample);
  // 2,500 consume tx/s over 2,000 TPC-B-like tx/s at 8 clients.
  assert.match(
    md,
    /\| consume SQL vs TPC-B-like, 8 clients \| 2,500 vs 2,000 tx\/s \| 1\.25× ✅ \(≥ 1×\) \|/,
  );
  // The gateway with user tokens (direct database, 500 req/s) over consume SQL at 16 clients (900), not at 8.
  assert.match(md, /\| 500 req\/s vs 900 tx\/s \| 0\.56× ❌ \(≥ 0\.6×\) \|/);
  assert.match(md, /\| 250\/s offered, 249\/s achieved \| 9\.50 ms ✅ \(≤ 10 ms\) \|/);
  assert.match(md, /\| round trips per consume behind pgbouncer \| 3 \(direct 2\) \| 3 ✅ \(≤ 3\) \|/);
  // A reset of 100,000 is held to 60 s per 1,000,000: 6 s.
  assert.match(
    md,
    /\| reset of 100,000 due accounts \| 7\.5 s \(target scaled to its size\) \| 7\.50 s ❌ \(≤ 6 s\) \|/,
  );
  assert.match(
    md,
    /\| consume p99 of due users during it \| 2,500 consumes \| 13000\.0 ms ❌ \(≤ 100 ms\) \|/,
  );
  // A figure whose piece is missing says why rather than passing or failing.
  assert.match(md, /\| batch ingest \| skipped: batch ingest not installed .* \| — \|/);
});

Deno.test("the SQL table sets every workload beside both anchors, and the pooled run beside prepared", () => {
  const md = renderMarkdown(sample);
  assert.match(md, /\| `consume_credits` \| random \| 2,500 \| 2\.00 \| 0 \| 0\.25× \| 1\.25× \|/);
  assert.match(md, /\| `tpcb_like` \| random \| 2,000 \| 1\.00 \| 0 \| 0\.20× \| 1\.00× \|/);
  assert.match(md, /\| `consume_credits` \| pooled \| 1,250 \| 1\.00 \| 0 \| 0\.50× \|/);
});

Deno.test("the HTTP table compares a pooled run with the same run unpooled", () => {
  const md = renderMarkdown(sample);
  assert.match(md, /\| consume-credit \| gateway \| user token \| pooled \| 16 \| 400 \|.*\| 0\.80× \|\n/);
  assert.match(
    md,
    /\| consume-credit \| gateway \| user token \| direct \| 16 \| 500 \|.* 0\.56× ❌ \(≥ 0\.6×\) \|/,
  );
});

Deno.test("the profile shows each path's messages flush by flush, and the report lists what was skipped", () => {
  const md = renderMarkdown(sample);
  assert.match(
    md,
    /- pooled: `Query Parse Describe Flush` → `Bind Execute Sync` → `Parse Describe Bind Execute Sync`/,
  );
  assert.match(md, /- skipped: batch ingest not installed/);
  assert.match(md, /Machine: 2 cores \(cpu\), linux; PostgreSQL 15\.18 \(fsync=on\); Deno 2\.9\.6\./);
});
