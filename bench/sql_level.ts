/**
 * SQL level: pgbench runs its own TPC-B-like transaction and the bare guarded UPDATE (the anchors) beside the SQL
 * functions the Edge Functions call, on the same cluster with durable settings, in the same run.
 */
import { psql } from "../scripts/lib/stack.ts";
import { UID_SQL } from "./fixtures.ts";

const PGBENCH = "/usr/lib/postgresql/15/bin/pgbench";

/** The scratch database holding pgbench's own tables (`pgbench -i`), beside the bench's. */
export const TPCB_DATABASE = "bench_tpcb";

export interface PgbenchResult {
  workload: string;
  users: "random" | "hot";
  /** How pgbench sends statements: prepared (named, parsed once) or extended (unnamed, what a pooler allows). */
  protocol: "prepared" | "extended";
  /** Straight to PostgreSQL, or through pgbouncer in transaction mode. */
  db: "direct" | "pooled";
  clients: number;
  seconds: number;
  transactions: number;
  tps: number;
  latency_avg_ms: number;
  errors: number;
}

/** The user a transaction acts for: uniform over the bench users, or always user 1 (one hot row). */
function pickUser(users: "random" | "hot", count: number): string {
  return users === "random" ? `\\set n random(1, ${count})` : "\\set n 1";
}

/** Events in one batch of the `log_ai_usage_batch` workload (and the HTTP batch-ingest run). */
export const BATCH_EVENTS = 1_000;

/** pgbench scripts, by workload. Keys are generated per transaction, so no call is ever a replay. */
export function scripts(
  opts: { users: "random" | "hot"; count: number; model: string },
): Record<string, string> {
  const pick = pickUser(opts.users, opts.count);
  const uid = UID_SQL(":n");
  // What asCaller sends for the service key naming a user: role and claims, then the one call, one transaction.
  const asService = `select set_config('role', 'service_role', true), ` +
    `set_config('request.jwt.claims', json_build_object('role', 'service_role', 'sub', ${uid})::text, true);`;
  return {
    bare_update: `${pick}
update bench.plain_accounts set credits = credits - 1 where user_id = ${uid} and credits > 0;
`,
    consume_credits: `${pick}
begin;
${asService}
select tollgate.consume_credits(gen_random_uuid()::text, 1, 'default', null, ${uid});
commit;
`,
    log_ai_usage: `${pick}
begin;
${asService}
select tollgate.log_ai_usage(gen_random_uuid()::text, '${opts.model}', 1200, 350, 'bench', 'default', 0, 850,
  'success', null, false, null, null, null, ${uid});
commit;
`,
    // One transaction records BATCH_EVENTS events, each for a user drawn at random (built server-side).
    log_ai_usage_batch: `begin;
select set_config('role', 'service_role', true),
       set_config('request.jwt.claims', '{"role": "service_role"}', true);
select jsonb_array_length(tollgate.log_ai_usage_batch((
  select jsonb_agg(jsonb_build_object('request_id', gen_random_uuid()::text, 'model', '${opts.model}',
                                      'provider', 'bench', 'input_tokens', 1200, 'output_tokens', 350,
                                      'latency_ms', 850,
                                      'user_id', ${UID_SQL(`1 + floor(random() * ${opts.count})::int`)}))
    from generate_series(1, ${BATCH_EVENTS}))));
commit;
`,
  };
}

/** Parses pgbench's summary; a client that hit an error aborts, and its error is counted. */
export function parsePgbench(
  output: string,
): { transactions: number; tps: number; latencyMs: number; errors: number } {
  const num = (re: RegExp) => Number(output.match(re)?.[1] ?? NaN);
  const aborted = (output.match(/client \d+ (?:script \d+ )?aborted/g) ?? []).length;
  const failed = num(/number of failed transactions: (\d+)/);
  return {
    transactions: num(/number of transactions actually processed: (\d+)/),
    tps: num(/tps = ([\d.]+) \(without initial connection time\)/),
    latencyMs: num(/latency average = ([\d.]+) ms/),
    errors: aborted + (Number.isNaN(failed) ? 0 : failed),
  };
}

/** pgbench's connection options for a database URL (its user: the superuser, so the bench schema is readable). */
function connectionArgs(dbUrl: string, database = "postgres"): string[] {
  const url = new URL(dbUrl);
  return ["-h", url.hostname, "-p", url.port, "-U", decodeURIComponent(url.username), database];
}

/**
 * pgbench's own tables at `scale` in a scratch database, generated server-side, vacuumed, with primary keys
 * (`pgbench -i -I dtGvp`). pgbench's documentation asks for a scale at least the number of clients: each
 * transaction updates one of `scale` branch rows, so with fewer every client queues on the same row.
 */
export async function initTpcb(dbUrl: string, scale: number): Promise<void> {
  await psql(dbUrl, `drop database if exists ${TPCB_DATABASE}`);
  await psql(dbUrl, `create database ${TPCB_DATABASE}`);
  const out = await new Deno.Command(PGBENCH, {
    args: ["-i", "-q", "-I", "dtGvp", "-s", String(scale), ...connectionArgs(dbUrl, TPCB_DATABASE)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`pgbench -i failed:\n${new TextDecoder().decode(out.stderr)}`);
}

/**
 * Runs one pgbench workload and returns its figures: a script of the bench's, or pgbench's built-in TPC-B-like
 * transaction (on the tables `initTpcb` made).
 */
export async function pgbench(opts: {
  dbUrl: string;
  workDir: string;
  workload: string;
  source: { script: string } | { builtin: "tpcb-like" };
  users: "random" | "hot";
  clients: number;
  seconds: number;
  protocol?: PgbenchResult["protocol"];
  db?: PgbenchResult["db"];
}): Promise<PgbenchResult> {
  const protocol = opts.protocol ?? "prepared";
  const db = opts.db ?? "direct";
  let source: string[];
  if ("builtin" in opts.source) {
    // pgbench vacuums its tables and empties pgbench_history before the run, as it always does.
    source = ["-b", opts.source.builtin, ...connectionArgs(opts.dbUrl, TPCB_DATABASE)];
  } else {
    const file = `${opts.workDir}/${opts.workload}_${opts.users}_${protocol}_${db}.sql`;
    Deno.writeTextFileSync(file, opts.source.script);
    source = ["-n", "-f", file, ...connectionArgs(opts.dbUrl)]; // -n: no pgbench tables to vacuum
  }
  const out = await new Deno.Command(PGBENCH, {
    args: [
      "-M",
      protocol,
      "-c",
      String(opts.clients),
      "-j",
      String(Math.min(opts.clients, navigator.hardwareConcurrency)),
      "-T",
      String(opts.seconds),
      ...source,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const parsed = parsePgbench(text);
  if (Number.isNaN(parsed.tps)) throw new Error(`pgbench ${opts.workload} gave no result:\n${text}`);
  if (parsed.errors > 0) {
    const first = text.split("\n").find((l) => /error|aborted/i.test(l));
    console.warn(`  ${opts.workload} (${opts.users}): ${parsed.errors} errors, first: ${first}`);
  }
  return {
    workload: opts.workload,
    users: opts.users,
    protocol,
    db,
    clients: opts.clients,
    seconds: opts.seconds,
    transactions: parsed.transactions,
    tps: parsed.tps,
    latency_avg_ms: parsed.latencyMs,
    errors: parsed.errors,
  };
}
