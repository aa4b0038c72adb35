/**
 * `npm run bench`: Tollgate's throughput and latency beside PostgreSQL's own limit, measured in one run on a
 * durable cluster of its own (fsync and synchronous_commit on), which it starts, fills and removes.
 *
 *   npm run bench                      the full run (under 10 minutes on 2 cores)
 *   npm run bench -- --quick           shorter runs and smaller resets, for a first look
 *   npm run bench -- --only=sql,http   some phases only: sql, http, cold, reset, profile
 *
 * Writes bench/results/<timestamp>.json and bench/results/latest.md, and prints the Markdown table.
 */
import {
  applyPlatformStandIn,
  ensureSigningKey,
  ensureSystemPackages,
  freePort,
  migrate,
  type Postgres,
  psql,
  ROOT,
  startPostgres,
} from "../scripts/lib/stack.ts";
import { benchModel, createFixtures, hasFunction, LOG_AI_USAGE_SIGNATURE } from "./fixtures.ts";
import { type BenchResults, renderMarkdown } from "./report.ts";
import { pgbench, scripts } from "./sql_level.ts";
import { runHttpLevel } from "./http_level.ts";
import { runColdStarts } from "./cold_start.ts";
import { runResets } from "./reset.ts";
import { runProfile } from "./profile.ts";

const PHASES = ["sql", "http", "cold", "reset", "profile"] as const;
type Phase = typeof PHASES[number];

function parseArgs(args: string[]): { quick: boolean; phases: Set<Phase> } {
  const quick = args.includes("--quick");
  const only = args.find((a) => a.startsWith("--only="))?.slice("--only=".length);
  const phases = new Set<Phase>(only ? only.split(",") as Phase[] : PHASES);
  for (const p of phases) {
    if (!PHASES.includes(p)) throw new Error(`Unknown phase ${p}: use ${PHASES.join(", ")}`);
  }
  const unknown = args.filter((a) => a !== "--quick" && !a.startsWith("--only="));
  if (unknown.length) {
    throw new Error(`Unknown arguments ${unknown.join(" ")}: use --quick and --only=<phases>`);
  }
  return { quick, phases };
}

const { quick, phases } = parseArgs(Deno.args);
/** Durations and sizes; --quick keeps every figure but measures each for less time. */
const PLAN = quick
  ? { users: 2_000, sqlSeconds: 3, sweepSeconds: 2, httpSeconds: 2, resets: [10_000, 100_000] }
  : { users: 10_000, sqlSeconds: 6, sweepSeconds: 4, httpSeconds: 3, resets: [100_000, 1_000_000] };
const SQL_CLIENTS = 8;
const CONNECTIONS = [1, 16, 64];

const started = new Date();
const workDir = Deno.makeTempDirSync({ prefix: "tollgate-bench-" });
let pg: Postgres | null = null;
const cleanups: (() => Promise<void>)[] = [];

async function teardown(): Promise<void> {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  await pg?.stop();
  Deno.removeSync(workDir, { recursive: true });
}
Deno.addSignalListener("SIGINT", async () => {
  await teardown();
  Deno.exit(130);
});

const log = (line: string) => console.log(line);
const elapsed = () => `${((Date.now() - started.getTime()) / 1000).toFixed(0)} s`;

const results: BenchResults = {
  started_at: started.toISOString(),
  finished_at: "",
  quick,
  plan: { ...PLAN, sql_clients: SQL_CLIENTS, connections: CONNECTIONS },
  machine: {
    cores: navigator.hardwareConcurrency,
    cpu: cpuModel(),
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    deno: Deno.version.deno,
    postgres: "",
    settings: {},
  },
  sql: [],
  http: [],
  cold_start: [],
  reset: [],
  profile: null,
  skipped: [],
};

function cpuModel(): string {
  try {
    return Deno.readTextFileSync("/proc/cpuinfo").match(/^model name\s*:\s*(.+)$/m)?.[1] ?? "unknown";
  } catch {
    return "unknown";
  }
}

function skip(note: string): void {
  log(`skipped: ${note}`);
  results.skipped.push(note);
}

let exitCode = 0;
try {
  await ensureSystemPackages();
  Deno.chmodSync(workDir, 0o755);
  log(`bench cluster in ${workDir} (durable: fsync and synchronous_commit on)`);
  pg = await startPostgres(`${workDir}/db`, freePort());
  // Fixtures, pgbench and checkpoints as the superuser; migrations and the functions as postgres, as on hosted.
  const dbUrl = pg.adminUrl;
  await applyPlatformStandIn(dbUrl);
  await migrate(pg.url);
  results.machine.postgres = await psql(dbUrl, "show server_version");
  for (const name of ["fsync", "synchronous_commit", "full_page_writes", "shared_buffers", "max_wal_size"]) {
    results.machine.settings[name] = await psql(dbUrl, `show ${name}`);
  }
  await createFixtures(dbUrl, PLAN.users);
  const model = await benchModel(dbUrl);
  const hasLogUsage = await hasFunction(dbUrl, LOG_AI_USAGE_SIGNATURE);
  if (!hasLogUsage) skip("tollgate.log_ai_usage not installed");
  log(`[${elapsed()}] ${PLAN.users} bench users ready`);

  if (phases.has("sql")) {
    const workloads = ["bare_update", "consume_credits", ...(hasLogUsage ? ["log_ai_usage"] : [])];
    const run = async (workload: string, users: "random" | "hot", clients: number, seconds: number) => {
      await psql(dbUrl, "checkpoint");
      const script = scripts({ users, count: PLAN.users, model })[workload];
      const r = await pgbench({ dbUrl, workDir, workload, script, users, clients, seconds });
      results.sql.push(r);
      log(`  sql ${workload} ${users} c=${clients}: ${r.tps.toFixed(0)} tps, avg ${r.latency_avg_ms} ms`);
    };
    log(`[${elapsed()}] SQL level: pgbench, ${SQL_CLIENTS} clients`);
    for (const users of ["random", "hot"] as const) {
      for (const w of workloads) await run(w, users, SQL_CLIENTS, PLAN.sqlSeconds);
    }
    // The baseline of the consume-credit HTTP figures: the same SQL at the HTTP runs' concurrency.
    for (const clients of CONNECTIONS) await run("consume_credits", "random", clients, PLAN.sweepSeconds);
  }

  if (phases.has("http") || phases.has("cold") || phases.has("profile")) {
    const keyDir = `${workDir}/keys`;
    await ensureSigningKey(keyDir);
    if (phases.has("profile")) {
      log(`[${elapsed()}] profile of the consume path`);
      results.profile = await runProfile({ dbUrl, users: PLAN.users, requests: quick ? 500 : 1_000 });
    }
    if (phases.has("http")) {
      log(`[${elapsed()}] HTTP level: autocannon at ${CONNECTIONS.join(", ")} connections`);
      results.http = await runHttpLevel({
        dbUrl: pg.url,
        keyDir,
        users: PLAN.users,
        seconds: PLAN.httpSeconds,
        connections: CONNECTIONS,
        model,
        skip,
        log,
        cleanups,
      });
    }
    if (phases.has("cold")) {
      log(`[${elapsed()}] cold starts`);
      results.cold_start = await runColdStarts({ dbUrl: pg.url, skip, log });
    }
  }

  if (phases.has("reset")) {
    log(`[${elapsed()}] reset: ${PLAN.resets.map((n) => n.toLocaleString("en")).join(" and ")} due accounts`);
    results.reset = await runResets({ dbUrl, sizes: PLAN.resets, log });
  }
} catch (error) {
  console.error(error instanceof Error ? error.stack ?? error.message : error);
  exitCode = 1;
} finally {
  await teardown();
}

results.finished_at = new Date().toISOString();
const stamp = started.toISOString().replace(/[:.]/g, "-");
const dir = `${ROOT}/bench/results`;
Deno.mkdirSync(dir, { recursive: true });
Deno.writeTextFileSync(`${dir}/${stamp}.json`, JSON.stringify(results, null, 2) + "\n");
const markdown = renderMarkdown(results);
Deno.writeTextFileSync(`${dir}/latest.md`, markdown);
console.log(`\n${markdown}`);
console.log(`wrote bench/results/${stamp}.json and bench/results/latest.md in ${elapsed()}`);
Deno.exit(exitCode);
