/**
 * `npm test`: everything, on a throwaway cluster of its own on a free port (a running `npm start` is never
 * touched). Ends with one line `N passed, N failed`.
 */
import {
  applyPlatformStandIn,
  ensureSigningKey,
  ensureSystemPackages,
  freePort,
  functionNames,
  HOSTED_DENO_ENV,
  HOSTED_DENO_VERSION,
  hostedDeno,
  migrate,
  type Postgres,
  psql,
  psqlFile,
  ROOT,
  serveFunctions,
  startPgbouncer,
  startPostgres,
} from "./lib/stack.ts";
import { LOCAL_ANON_KEY, LOCAL_SERVICE_ROLE_KEY } from "./lib/keys.ts";
import { type FakeStripe, startFakeStripe } from "./lib/fake_stripe.ts";
import {
  databaseChecks,
  fileChecks,
  type MigrationCheck,
  remigrate,
  roundTripCheck,
} from "./lib/migration_checks.ts";

interface Tally {
  passed: number;
  failed: number;
  failures: string[];
}
const tally: Tally = { passed: 0, failed: 0, failures: [] };

/** `npm test -- <word>...` runs only the test files whose path contains one of the words (for focused work). */
const FILTERS = Deno.args;
const selected = (path: string) => FILTERS.length === 0 || FILTERS.some((f) => path.includes(f));

/** Test files under `dir` whose names match `pattern`, narrowed by the command-line filters. */
function testFiles(dir: string, pattern: RegExp): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of Deno.readDirSync(`${ROOT}/${d}`)) {
      if (e.isDirectory && e.name !== "node_modules") walk(`${d}/${e.name}`);
      else if (pattern.test(e.name) && selected(`${d}/${e.name}`)) found.push(`${d}/${e.name}`);
    }
  };
  walk(dir);
  return found.sort();
}

function record(name: string, passed: number, failed: number): void {
  tally.passed += passed;
  tally.failed += failed;
  if (failed > 0) tally.failures.push(`${name}: ${failed} failed`);
}

/** Runs a command with its output streamed; returns the output and whether it succeeded. */
async function exec(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ ok: boolean; output: string }> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    env: { DENO_NO_PACKAGE_JSON: "1", NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const pump = async (stream: ReadableStream<Uint8Array>, sink: typeof Deno.stdout) => {
    for await (const chunk of stream) {
      output += new TextDecoder().decode(chunk);
      await sink.write(chunk);
    }
  };
  const [status] = await Promise.all([
    child.status,
    pump(child.stdout, Deno.stdout),
    pump(child.stderr, Deno.stderr),
  ]);
  return { ok: status.success, output };
}

function banner(title: string): void {
  console.log(`\n=== ${title} ===`);
}

/** A step that is one test: it passes or fails as a whole. */
async function check(
  name: string,
  cmd: string,
  args: string[],
  env?: Record<string, string>,
): Promise<boolean> {
  banner(name);
  const { ok } = await exec(cmd, args, env);
  record(name, ok ? 1 : 0, ok ? 0 : 1);
  return ok;
}

/** Runs a `deno test` suite (with `opts.deno` and `opts.args`, else this Deno) and counts its tests. */
async function denoTests(
  name: string,
  paths: string[],
  env: Record<string, string> = {},
  opts: { deno?: string; args?: string[] } = {},
): Promise<void> {
  banner(name);
  if (paths.length === 0) return console.log("(no test files selected)");
  const args = ["test", "-A", ...(opts.args ?? ["--no-check=remote"]), ...paths];
  const { ok, output } = await exec(opts.deno ?? Deno.execPath(), args, env);
  const m = output.match(/(\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/);
  if (m) record(name, Number(m[1]), Number(m[2]) + (ok || Number(m[2]) > 0 ? 0 : 1));
  else record(name, 0, 1);
}

/** Runs the pgTAP files with pg_prove and counts assertions. */
async function pgTap(dbUrl: string): Promise<void> {
  banner("pgTAP (supabase/tests)");
  const files = testFiles("supabase/tests", /\.test\.sql$/);
  if (files.length === 0) return console.log("(no test files selected)");
  const url = new URL(dbUrl);
  const { ok, output } = await exec("pg_prove", [
    "-h",
    url.hostname,
    "-p",
    url.port,
    "-U",
    url.username,
    "-d",
    "postgres",
    ...files,
  ]);
  const total = Number(output.match(/Tests=(\d+)/)?.[1] ?? 0);
  let failed = [...output.matchAll(/Failed (\d+)\/\d+ subtests/g)].reduce((n, m) => n + Number(m[1]), 0);
  if (!ok && failed === 0) failed = 1; // a file died before its plan: count it
  record("pgTAP", Math.max(total - failed, 0), failed);
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

let pg: Postgres | null = null;
let stopFunctions: (() => Promise<void>) | null = null;
let stopPooler: (() => Promise<void>) | null = null;
let fakeStripe: FakeStripe | null = null;
const workDir = Deno.makeTempDirSync({ prefix: "tollgate-test-" });

async function teardown(): Promise<void> {
  await stopFunctions?.();
  await stopPooler?.();
  await fakeStripe?.stop();
  await pg?.stop();
  Deno.removeSync(workDir, { recursive: true });
}
Deno.addSignalListener("SIGINT", async () => {
  await teardown();
  Deno.exit(130);
});

try {
  await ensureSystemPackages();

  await check("deno lint", Deno.execPath(), ["lint"]);
  await check("deno fmt --check", Deno.execPath(), ["fmt", "--check"]);
  const typed = ["supabase/functions", "scripts", "tests", "bench", "packages", "examples", "docs"];
  await check("deno check", Deno.execPath(), ["check", ...typed.filter((d) => exists(`${ROOT}/${d}`))]);

  banner("throwaway cluster");
  Deno.chmodSync(workDir, 0o755);
  pg = await startPostgres(`${workDir}/db`, freePort(), { fast: true });
  // Migrations, the seed, pgTAP (as `supabase test db` runs it) and the functions run as postgres, not a
  // superuser, as on hosted; the stand-in and the end-to-end tests' own arranging run as the cluster's superuser.
  const dbUrl = pg.url;
  const adminUrl = pg.adminUrl;
  await applyPlatformStandIn(adminUrl);

  // The migration checks run on the suite's own database: its schema is the one the round trip rolled back and
  // re-applied, so everything below also proves the re-applied schema works. `npm test -- <word>` skips them
  // (plain migrate) unless a word starts "migrations", "types" or "erd".
  const runChecks = FILTERS.length === 0 ||
    FILTERS.some((f) => ["migrations", "types", "erd"].some((k) => k.startsWith(f)));
  const runCheck = async (c: MigrationCheck): Promise<boolean> => {
    banner(c.name);
    try {
      await c.run({ dbUrl, adminUrl });
      record(c.name, 1, 0);
      return true;
    } catch (error) {
      console.error(error instanceof Error ? error.message : error);
      record(c.name, 0, 1);
      return false;
    }
  };
  if (runChecks) {
    for (const c of fileChecks) await runCheck(c);
    if (!(await runCheck(roundTripCheck))) {
      console.log("(re-migrating from scratch, best effort, so the rest of the suite still reports)");
      await remigrate(dbUrl);
    }
  } else {
    await migrate(dbUrl);
  }
  await psqlFile(dbUrl, `${ROOT}/supabase/seed.sql`);
  await psql(adminUrl, "create extension if not exists pgtap schema extensions");
  console.log(`migrated and seeded ${dbUrl}`);
  for (const c of runChecks ? databaseChecks : []) await runCheck(c);

  await pgTap(dbUrl);
  const unitDirs = ["supabase/functions", "scripts/lib", "packages", "docs", "bench"].filter((d) =>
    exists(`${ROOT}/${d}`)
  );
  await denoTests("Deno unit tests", unitDirs.flatMap((d) => testFiles(d, /_test\.ts$/)));

  const keyDir = `${workDir}/keys`;
  const { privateJwk } = await ensureSigningKey(keyDir);
  // Functions call the Stripe API only through STRIPE_API_BASE, here the local fake: no test reaches the network.
  fakeStripe = startFakeStripe();
  const stripeEnv = { STRIPE_API_BASE: fakeStripe.url };
  const fns = await serveFunctions({ dbUrl, gatewayPort: freePort(), keyDir, extraEnv: stripeEnv });
  stopFunctions = fns.stop;
  const e2eEnv = (f: { url: string; env: Record<string, string> }, deno = Deno.execPath()) => ({
    TOLLGATE_URL: f.url,
    TOLLGATE_DB_URL: adminUrl,
    TOLLGATE_FUNCTION_ENV: JSON.stringify(f.env),
    TOLLGATE_FUNCTIONS_DENO: deno,
    TOLLGATE_ANON_KEY: LOCAL_ANON_KEY,
    TOLLGATE_SERVICE_ROLE_KEY: LOCAL_SERVICE_ROLE_KEY,
    TOLLGATE_SIGNING_JWK: JSON.stringify(privateJwk),
    TOLLGATE_PG_DATA: `${workDir}/db`,
    STRIPE_WEBHOOK_SECRET: f.env.STRIPE_WEBHOOK_SECRET,
    ...stripeEnv,
  });
  // Tests that stop and restart the database run last, on their own, so a restart never disturbs another test.
  const e2e = testFiles("tests/e2e", /_test\.ts$/);
  const outage = (f: string) => f.endsWith("database_outage_test.ts");
  await denoTests("End-to-end tests (tests/e2e)", e2e.filter((f) => !outage(f)), e2eEnv(fns));
  await denoTests("End-to-end outage tests (the database restarts)", e2e.filter(outage), e2eEnv(fns));
  await stopFunctions();
  stopFunctions = null;

  // The hosted edge runtime's Deno (2.1) and its pooler: the functions type-checked and unit-tested by Deno 2.1
  // with their own deno.json, then served by it with SUPABASE_DB_URL on pgbouncer in transaction mode, and the
  // end-to-end suite run against them again (the test code itself stays on this Deno, whose sanitizers it is
  // written for).
  const deno21 = await hostedDeno();
  const env21 = HOSTED_DENO_ENV;
  const fnConfig = `supabase/functions/${functionNames()[0]}/deno.json`;
  const fnTests = testFiles("supabase/functions", /_test\.ts$/);
  if (fnTests.length > 0 || FILTERS.length === 0) {
    await check("deno check on Deno 2.1 (the functions, with their deno.json)", deno21, [
      "check",
      "--config",
      fnConfig,
      "supabase/functions",
    ], env21);
  }
  await denoTests("Deno 2.1 function unit tests", fnTests, env21, {
    deno: deno21,
    args: ["--config", fnConfig],
  });
  const selectedE2e = e2e.filter((f) => !outage(f));
  if (selectedE2e.length > 0) {
    banner("pgbouncer (pool_mode = transaction) and functions on Deno 2.1");
    const pooler = await startPgbouncer(pg, `${workDir}/pgbouncer`, freePort());
    stopPooler = pooler.stop;
    const fns21 = await serveFunctions({
      dbUrl: pooler.url,
      authDbUrl: adminUrl,
      gatewayPort: freePort(),
      keyDir,
      deno: deno21,
      extraEnv: { TOLLGATE_DB_PREPARE: "false", ...stripeEnv, ...env21 },
    });
    stopFunctions = fns21.stop;
    console.log(`functions on Deno ${HOSTED_DENO_VERSION} (${deno21}), SUPABASE_DB_URL=${pooler.url}`);
    await denoTests(
      "End-to-end tests again: functions on Deno 2.1 behind pgbouncer",
      selectedE2e,
      e2eEnv(fns21, deno21),
    );
  }
} catch (error) {
  console.error(error instanceof Error ? error.stack ?? error.message : error);
  record("test harness", 0, 1);
} finally {
  await teardown();
}

if (tally.failures.length > 0) console.log(`\nFailures:\n  ${tally.failures.join("\n  ")}`);
console.log(`\n${tally.passed} passed, ${tally.failed} failed`);
Deno.exit(tally.failed > 0 ? 1 : 0);
