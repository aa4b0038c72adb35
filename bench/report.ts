/** The run's figures as JSON and as Markdown tables with each figure's ratio to its baseline and target. */
import type { ColdStartResult } from "./cold_start.ts";
import type { BatchIngestResult, HoldSettleResult } from "./hooks.ts";
import type { HttpResult, OpenLoopRun } from "./http_level.ts";
import type { ProfileResult } from "./profile.ts";
import type { ResetResult } from "./reset.ts";
import { BATCH_EVENTS, type PgbenchResult } from "./sql_level.ts";

export interface BenchResults {
  started_at: string;
  finished_at: string;
  quick: boolean;
  plan: Record<string, unknown>;
  machine: {
    cores: number;
    cpu: string;
    os: string;
    deno: string;
    postgres: string;
    settings: Record<string, string>;
  };
  sql: PgbenchResult[];
  http: HttpResult[];
  open_loop: OpenLoopRun[];
  cold_start: ColdStartResult[];
  reset: ResetResult[];
  profile: ProfileResult | null;
  hold_settle: HoldSettleResult | null;
  batch_ingest: BatchIngestResult | null;
  skipped: string[];
}

/** DESIGN.md "Performance". */
export const TARGETS = {
  /** consume_credits tx/s over pgbench's TPC-B-like tx/s, both at 8 clients. */
  consumeVsTpcb: 1.0,
  /** consume-credit through the gateway with user tokens at 16 connections over consume_credits at 16 clients. */
  gatewayVsSql: 0.6,
  /** p99 of that call offered open-loop at half its measured rate. */
  openLoopP99Ms: 10,
  /** Client round trips per consume behind pgbouncer in transaction mode. */
  pooledRoundTrips: 3,
  batchEventsPerSecond: 20_000,
  /** A reset of 1,000,000 due accounts; smaller resets are held to the same rate per account. */
  resetSecondsPerMillion: 60,
  /** p99 of consumes by due users while the reset runs. */
  dueConsumeP99Ms: 100,
};

const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString("en", { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : "—";
const ms = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n.toFixed(1)) : "—");

/** a / b, or NaN when there is no baseline. */
export function ratio(a: number | undefined, b: number | undefined): number {
  return a !== undefined && b !== undefined && b > 0 ? a / b : NaN;
}

/** "0.82× ✅ (≥ 0.7×)": a ratio against an at-least target. */
export function atLeast(value: number, target: number, unit = "×"): string {
  if (!Number.isFinite(value)) return "—";
  const shown = unit === "×" ? `${value.toFixed(2)}×` : `${fmt(value)}${unit}`;
  return `${shown} ${value >= target ? "✅" : "❌"} (≥ ${
    unit === "×" ? `${target}×` : `${fmt(target)}${unit}`
  })`;
}

/** "1.6× ✅ (≤ 2×)": a ratio (or with `unit`, a time in it; "" a count) against an at-most target. */
export function atMost(value: number, target: number, unit = "×"): string {
  if (!Number.isFinite(value)) return "—";
  const shown = unit === "×" ? `${value.toFixed(2)}×` : unit === "" ? String(value) : `${ms(value)}${unit}`;
  return `${shown} ${value <= target ? "✅" : "❌"} (≤ ${target}${unit})`;
}

/** "0.82×", or "—" when there is no baseline. */
const times = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : "—");

function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

/** The SQL run of batch ingest (pgbench, one batch per transaction), if it was measured. */
const batchSql = (r: BenchResults) => r.sql.find((s) => s.workload === "log_ai_usage_batch");

/** The pgbench run of `workload`; by default prepared and direct, as every anchor is. */
function sqlAt(
  r: BenchResults,
  workload: string,
  users: string,
  clients: number,
  via: { protocol?: string; db?: string } = {},
): PgbenchResult | undefined {
  return r.sql.find((s) =>
    s.workload === workload && s.users === users && s.clients === clients &&
    s.protocol === (via.protocol ?? "prepared") && s.db === (via.db ?? "direct")
  );
}

const userTokenGateway = (r: BenchResults, db: string) =>
  r.http.find((h) =>
    h.function === "consume-credit" && h.credential === "user token" && h.path === "gateway" &&
    h.connections === 16 && h.db === db
  );

/** The largest reset, with its target scaled to its size. */
function largestReset(r: BenchResults): ResetResult | undefined {
  return r.reset.reduce<ResetResult | undefined>(
    (a, x) => (!a || x.accounts > a.accounts ? x : a),
    undefined,
  );
}

const resetTarget = (accounts: number) => (TARGETS.resetSecondsPerMillion * accounts) / 1_000_000;

/** Why a figure is missing: the skip note that names it, else that its phase did not run. */
function missing(r: BenchResults, word: string): string {
  const note = r.skipped.find((s) => s.includes(word));
  return note ? `skipped: ${note}` : "not measured in this run";
}

/** One row per DESIGN.md target: the figure, what it is measured against, and whether it is met. */
function targetsSection(r: BenchResults): string {
  const clients = Number(r.plan.sql_clients);
  const consume = sqlAt(r, "consume_credits", "random", clients);
  const tpcb = sqlAt(r, "tpcb_like", "random", clients);
  const gateway = userTokenGateway(r, "direct");
  const sql16 = sqlAt(r, "consume_credits", "random", 16);
  const open = r.open_loop.find((o) => o.db === "direct");
  const pooled = r.profile?.paths.find((p) => p.db === "pooled");
  const reset = largestReset(r);
  const rows: string[][] = [
    [
      `consume SQL vs TPC-B-like, ${clients} clients`,
      consume && tpcb ? `${fmt(consume.tps)} vs ${fmt(tpcb.tps)} tx/s` : "—",
      atLeast(ratio(consume?.tps, tpcb?.tps), TARGETS.consumeVsTpcb),
    ],
    [
      "consume-credit via gateway, user tokens, 16 conns, vs its SQL at 16 clients",
      gateway && sql16 ? `${fmt(gateway.rps)} req/s vs ${fmt(sql16.tps)} tx/s` : "—",
      atLeast(ratio(gateway?.rps, sql16?.tps), TARGETS.gatewayVsSql),
    ],
    [
      "p99 of that, offered open-loop at half its rate",
      open ? `${fmt(open.offered_per_s)}/s offered, ${fmt(open.achieved_per_s)}/s achieved` : "—",
      open ? atMost(open.p99_ms, TARGETS.openLoopP99Ms, " ms") : "—",
    ],
    [
      "round trips per consume behind pgbouncer",
      pooled
        ? `${pooled.round_trips_per_request} (direct ${r.profile?.paths[0].round_trips_per_request})`
        : "—",
      pooled ? atMost(pooled.round_trips_per_request, TARGETS.pooledRoundTrips, "") : "—",
    ],
    [
      "batch ingest",
      r.batch_ingest
        ? `${fmt(r.batch_ingest.events_per_s)} events/s` +
          (batchSql(r) ? ` (SQL ${fmt(batchSql(r)!.tps * BATCH_EVENTS)})` : "")
        : missing(r, "batch ingest"),
      r.batch_ingest ? atLeast(r.batch_ingest.events_per_s, TARGETS.batchEventsPerSecond, "/s") : "—",
    ],
    [
      reset ? `reset of ${fmt(reset.accounts)} due accounts` : "reset of 1,000,000 due accounts",
      reset
        ? `${reset.reset_s.toFixed(1)} s${reset.accounts === 1_000_000 ? "" : " (target scaled to its size)"}`
        : "—",
      reset ? atMost(reset.reset_s, resetTarget(reset.accounts), " s") : "—",
    ],
    [
      "consume p99 of due users during it",
      reset?.consumes_during ? `${fmt(reset.consumes_during.sent)} consumes` : "—",
      reset?.consumes_during ? atMost(reset.consumes_during.p99_ms, TARGETS.dueConsumeP99Ms, " ms") : "—",
    ],
  ];
  return [
    '### Targets (DESIGN.md "Performance")',
    "",
    table(["target", "figure", "verdict"], rows),
  ].join("\n");
}

function sqlSection(r: BenchResults): string {
  const clients = Number(r.plan.sql_clients);
  const anchors = r.sql.filter((s) =>
    s.clients === clients && s.protocol === "prepared" && s.db === "direct" && s !== batchSql(r)
  );
  const rows = anchors.map((s) => {
    const bare = sqlAt(r, "bare_update", s.users, clients);
    const tpcb = sqlAt(r, "tpcb_like", s.users, clients);
    return [
      `\`${s.workload}\``,
      s.users,
      fmt(s.tps),
      ms(s.latency_avg_ms),
      String(s.errors),
      s.workload === "bare_update" ? "1.00×" : times(ratio(s.tps, bare?.tps)),
      s.workload === "tpcb_like" ? "1.00×" : times(ratio(s.tps, tpcb?.tps)),
    ];
  });
  const sweep = r.sql.filter((s) => s.clients !== clients).map((s) => [
    `\`${s.workload}\``,
    String(s.clients),
    fmt(s.tps),
    ms(s.latency_avg_ms),
    String(s.errors),
  ]);
  const unnamed = r.sql.filter((s) => s.protocol === "extended");
  const prepared = sqlAt(r, "consume_credits", "random", clients);
  const pooler = unnamed.map((s) => [
    `\`${s.workload}\``,
    s.db,
    fmt(s.tps),
    ms(s.latency_avg_ms),
    String(s.errors),
    times(ratio(s.tps, prepared?.tps)),
  ]);
  return [
    `### SQL level (pgbench, ${clients} clients, prepared, durable)`,
    "",
    table(["workload", "users", "tx/s", "avg ms", "errors", "vs bare UPDATE", "vs TPC-B-like"], rows),
    ...(sweep.length
      ? [
        "",
        "The same SQL at the HTTP runs' concurrency (random users), the baselines of the HTTP figures:",
        "",
        table(["workload", "clients", "tx/s", "avg ms", "errors"], sweep),
      ]
      : []),
    ...(pooler.length
      ? [
        "",
        `Unnamed statements (\`-M extended\`, what a transaction pooler allows), direct and through pgbouncer, ${clients} clients, random users:`,
        "",
        table(["workload", "db", "tx/s", "avg ms", "errors", "vs prepared direct"], pooler),
      ]
      : []),
  ].join("\n");
}

const SQL_OF: Record<string, string> = {
  "consume-credit": "consume_credits",
  "log-ai-usage": "log_ai_usage",
};

/** The run of the same function, credential and connections as `h`, on the path or database given. */
function sameRun(r: BenchResults, h: HttpResult, on: { path?: HttpResult["path"]; db?: HttpResult["db"] }) {
  return r.http.find((d) =>
    d.function === h.function && d.credential === h.credential && d.connections === h.connections &&
    d.path === (on.path ?? h.path) && d.db === (on.db ?? h.db)
  );
}

function httpSection(r: BenchResults): string {
  const rows = r.http.map((h) => {
    const sql = SQL_OF[h.function] ? sqlAt(r, SQL_OF[h.function], "random", h.connections) : undefined;
    const direct = sameRun(r, h, { path: "direct" });
    const unpooled = h.db === "pooled" ? sameRun(r, h, { db: "direct" }) : undefined;
    const isTarget = h === userTokenGateway(r, "direct");
    return [
      h.function,
      h.path,
      h.credential,
      h.db,
      String(h.connections),
      fmt(h.rps),
      ms(h.p50_ms),
      ms(h.p99_ms),
      ms(h.max_ms),
      String(h.errors),
      isTarget ? atLeast(ratio(h.rps, sql?.tps), TARGETS.gatewayVsSql) : times(ratio(h.rps, sql?.tps)),
      h.path === "gateway" ? times(ratio(h.rps, direct?.rps)) : "—",
      h.db === "pooled" ? times(ratio(h.rps, unpooled?.rps)) : "—",
    ];
  });
  return [
    "### HTTP level (autocannon, closed loop)",
    "",
    table(
      [
        "function",
        "path",
        "credential",
        "db",
        "conns",
        "req/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "errors",
        "vs SQL",
        "vs direct",
        "vs unpooled",
      ],
      rows,
    ),
  ].join("\n");
}

/** Where each request's CPU went, at 16 connections: the parties share the cores, so their sum bounds the rate. */
function cpuSection(r: BenchResults): string {
  const rows = r.http.filter((h) => h.cpu && h.connections === 16).map((h) => {
    const c = h.cpu!;
    const total = c.function_ms + c.bench_ms + c.postgres_ms;
    return [
      h.function,
      h.path,
      h.credential,
      h.db,
      ms(c.function_ms),
      ms(c.bench_ms),
      ms(c.postgres_ms),
      ms(total),
      fmt((r.machine.cores * 1000) / total),
    ];
  });
  return [
    "### CPU per request at 16 connections (ms, from /proc; bench = load generator + gateway stand-in)",
    "",
    table(
      [
        "function",
        "path",
        "credential",
        "db",
        "function",
        "bench",
        "postgres",
        "total",
        "cores / total, req/s",
      ],
      rows,
    ),
  ].join("\n");
}

function openLoopSection(r: BenchResults): string {
  return [
    "### Open loop (fixed offered rate: half the closed-loop rate above; latency from each scheduled send)",
    "",
    table(
      [
        "function",
        "path",
        "credential",
        "db",
        "offered /s",
        "achieved /s",
        "sent",
        "p50 ms",
        "p99 ms",
        "max ms",
        "errors",
        "max in flight",
        "max send lag ms",
      ],
      r.open_loop.map((o) => [
        o.function,
        o.path,
        o.credential,
        o.db,
        fmt(o.offered_per_s),
        fmt(o.achieved_per_s),
        fmt(o.sent),
        ms(o.p50_ms),
        atMost(o.p99_ms, TARGETS.openLoopP99Ms, " ms"),
        ms(o.max_ms),
        String(o.errors),
        String(o.max_in_flight),
        ms(o.max_send_lag_ms),
      ]),
    ),
  ].join("\n");
}

function resetSection(r: BenchResults): string {
  const rows = r.reset.map((x) => [
    fmt(x.accounts),
    atMost(x.reset_s, resetTarget(x.accounts), " s"),
    x.bare_insert_s.toFixed(1),
    times(ratio(x.reset_s, x.bare_insert_s)),
    fmt(x.accounts_rolled),
    `${x.accounts_wrong} / ${x.ledger_problems_in_sample}`,
    x.setup_s.toFixed(1),
  ]);
  const during = r.reset.filter((x) => x.consumes_during).map((x) => {
    const c = x.consumes_during!;
    return [
      fmt(x.accounts),
      `${fmt(c.offered_per_s)}/s`,
      fmt(c.sent),
      ms(c.p50_ms),
      atMost(c.p99_ms, TARGETS.dueConsumeP99Ms, " ms"),
      ms(c.max_ms),
      String(c.errors) + (c.first_error ? ` (${c.first_error})` : ""),
    ];
  });
  return [
    "### Reset (`call reset_monthly_quotas_in_batches`, batches of 2,000 that commit)",
    "",
    table([
      "due accounts",
      "reset s",
      "bare INSERT…SELECT s",
      "vs bare",
      "rolled",
      "wrong / ledger problems",
      "setup s",
    ], rows),
    ...(during.length
      ? [
        "",
        "Consumes by users of the due cohort while it ran (open loop, each user once, in-process `consumeWith`):",
        "",
        table(["due accounts", "offered", "sent", "p50 ms", "p99 ms", "max ms", "errors"], during),
      ]
      : []),
  ].join("\n");
}

function coldSection(r: BenchResults): string {
  return [
    "### Cold start (process start to first answered request)",
    "",
    table(
      ["function", "median ms", "max ms", "first status"],
      r.cold_start.map((c) => [c.function, fmt(c.median_ms), fmt(c.max_ms), String(c.status)]),
    ),
  ].join("\n");
}

function profileSection(p: ProfileResult): string {
  return [
    "### Consume path profile (`consumeWith`, in-process, service key)",
    "",
    table(
      [
        "db",
        "prepared",
        "round trips / request",
        "statements / request",
        "parses / request",
        "sequential p50 ms",
        "sequential p99 ms",
        "16 concurrent /s",
      ],
      p.paths.map((x) => [
        x.db,
        x.prepare ? "yes" : "no",
        x.db === "pooled"
          ? atMost(x.round_trips_per_request, TARGETS.pooledRoundTrips, "")
          : String(x.round_trips_per_request),
        String(x.statements_per_request),
        String(x.parses_per_request),
        ms(x.sequential_p50_ms),
        ms(x.sequential_p99_ms),
        fmt(x.concurrent_16_per_s),
      ]),
    ),
    "",
    "What one consume sends, flush by flush (each flush waits for the server's answer):",
    "",
    ...p.paths.map((x) => `- ${x.db}: ${x.trace.map((t) => `\`${t}\``).join(" → ")}`),
  ].join("\n");
}

function hooksSection(r: BenchResults): string {
  const parts: string[] = [];
  const h = r.hold_settle;
  if (h) {
    const consume = r.http.find((x) =>
      x.function === "consume-credit" && x.credential === "service key" && x.path === "gateway" &&
      x.connections === h.connections && x.db === "direct"
    );
    parts.push(
      "### Hold + settle (consume-credit `hold: true`, then log-ai-usage with its `hold_id`, via gateway)",
      "",
      table(
        ["conns", "pairs /s", "p50 ms", "p99 ms", "max ms", "errors", "requests /s vs consume"],
        [[
          String(h.connections),
          fmt(h.pairs_per_s),
          ms(h.p50_ms),
          ms(h.p99_ms),
          ms(h.max_ms),
          String(h.errors),
          times(ratio(2 * h.pairs_per_s, consume?.rps)),
        ]],
      ),
    );
  }
  const b = r.batch_ingest;
  const bSql = batchSql(r);
  if (b || bSql) {
    if (parts.length) parts.push("");
    const rows: string[][] = [];
    if (bSql) {
      rows.push([
        "SQL (pgbench)",
        String(bSql.clients),
        fmt(BATCH_EVENTS),
        atLeast(bSql.tps * BATCH_EVENTS, TARGETS.batchEventsPerSecond, "/s"),
        ms(bSql.latency_avg_ms) + " (avg)",
        "—",
        "—",
        String(bSql.errors),
      ]);
    }
    if (b) {
      rows.push([
        "gateway",
        String(b.connections),
        fmt(b.batch_size),
        atLeast(b.events_per_s, TARGETS.batchEventsPerSecond, "/s"),
        ms(b.p50_ms),
        ms(b.p99_ms),
        ms(b.max_ms),
        String(b.errors),
      ]);
    }
    parts.push(
      "### Batch ingest (log-ai-usage `events`: SQL, and via gateway with the service key)",
      "",
      table(["path", "conns", "batch", "events /s", "p50 ms", "p99 ms", "max ms", "errors"], rows),
    );
  }
  return parts.join("\n");
}

/** The whole report: machine, targets, then each measured section, then what was skipped. */
export function renderMarkdown(r: BenchResults): string {
  const m = r.machine;
  const settings = Object.entries(m.settings).map(([k, v]) => `${k}=${v}`).join(", ");
  const parts = [
    `## Tollgate benchmark, ${r.started_at}${r.quick ? " (--quick)" : ""}`,
    "",
    `Machine: ${m.cores} cores (${m.cpu}), ${m.os}; PostgreSQL ${
      m.postgres || "?"
    } (${settings}); Deno ${m.deno}.`,
    "Ratios compare figures measured in this same run; ✅/❌ against DESIGN.md's targets.",
    "",
    targetsSection(r),
  ];
  if (r.sql.length) parts.push("", sqlSection(r));
  if (r.http.length) parts.push("", httpSection(r));
  if (r.http.some((h) => h.cpu)) parts.push("", cpuSection(r));
  if (r.open_loop.length) parts.push("", openLoopSection(r));
  if (r.profile) parts.push("", profileSection(r.profile));
  if (r.hold_settle || r.batch_ingest || batchSql(r)) parts.push("", hooksSection(r));
  if (r.reset.length) parts.push("", resetSection(r));
  if (r.cold_start.length) parts.push("", coldSection(r));
  if (r.skipped.length) parts.push("", ...r.skipped.map((s) => `- skipped: ${s}`));
  return parts.join("\n") + "\n";
}
