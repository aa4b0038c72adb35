/** Checks over the migrations folder and the migrated database, run by `npm test` as one test each. */
import { applyPlatformStandIn, psql, psqlFile, ROOT, run } from "./stack.ts";

export interface MigrationCheck {
  name: string;
  run(ctx: { dbUrl: string; workDir: string }): Promise<void>;
}

/** `YYYYMMDDHHMMSS` in UTC, the version format of `supabase migration new`. */
export function versionAt(date: Date): string {
  return date.toISOString().replace(/\D/g, "").slice(0, 14);
}

/**
 * Migration file names: `<14-digit version>_<verb>_<object>.sql`, versions unique and in order, and no NEW file
 * (one the upstream commit does not have) dated before the newest existing one: hosted projects that already
 * applied the newer migration would skip or reorder it. `newNames` empty = every file is already upstream.
 */
export function checkVersions(names: string[], newNames: string[] = [], now = new Date()): void {
  const seen = new Set<string>();
  const sorted = [...names].sort();
  for (const name of sorted) {
    const m = name.match(/^(\d{14})_[a-z0-9_]+\.sql$/);
    if (!m) throw new Error(`Migration ${name} is misnamed: use <14-digit timestamp>_<verb>_<object>.sql`);
    if (seen.has(m[1])) {
      throw new Error(`Migration version ${m[1]} is used twice: rename ${name} with a new timestamp`);
    }
    seen.add(m[1]);
  }
  const fresh = new Set(newNames);
  const existing = sorted.filter((n) => !fresh.has(n));
  const newest = existing.at(-1);
  if (!newest) return;
  const newestVersion = newest.slice(0, 14);
  for (const name of sorted.filter((n) => fresh.has(n))) {
    if (name.slice(0, 14) > newestVersion) continue;
    const stamp = versionAt(now);
    const suggestion = stamp > newestVersion
      ? `${stamp}${name.slice(14)}`
      : `<a version after ${newestVersion}>${name.slice(14)}`;
    throw new Error(
      `New migration ${name} is dated before the newest existing one (${newest}), so databases that already ` +
        `applied ${newest} would never run it: rename it to ${suggestion} (mv supabase/migrations/${name} ` +
        `supabase/migrations/${suggestion}) and its rollback likewise.`,
    );
  }
}

/** Runs git in the repository; null when git (or the repository) is unavailable. */
async function git(args: string[]): Promise<string | null> {
  try {
    const out = await new Deno.Command("git", {
      args,
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    })
      .output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
  } catch {
    return null;
  }
}

/**
 * Migration files the upstream commit does not have (untracked or added since): the merge base with the upstream
 * branch when there is one, else HEAD. Null when git cannot tell (no git, not a repository, no commit).
 */
export async function newMigrationNames(names: string[]): Promise<string[] | null> {
  const upstream = await git(["rev-parse", "--verify", "--quiet", "@{upstream}"]);
  const base = upstream
    ? await git(["merge-base", "HEAD", upstream])
    : await git(["rev-parse", "--verify", "HEAD"]);
  if (!base) return null;
  const listed = await git(["ls-tree", "--name-only", base, "supabase/migrations/"]);
  if (listed === null) return null;
  const known = new Set(listed.split("\n").filter(Boolean).map((p) => p.slice(p.lastIndexOf("/") + 1)));
  return names.filter((n) => !known.has(n));
}

const MIGRATIONS = `${ROOT}/supabase/migrations`;
const ROLLBACKS = `${ROOT}/supabase/rollbacks`;

function sqlFiles(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].filter((e) => e.isFile && e.name.endsWith(".sql")).map((e) => e.name)
      .sort();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

/** Migrations without `supabase/rollbacks/<same file name>`. */
export function missingRollbacks(migrations: string[], rollbacks: string[]): string[] {
  const have = new Set(rollbacks);
  return migrations.filter((name) => !have.has(name));
}

/** What Tollgate left behind in a database: objects in public, triggers on auth.users, tollgate-% cron jobs. */
const LEFTOVERS_SQL = `
with ext as (select objid from pg_depend where deptype = 'e')
select 'relation ' || c.relname from pg_class c
 where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
   and c.oid not in (select objid from ext)
union all
select 'function ' || p.oid::regprocedure::text from pg_proc p
 where p.pronamespace = 'public'::regnamespace and p.oid not in (select objid from ext)
union all
select 'type ' || t.typname from pg_type t
 where t.typnamespace = 'public'::regnamespace and t.typrelid = 0 and t.typelem = 0
   and t.oid not in (select objid from ext)
union all
select 'policy ' || pol.polname || ' on ' || pol.polrelid::regclass::text from pg_policy pol
  join pg_class c on c.oid = pol.polrelid where c.relnamespace = 'public'::regnamespace
union all
select 'trigger ' || tg.tgname || ' on auth.users' from pg_trigger tg
 where tg.tgrelid = to_regclass('auth.users') and not tg.tgisinternal
order by 1`;

async function cronLeftovers(dbUrl: string): Promise<string[]> {
  if (await psql(dbUrl, "select to_regclass('cron.job') is null") === "t") return [];
  const out = await psql(
    dbUrl,
    "select 'cron job ' || jobname from cron.job where jobname like 'tollgate-%'",
  );
  return out ? out.split("\n") : [];
}

/**
 * On a scratch database of the test cluster: the platform stand-in, every migration twice in a row, every
 * rollback in reverse, nothing of Tollgate left, then every migration again.
 */
export async function roundTrip(dbUrl: string): Promise<void> {
  const scratch = `tollgate_roundtrip_${Deno.pid}_${Date.now()}`;
  const scratchUrl = new URL(dbUrl);
  scratchUrl.pathname = `/${scratch}`;
  const migrations = sqlFiles(MIGRATIONS);
  await psql(dbUrl, `create database ${scratch}`);
  try {
    const url = scratchUrl.toString();
    await applyPlatformStandIn(url);
    for (const name of migrations) {
      await psqlFile(url, `${MIGRATIONS}/${name}`).catch((error) => {
        throw new Error(`Migration ${name} fails on a fresh database:\n${error.message}`);
      });
      await psqlFile(url, `${MIGRATIONS}/${name}`).catch((error) => {
        throw new Error(
          `Migration ${name} fails when applied a second time (make it re-runnable):\n${error.message}`,
        );
      });
    }
    for (const name of [...migrations].reverse()) {
      await psqlFile(url, `${ROLLBACKS}/${name}`).catch((error) => {
        throw new Error(`Rollback supabase/rollbacks/${name} fails:\n${error.message}`);
      });
    }
    const left = [
      ...(await psql(url, LEFTOVERS_SQL)).split("\n").filter(Boolean),
      ...(await cronLeftovers(url)),
    ];
    if (left.length > 0) {
      throw new Error(`After all rollbacks these Tollgate objects remain:\n  ${left.join("\n  ")}`);
    }
    for (const name of migrations) {
      await psqlFile(url, `${MIGRATIONS}/${name}`).catch((error) => {
        throw new Error(`Migration ${name} fails when re-applied after the rollbacks:\n${error.message}`);
      });
    }
  } finally {
    await psql(dbUrl, `drop database if exists ${scratch} with (force)`);
  }
}

export const migrationChecks: MigrationCheck[] = [
  {
    name: "migration versions are unique 14-digit timestamps and new ones come last",
    async run() {
      const names = [...Deno.readDirSync(MIGRATIONS)].map((e) => e.name).sort();
      const fresh = await newMigrationNames(names);
      if (fresh === null) console.log("(git unavailable: not checking that new migrations come last)");
      checkVersions(names, fresh ?? []);
    },
  },
  {
    name: "every migration has a rollback in supabase/rollbacks",
    run() {
      const missing = missingRollbacks(sqlFiles(MIGRATIONS), sqlFiles(ROLLBACKS));
      if (missing.length > 0) {
        throw new Error(
          `Missing rollbacks (drop what the migration creates, in reverse order):\n  ${
            missing.map((n) => `supabase/rollbacks/${n}`).join("\n  ")
          }`,
        );
      }
      return Promise.resolve();
    },
  },
  {
    name: "migrations apply twice, roll back completely and apply again on a scratch database",
    run: ({ dbUrl }) => roundTrip(dbUrl),
  },
  {
    name: "supabase db lint reports nothing, warnings included",
    async run({ dbUrl }) {
      await psql(dbUrl, "create extension if not exists plpgsql_check schema extensions");
      const args = [
        "db",
        "lint",
        "--db-url",
        dbUrl,
        "--schema",
        "public",
        "--level",
        "warning",
        "--fail-on",
        "warning",
      ];
      const out = await run(`${ROOT}/node_modules/.bin/supabase`, args).catch((e: Error) => e.message);
      if (!out.includes("No schema errors found")) {
        throw new Error(`supabase db lint found problems in public; fix the functions it names:\n${out}`);
      }
    },
  },
];
