/**
 * `npm run bench`: Tollgate's throughput and latency beside PostgreSQL's own limit, measured in one run on a
 * durable cluster of its own (fsync and synchronous_commit on), which it starts, fills and removes.
 *
 *   npm run bench                      the full run (about 10 minutes on 2 cores)
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
  startPgbouncer,
  startPostgres,
} from "../scripts/lib/stack.ts";
import { benchModel, createFixtures, hasFunction, LOG_AI_USAGE_SIGNATURE } from "./fixtures.ts";
import { type BenchResults, renderMarkdown } from "./report.ts";
import { BATCH_EVENTS, initTpcb, pgbench, type PgbenchResult, scripts } from "./sql_level.ts";
import {
  type BenchStack,
  consumeAsNewUsers,
  consumeAsService,
  consumeAsUsers,
  runMatrix,
  runOpenLoop,
  serveForBench,
} from "./http_level.ts";
import { detectHooks, runBatchIngest, runHoldSettle } from "./hooks.ts";
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
  ? {
    users: 2_000,
    sqlSeconds: 3,
    sweepSeconds: 2,
    httpSeconds: 2,
    openLoopSeconds: 5,
    resets: [10_000, 100_000],
  }
  : {
    users: 10_000,
    sqlSeconds: 6,
    sweepSeconds: 4,
    httpSeconds: 3,
    openLoopSeconds: 10,
    resets: [100_000, 1_000_000],
  };
const SQL_CLIENTS = 8;
const CONNECTIONS = [1, 16, 64];
/** pgbench -i scale of the TPC-B-like baseline: at least the client count (pgbench's own advice). */
const TPCB_SCALE = SQL_CLIENTS;
/** pgbouncer's server connections: one function instance's pool (createPool's max). */
const POOLER_SIZE = 10;

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
  plan: {
    ...PLAN,
    sql_clients: SQL_CLIENTS,
    connections: CONNECTIONS,
    tpcb_scale: TPCB_SCALE,
    pooler: `pgbouncer, pool_mode = transaction, default_pool_size = ${POOLER_SIZE}`,
  },
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
  open_loop: [],
  cold_start: [],
  reset: [],
  profile: null,
  hold_settle: null,
  batch_ingest: null,
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
  const hooks = await detectHooks(dbUrl);
  log(`[${elapsed()}] ${PLAN.users} bench users ready`);
  // As the functions reach a hosted database through Supavisor: each transaction may get another connection.
  const pooler = await startPgbouncer(pg, `${workDir}/pgbouncer`, freePort(), { poolSize: POOLER_SIZE });
  cleanups.push(pooler.stop);
  const pooledAdminUrl = Object.assign(new URL(dbUrl), { port: new URL(pooler.url).port }).toString();

  if (phases.has("sql")) {
    const run = async (
      workload: string,
      users: "random" | "hot",
      clients: number,
      seconds: number,
      via: { protocol?: PgbenchResult["protocol"]; db?: PgbenchResult["db"] } = {},
    ) => {
      await psql(dbUrl, "checkpoint");
      const source = workload === "tpcb_like"
        ? { builtin: "tpcb-like" as const }
        : { script: scripts({ users, count: PLAN.users, model })[workload] };
      const url = via.db === "pooled" ? pooledAdminUrl : dbUrl;
      const r = await pgbench({ dbUrl: url, workDir, workload, source, users, clients, seconds, ...via });
      results.sql.push(r);
      log(
        `  sql ${workload} ${users} c=${clients} (${r.protocol}, ${r.db}): ${r.tps.toFixed(0)} tps, ` +
          `avg ${r.latency_avg_ms} ms`,
      );
    };
    log(
      `[${elapsed()}] SQL level: pgbench, ${SQL_CLIENTS} clients (TPC-B-like tables at scale ${TPCB_SCALE})`,
    );
    await initTpcb(dbUrl, TPCB_SCALE);
    await run("tpcb_like", "random", SQL_CLIENTS, PLAN.sqlSeconds);
    const workloads = ["bare_update", "consume_credits", ...(hasLogUsage ? ["log_ai_usage"] : [])];
    for (const users of ["random", "hot"] as const) {
      for (const w of workloads) await run(w, users, SQL_CLIENTS, PLAN.sqlSeconds);
    }
    // Batch ingest's SQL: each transaction a batch of BATCH_EVENTS events of random users (the hooks section).
    if (!hooks.batch) await run("log_ai_usage_batch", "random", SQL_CLIENTS, PLAN.sqlSeconds);
    // The baseline of the consume-credit HTTP figures: the same SQL at the HTTP runs' concurrency.
    for (const clients of CONNECTIONS) await run("consume_credits", "random", clients, PLAN.sweepSeconds);
    // Behind the pooler prepared statements cannot be used: unnamed statements direct, then through pgbouncer.
    for (const db of ["direct", "pooled"] as const) {
      await run("consume_credits", "random", SQL_CLIENTS, PLAN.sqlSeconds, { protocol: "extended", db });
    }
  }

  if (phases.has("http") || phases.has("cold") || phases.has("profile")) {
    const keyDir = `${workDir}/keys`;
    await ensureSigningKey(keyDir);
    if (phases.has("profile")) {
      log(`[${elapsed()}] profile of the consume path, direct and through pgbouncer`);
      results.profile = await runProfile({
        dbUrl: pg.url,
        poolerUrl: pooler.url,
        users: PLAN.users,
        requests: quick ? 500 : 1_000,
      });
    }
    if (phases.has("http")) {
      log(`[${elapsed()}] HTTP level: autocannon at ${CONNECTIONS.join(", ")} connections`);
      const pgUrl = pg.url;
      const served = (url: string, db: BenchStack["db"]) =>
        serveForBench({
          dbUrl: url,
          pgUrl,
          db,
          keyDir,
          users: PLAN.users,
          seconds: PLAN.httpSeconds,
          log,
        });
      let stack = await served(pg.url, "direct");
      cleanups.push(() => stack.stop());
      try {
        results.http.push(
          ...await runMatrix(stack, {
            users: PLAN.users,
            seconds: PLAN.httpSeconds,
            connections: CONNECTIONS,
            model,
            skip,
          }),
        );
        if (stack.ports["consume-credit"] !== undefined) {
          const asUsers = await consumeAsUsers(stack, keyDir, PLAN.users);
          await stack.warm("consume-credit", asUsers.signIn.next, asUsers.signIn.amount);
          const reused = await stack.measure("consume-credit", "direct", "user token", 16, asUsers.next);
          results.http.push(reused);
          const fresh = await consumeAsNewUsers(
            stack,
            keyDir,
            PLAN.users,
            Math.ceil(reused.rps * PLAN.httpSeconds * 1.5) + 16,
          );
          results.http.push(
            await stack.measure(
              "consume-credit",
              "direct",
              "new user token",
              16,
              fresh.next,
              PLAN.httpSeconds,
              fresh.amount,
            ),
          );
          const gateway = await stack.measure("consume-credit", "gateway", "user token", 16, asUsers.next);
          results.http.push(gateway);
          log(`[${elapsed()}] open loop: half of ${gateway.rps.toFixed(0)} req/s offered`);
          results.open_loop.push(
            await runOpenLoop(stack, {
              next: asUsers.next,
              measuredMax: gateway.rps,
              seconds: PLAN.openLoopSeconds,
              log,
            }),
          );
        }
        if (hooks.holds) skip(hooks.holds);
        else {results.hold_settle = await runHoldSettle(stack, {
            connections: 16,
            seconds: PLAN.httpSeconds,
            model,
          });}
        if (hooks.batch) skip(hooks.batch);
        else {
          results.batch_ingest = await runBatchIngest(stack, {
            connections: 4,
            seconds: PLAN.httpSeconds,
            batchSize: BATCH_EVENTS,
            model,
          });
        }
      } finally {
        await stack.stop();
      }
      if (stack.ports["consume-credit"] !== undefined) {
        log(`[${elapsed()}] HTTP level through pgbouncer (prepared statements off)`);
        stack = await served(pooler.url, "pooled");
        try {
          const asService = consumeAsService(stack);
          await stack.warm("consume-credit", asService);
          results.http.push(await stack.measure("consume-credit", "gateway", "service key", 16, asService));
          const asUsers = await consumeAsUsers(stack, keyDir, PLAN.users);
          await stack.warm("consume-credit", asUsers.signIn.next, asUsers.signIn.amount);
          results.http.push(await stack.measure("consume-credit", "gateway", "user token", 16, asUsers.next));
        } finally {
          await stack.stop();
        }
      }
    }
    if (phases.has("cold")) {
      log(`[${elapsed()}] cold starts`);
      results.cold_start = await runColdStarts({ dbUrl: pg.url, skip, log });
    }
  }

  if (phases.has("reset")) {
    log(
      `[${elapsed()}] reset: ${PLAN.resets.map((n) => n.toLocaleString("en")).join(" and ")} due accounts, ` +
        "consumes of due users during the last",
    );
    results.reset = await runResets({ dbUrl, functionsDbUrl: pg.url, sizes: PLAN.resets, log });
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
