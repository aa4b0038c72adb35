/**
 * SQL level: pgbench runs the bare guarded UPDATE (the physical anchor) beside the SQL functions the Edge
 * Functions call, on the same cluster with durable settings, in the same run.
 */
import { UID_SQL } from "./fixtures.ts";

const PGBENCH = "/usr/lib/postgresql/15/bin/pgbench";

export interface PgbenchResult {
  workload: string;
  users: "random" | "hot";
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

/** Runs one pgbench workload with prepared statements and returns its figures. */
export async function pgbench(opts: {
  dbUrl: string;
  workDir: string;
  workload: string;
  script: string;
  users: "random" | "hot";
  clients: number;
  seconds: number;
}): Promise<PgbenchResult> {
  const file = `${opts.workDir}/${opts.workload}_${opts.users}.sql`;
  Deno.writeTextFileSync(file, opts.script);
  const url = new URL(opts.dbUrl);
  const out = await new Deno.Command(PGBENCH, {
    args: [
      "-n", // no vacuum of pgbench's own tables (there are none)
      "-M",
      "prepared",
      "-c",
      String(opts.clients),
      "-j",
      String(Math.min(opts.clients, navigator.hardwareConcurrency)),
      "-T",
      String(opts.seconds),
      "-f",
      file,
      "-h",
      url.hostname,
      "-p",
      url.port,
      "-U",
      decodeURIComponent(url.username),
      "postgres",
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
    clients: opts.clients,
    seconds: opts.seconds,
    transactions: parsed.transactions,
    tps: parsed.tps,
    latency_avg_ms: parsed.latencyMs,
    errors: parsed.errors,
  };
}
