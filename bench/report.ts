/** The run's figures as JSON and as a Markdown table with each figure's ratio to its baseline and target. */
import type { ColdStartResult } from "./cold_start.ts";
import type { HttpResult } from "./http_level.ts";
import type { ProfileResult } from "./profile.ts";
import type { ResetResult } from "./reset.ts";
import type { PgbenchResult } from "./sql_level.ts";

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
  cold_start: ColdStartResult[];
  reset: ResetResult[];
  profile: ProfileResult | null;
  skipped: string[];
}

/** DESIGN.md "Performance". */
export const TARGETS = {
  consumeVsBareUpdate: 0.7,
  httpVsSql: 0.5,
  httpP99MsAt16: 10,
  logUsagePerSecond: 5_000,
  resetVsBareInsert: 2,
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

/** "1.6× ✅ (≤ 2×)": a ratio against an at-most target. */
export function atMost(value: number, target: number, unit = "×"): string {
  if (!Number.isFinite(value)) return "—";
  const shown = unit === "×" ? `${value.toFixed(2)}×` : `${ms(value)}${unit}`;
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

function sqlAt(r: BenchResults, workload: string, users: string, clients: number): PgbenchResult | undefined {
  return r.sql.find((s) => s.workload === workload && s.users === users && s.clients === clients);
}

function sqlSection(r: BenchResults): string {
  const clients = Number(r.plan.sql_clients);
  const rows = r.sql.filter((s) => s.clients === clients).map((s) => {
    const bare = sqlAt(r, "bare_update", s.users, clients);
    const vsBare = ratio(s.tps, bare?.tps);
    const target = s.workload === "consume_credits"
      ? atLeast(vsBare, TARGETS.consumeVsBareUpdate)
      : s.workload === "log_ai_usage"
      ? atLeast(s.tps, TARGETS.logUsagePerSecond, "/s")
      : "baseline";
    return [
      `\`${s.workload}\``,
      s.users,
      fmt(s.tps),
      ms(s.latency_avg_ms),
      String(s.errors),
      s.workload === "bare_update" ? "1.00×" : times(vsBare),
      target,
    ];
  });
  const sweep = r.sql.filter((s) => s.clients !== clients).map((s) => [
    `\`${s.workload}\``,
    String(s.clients),
    fmt(s.tps),
    ms(s.latency_avg_ms),
    String(s.errors),
  ]);
  return [
    `### SQL level (pgbench, ${clients} clients, prepared, durable)`,
    "",
    table(["workload", "users", "tx/s", "avg ms", "errors", "vs bare UPDATE", "target"], rows),
    ...(sweep.length
      ? [
        "",
        "The same SQL at the HTTP runs' concurrency (random users), the baselines of the HTTP figures:",
        "",
        table(["workload", "clients", "tx/s", "avg ms", "errors"], sweep),
      ]
      : []),
  ].join("\n");
}

const SQL_OF: Record<string, string> = {
  "consume-credit": "consume_credits",
  "log-ai-usage": "log_ai_usage",
};

function httpSection(r: BenchResults): string {
  const rows = r.http.map((h) => {
    const sql = SQL_OF[h.function] ? sqlAt(r, SQL_OF[h.function], "random", h.connections) : undefined;
    const direct = r.http.find((d) =>
      d.function === h.function && d.credential === h.credential && d.connections === h.connections &&
      d.path === "direct"
    );
    const targets: string[] = [];
    if (h.function === "consume-credit") targets.push(atLeast(ratio(h.rps, sql?.tps), TARGETS.httpVsSql));
    if (h.function === "consume-credit" && h.connections === 16) {
      targets.push(`p99 ${atMost(h.p99_ms, TARGETS.httpP99MsAt16, " ms")}`);
    }
    if (h.function === "log-ai-usage") targets.push(atLeast(h.rps, TARGETS.logUsagePerSecond, "/s"));
    return [
      h.function,
      h.path,
      h.credential,
      String(h.connections),
      fmt(h.rps),
      ms(h.p50_ms),
      ms(h.p99_ms),
      ms(h.max_ms),
      String(h.errors),
      times(ratio(h.rps, sql?.tps)),
      h.path === "gateway" ? times(ratio(h.rps, direct?.rps)) : "—",
      targets.filter((t) => t !== "—").join("; ") || "—",
    ];
  });
  return [
    "### HTTP level (autocannon)",
    "",
    table(
      [
        "function",
        "path",
        "credential",
        "conns",
        "req/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "errors",
        "vs SQL",
        "vs direct",
        "target",
      ],
      rows,
    ),
  ].join("\n");
}

function resetSection(r: BenchResults): string {
  const rows = r.reset.map((x) => [
    fmt(x.accounts),
    x.reset_s.toFixed(1),
    x.bare_insert_s.toFixed(1),
    atMost(ratio(x.reset_s, x.bare_insert_s), TARGETS.resetVsBareInsert),
    fmt(x.accounts_rolled),
    `${x.accounts_wrong} / ${x.ledger_problems_in_sample}`,
    x.setup_s.toFixed(1),
  ]);
  return [
    "### Reset (`reset_monthly_quotas`, one call)",
    "",
    table([
      "due accounts",
      "reset s",
      "bare INSERT…SELECT s",
      "ratio",
      "rolled",
      "wrong / ledger problems",
      "setup s",
    ], rows),
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
        "round trips / request",
        "statements / request",
        "parses / request",
        "sequential p50 ms",
        "sequential p99 ms",
        "16 concurrent /s",
      ],
      [[
        String(p.round_trips_per_request),
        String(p.statements_per_request),
        String(p.parses_per_request),
        ms(p.sequential_p50_ms),
        ms(p.sequential_p99_ms),
        fmt(p.concurrent_16_per_s),
      ]],
    ),
  ].join("\n");
}

/** The whole report: machine, then each measured section, then what was skipped. */
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
  ];
  if (r.sql.length) parts.push("", sqlSection(r));
  if (r.http.length) parts.push("", httpSection(r));
  if (r.reset.length) parts.push("", resetSection(r));
  if (r.cold_start.length) parts.push("", coldSection(r));
  if (r.profile) parts.push("", profileSection(r.profile));
  if (r.skipped.length) parts.push("", ...r.skipped.map((s) => `- skipped: ${s}`));
  return parts.join("\n") + "\n";
}
