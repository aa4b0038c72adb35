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

/**
 * Runs a command with its output streamed; returns the output and whether it succeeded. A command still running
 * after `timeoutMs` is killed with everything it started, and fails: a hung test never hangs the whole run.
 */
async function exec(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 5 * 60_000,
): Promise<{ ok: boolean; output: string }> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    env: { DENO_NO_PACKAGE_JSON: "1", NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    for (const pid of [child.pid, ...descendants(child.pid)]) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* already gone */ }
    }
  }, timeoutMs);
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
  clearTimeout(timer);
  if (timedOut) {
    const message = `\n${cmd} timed out after ${timeoutMs / 1000} s and was killed`;
    console.log(message);
    output += message;
  }
  return { ok: status.success && !timedOut, output };
}

/** Every process below `pid` (from /proc), so a timed-out test leaves nothing running. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry.name)]);
    } catch { /* exited meanwhile */ }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const next = children.get(queue.shift()!) ?? [];
    found.push(...next);
    queue.push(...next);
  }
  return found;
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

/**
 * Tests named with this prefix close what a test file opened (a database pool): they run as tests, since Deno has
 * no afterAll, but are not counted as passed tests; a failing one still counts as a failure.
 */
const TEARDOWN = "teardown: ";

/**
 * Runs a `deno test` suite (with `opts.deno` and `opts.args`, else this Deno; killed after `opts.timeoutMs`) and
 * counts its tests from the summary line, teardown tests left out.
 */
async function denoTests(
  name: string,
  paths: string[],
  env: Record<string, string> = {},
  opts: { deno?: string; args?: string[]; timeoutMs?: number } = {},
): Promise<void> {
  banner(name);
  if (paths.length === 0) return console.log("(no test files selected)");
  const args = ["test", "-A", ...(opts.args ?? ["--no-check=remote"]), ...paths];
  const { ok, output } = await exec(opts.deno ?? Deno.execPath(), args, env, opts.timeoutMs);
  const m = output.match(/(\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/);
  const teardowns = output.split("\n").filter((l) => l.startsWith(TEARDOWN) && / \.\.\. ok\b/.test(l)).length;
  if (m) record(name, Number(m[1]) - teardowns, Number(m[2]) + (ok || Number(m[2]) > 0 ? 0 : 1));
  else {
    const passed = output.split("\n").filter((l) => !l.startsWith(TEARDOWN) && / \.\.\. ok\b/.test(l)).length;
    record(name, passed, 1); // no summary: the run died or timed out
  }
}

/**
 * Runs the pgTAP files with pg_prove and counts assertions (one test with `asOne`). Each statement may take 30 s
 * (statement_timeout, which does not fire under libfaketime) and the whole run `timeoutMs`: a hung test fails
 * instead of hanging the run.
 */
async function pgTap(dbUrl: string, name = "pgTAP", asOne = false, timeoutMs = 3 * 60_000): Promise<void> {
  banner(`${name} (supabase/tests)`);
  const files = testFiles("supabase/tests", /\.test\.sql$/);
  if (files.length === 0) return console.log("(no test files selected)");
  const url = new URL(dbUrl);
  const args = ["-h", url.hostname, "-p", url.port, "-U", url.username, "-d", "postgres", ...files];
  const { ok, output } = await exec("pg_prove", args, { PGOPTIONS: "-c statement_timeout=30s" }, timeoutMs);
  const total = Number(output.match(/Tests=(\d+)/)?.[1] ?? 0);
  let failed = [...output.matchAll(/Failed (\d+)\/\d+ subtests/g)].reduce((n, m) => n + Number(m[1]), 0);
  if (!ok && failed === 0) failed = 1; // a file died before its plan: count it
  if (asOne) record(name, failed === 0 ? 1 : 0, failed === 0 ? 0 : 1);
  else record(name, Math.max(total - failed, 0), failed);
}

/**
 * Moments the pgTAP suite also runs at, each on a fresh cluster of its own whose clock starts there (libfaketime):
 * month ends and a leap day, late in the UTC day, so a test that assumes "in an hour" is still today, or that a
 * month outlasts 30 days, fails here on every run instead of on some calendar days.
 */
const CLOCK_MOMENTS = ["2027-01-31", "2027-02-28", "2027-03-31", "2028-02-29"].map((d) =>
  new Date(`${d}T23:30:00Z`)
);

/** What the tests expect on a migrated database: the seed (as postgres), and pgTAP (the superuser enables it). */
async function seed(dbUrl: string, adminUrl: string): Promise<void> {
  await psqlFile(dbUrl, `${ROOT}/supabase/seed.sql`);
  await psql(adminUrl, "create extension if not exists pgtap schema extensions");
}

/** The pgTAP suite on a cluster created, migrated and seeded with its clock at `at`: one test per moment. */
async function pgTapAt(at: Date): Promise<void> {
  const name = `pgTAP with the clock at ${at.toISOString().slice(0, 16).replace("T", " ")} UTC`;
  const dir = `${workDir}/clock-${at.getTime()}`;
  const clock = await startPostgres(dir, freePort(), { fast: true, clockAt: at });
  clocks.add(clock);
  try {
    await applyPlatformStandIn(clock.adminUrl);
    await migrate(clock.url);
    await seed(clock.url, clock.adminUrl);
    await pgTap(clock.url, name, true, 60_000);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    record(name, 0, 1);
  } finally {
    await clock.stop();
    clocks.delete(clock);
    Deno.removeSync(dir, { recursive: true });
  }
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
const clocks = new Set<Postgres>();
const workDir = Deno.makeTempDirSync({ prefix: "tollgate-test-" });

async function teardown(): Promise<void> {
  await stopFunctions?.();
  await stopPooler?.();
  await fakeStripe?.stop();
  await pg?.stop();
  for (const clock of clocks) await clock.stop();
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
  await seed(dbUrl, adminUrl);
  console.log(`migrated and seeded ${dbUrl}`);
  for (const c of runChecks ? databaseChecks : []) await runCheck(c);

  await pgTap(dbUrl);
  if (testFiles("supabase/tests", /\.test\.sql$/).length > 0) {
    for (const at of CLOCK_MOMENTS) await pgTapAt(at);
  }
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
  await denoTests("End-to-end tests (tests/e2e)", e2e.filter((f) => !outage(f)), e2eEnv(fns), {
    timeoutMs: 10 * 60_000,
  });
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
  // The documented-commands test starts an npm start of its own: nothing in it runs on this pass's functions.
  const selectedE2e = e2e.filter((f) => !outage(f) && !f.endsWith("documented_commands_test.ts"));
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
      { timeoutMs: 10 * 60_000 },
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
