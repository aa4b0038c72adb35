/** Checks over the migrations folder and the migrated database, run by `npm test` as one test each. */
import { checkFresh, GENERATED } from "./generated.ts";
import { migrate, psql, psqlFile, ROOT, run } from "./stack.ts";
import { versionAt } from "../../packages/cli/src/migrations.ts";

export interface MigrationCheck {
  name: string;
  /** `dbUrl` as postgres (the role migrations run as), `adminUrl` as the superuser. */
  run(ctx: { dbUrl: string; adminUrl: string }): Promise<void>;
}

export { versionAt };

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

/** Runs git in `cwd`; null when git (or the repository, or the ref) is unavailable. */
export type Git = (args: string[]) => Promise<string | null>;

export function gitIn(cwd: string): Git {
  return async (args) => {
    try {
      const out = await new Deno.Command("git", { args, cwd, stdin: "null", stdout: "piped", stderr: "null" })
        .output();
      return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
    } catch {
      return null;
    }
  };
}

/** Branches a feature branch is compared with when it has no upstream (a fresh local branch, a worktree). */
const MAIN_REFS = ["origin/main", "main"];

/**
 * The commit whose migrations count as existing: the merge base with the upstream branch when there is one, else
 * with origin/main or main when present (so a branch with no upstream still sees its own committed files as new),
 * else HEAD (every committed file counts as existing). Null when git cannot tell.
 */
export async function migrationBase(git: Git): Promise<string | null> {
  const upstream = await git(["rev-parse", "--verify", "--quiet", "@{upstream}"]);
  for (const ref of upstream ? [upstream] : MAIN_REFS) {
    const commit = await git(["rev-parse", "--verify", "--quiet", `${ref}^{commit}`]);
    const base = commit && await git(["merge-base", "HEAD", commit]);
    if (base) return base;
  }
  return await git(["rev-parse", "--verify", "--quiet", "HEAD"]);
}

/**
 * Migration files the base commit (see migrationBase) does not have: untracked, or added on this branch.
 * Null when git cannot tell (no git, not a repository, no commit).
 */
export async function newMigrationNames(names: string[], git: Git = gitIn(ROOT)): Promise<string[] | null> {
  const base = await migrationBase(git);
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

/**
 * Every object a migration could create, anywhere in the database, named by pg_identify_object (schema-qualified):
 * schemas, relations (tables, partitions, views, sequences, indexes, composite types), functions, types, policies,
 * triggers (auth.users included), constraints, event triggers, publications and roles. Left out: the system
 * schemas, the CLI's migration history (supabase_migrations) and extension members. Extensions themselves are left
 * out too: rollbacks keep them on purpose (pg_cron may run other jobs).
 */
const SNAPSHOT_SQL = `
with skip as (
  select oid from pg_namespace
   where nspname in ('pg_catalog', 'information_schema', 'supabase_migrations') or nspname like 'pg_toast%'
      or nspname like 'pg_temp%'
), ext_rel as (
  -- Tables an extension owns (cron.job): their indexes, constraints, policies and triggers are the extension's too.
  select d.objid as oid from pg_depend d where d.classid = 'pg_class'::regclass and d.deptype = 'e'
), candidate (classid, objid) as (
  select 'pg_namespace'::regclass, n.oid from pg_namespace n where n.oid not in (select oid from skip)
  union all
  select 'pg_class'::regclass, c.oid from pg_class c
   where c.relnamespace not in (select oid from skip) and c.relkind <> 't'
     and not exists (select 1 from pg_index i where i.indexrelid = c.oid and i.indrelid in (select oid from ext_rel))
  union all
  select 'pg_proc'::regclass, p.oid from pg_proc p where p.pronamespace not in (select oid from skip)
  union all
  select 'pg_type'::regclass, t.oid from pg_type t
   where t.typnamespace not in (select oid from skip) and t.typrelid = 0 and t.typcategory <> 'A'
  union all
  select 'pg_policy'::regclass, pol.oid from pg_policy pol join pg_class c on c.oid = pol.polrelid
   where c.relnamespace not in (select oid from skip) and c.oid not in (select oid from ext_rel)
  union all
  select 'pg_trigger'::regclass, tg.oid from pg_trigger tg join pg_class c on c.oid = tg.tgrelid
   where not tg.tgisinternal and c.relnamespace not in (select oid from skip) and c.oid not in (select oid from ext_rel)
  union all
  select 'pg_constraint'::regclass, con.oid from pg_constraint con
   where con.connamespace not in (select oid from skip) and con.conrelid not in (select oid from ext_rel)
  union all
  select 'pg_event_trigger'::regclass, e.oid from pg_event_trigger e
  union all
  select 'pg_publication'::regclass, pub.oid from pg_publication pub
  union all
  select 'pg_publication_rel'::regclass, pr.oid from pg_publication_rel pr
  union all
  select 'pg_authid'::regclass, r.oid from pg_roles r where r.rolname !~ '^pg_'
)
select o.type || ' ' || o.identity
  from candidate c cross join lateral pg_identify_object(c.classid, c.objid, 0) o
 where not exists (select 1 from pg_depend d
                    where d.classid = c.classid and d.objid = c.objid and d.deptype = 'e')
 order by 1`;

/** The catalogue snapshot plus the pg_cron jobs (cron.job exists only in the database pg_cron runs in). */
export async function snapshot(dbUrl: string): Promise<Set<string>> {
  const objects = (await psql(dbUrl, SNAPSHOT_SQL)).split("\n").filter(Boolean);
  if (await psql(dbUrl, "select to_regclass('cron.job') is not null") === "t") {
    const jobs = await psql(dbUrl, "select 'cron job ' || jobname from cron.job where jobname is not null");
    objects.push(...jobs.split("\n").filter(Boolean));
  }
  return new Set(objects);
}

/** What `after` has that `before` had not, sorted. */
export function leftovers(before: Set<string>, after: Set<string>): string[] {
  return [...after].filter((o) => !before.has(o)).sort();
}

function supabase(args: string[]): Promise<string> {
  return run(`${ROOT}/node_modules/.bin/supabase`, args);
}

/**
 * What the migrations may create outside their own objects (DESIGN "Schema (contract)"): everything else lives in
 * schema tollgate. These are the created objects (snapshot entries) that are not Tollgate's own: not the schema,
 * not in it, not a policy, constraint or trigger on one of its tables, not a trigger named tollgate_* (on
 * auth.users) and not a pg_cron job named tollgate-*.
 */
export function foreignObjects(created: string[]): string[] {
  return created.filter((o) =>
    !(o === "schema tollgate" || /^[a-z ]+? tollgate\./.test(o) || / on tollgate\.\S+$/.test(o) ||
      /^trigger tollgate_\S* on /.test(o) || /^cron job tollgate-/.test(o))
  );
}

/** Throws a message naming what differs between two snapshots, or nothing when they are equal. */
function sameObjects(
  want: Set<string>,
  have: Set<string>,
  context: (extra: string, missing: string) => string,
) {
  const extra = leftovers(want, have);
  const missing = leftovers(have, want);
  if (extra.length > 0 || missing.length > 0) {
    throw new Error(context(extra.join("\n  ") || "(none)", missing.join("\n  ") || "(none)"));
  }
}

/**
 * The round trip, on the database the rest of the suite then uses (its platform stand-in already applied):
 * every migration in order, each checked to create only Tollgate's own objects; each applied a second time,
 * changing nothing; every rollback in reverse, each leaving exactly what was there before its migration (nothing
 * of its own behind, nothing of anyone else's removed); then everything applied through the Supabase CLI, which
 * must give the same objects. Throws a message naming the file to fix.
 */
export async function roundTrip(dbUrl: string, log: (line: string) => void = console.log): Promise<void> {
  const migrations = sqlFiles(MIGRATIONS);
  const before = await snapshot(dbUrl);
  const after: Set<string>[] = [];
  for (const name of migrations) {
    await psqlFile(dbUrl, `${MIGRATIONS}/${name}`).catch((error) => {
      throw new Error(`Migration ${name} fails:\n${error.message}`);
    });
    after.push(await snapshot(dbUrl));
  }
  const migrated = after.at(-1) ?? before;
  const foreign = foreignObjects(leftovers(before, migrated));
  if (foreign.length > 0) {
    throw new Error(
      `The migrations create objects outside schema tollgate (Tollgate owns only its schema, triggers named ` +
        `tollgate_* and pg_cron jobs named tollgate-*); move them into tollgate:\n  ${foreign.join("\n  ")}`,
    );
  }
  log(`applied ${migrations.length} migrations one by one: every object they create is Tollgate's`);
  for (const name of migrations) {
    await psqlFile(dbUrl, `${MIGRATIONS}/${name}`).catch((error) => {
      throw new Error(
        `Migration ${name} fails when applied a second time (make it re-runnable: if not exists, create or ` +
          `replace, drop ... if exists before create):\n${error.message}`,
      );
    });
  }
  sameObjects(
    migrated,
    await snapshot(dbUrl),
    (extra, missing) =>
      `Applying every migration a second time changes the schema; make the files re-runnable.\n` +
      `Added:\n  ${extra}\nRemoved:\n  ${missing}`,
  );
  log("applied each migration a second time: nothing changed");
  for (let i = migrations.length - 1; i >= 0; i--) {
    const name = migrations[i];
    await psqlFile(dbUrl, `${ROLLBACKS}/${name}`).catch((error) => {
      throw new Error(`Rollback supabase/rollbacks/${name} fails:\n${error.message}`);
    });
    sameObjects(
      i > 0 ? after[i - 1] : before,
      await snapshot(dbUrl),
      (extra, missing) =>
        `Rollback supabase/rollbacks/${name} must leave exactly what was there before its migration.\n` +
        `Left behind (drop each in this rollback):\n  ${extra}\n` +
        `Removed although its migration did not create it (drop only what it created):\n  ${missing}`,
    );
  }
  log("rolled back every migration in reverse: each removed exactly what its migration created");
  await migrate(dbUrl).catch((error) => {
    throw new Error(
      `The migrations fail through the Supabase CLI (supabase migration up):\n${error.message}`,
    );
  });
  sameObjects(
    migrated,
    await snapshot(dbUrl),
    (extra, missing) =>
      `The migrations give other objects through the Supabase CLI than one by one with psql.\n` +
      `Only through the CLI:\n  ${extra}\nOnly with psql:\n  ${missing}`,
  );
  log("applied every migration again with supabase migration up: the same objects");
}

/**
 * After a failed round trip, best effort to leave the database migrated so the rest of the suite still reports:
 * every rollback in reverse (errors ignored), the history forgotten, every migration applied through the CLI.
 */
export async function remigrate(dbUrl: string): Promise<void> {
  for (const name of sqlFiles(MIGRATIONS).reverse()) {
    await psqlFile(dbUrl, `${ROLLBACKS}/${name}`).catch(() => {});
  }
  await psql(dbUrl, "delete from supabase_migrations.schema_migrations").catch(() => {});
  await migrate(dbUrl);
}

/** Checks over the files alone (before the suite's database is migrated). */
export const fileChecks: MigrationCheck[] = [
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
];

/** The round trip as a check: it migrates the suite's database (see roundTrip). */
export const roundTripCheck: MigrationCheck = {
  name:
    "migrations create only Tollgate's objects, re-run unchanged, roll back one by one, and apply through the CLI",
  run: ({ dbUrl }) => roundTrip(dbUrl),
};

/** Checks over the suite's migrated database. */
export const databaseChecks: MigrationCheck[] = [
  {
    name: "supabase db lint reports nothing, warnings included",
    async run({ dbUrl, adminUrl }) {
      // Hosted has plpgsql_check available to enable; here the superuser enables it.
      await psql(adminUrl, "create extension if not exists plpgsql_check schema extensions");
      const args = [
        "db",
        "lint",
        `--remote=${dbUrl}`,
        "--schema",
        "tollgate",
        "--level",
        "warning",
        "--fail-on",
        "warning",
      ];
      const out = await supabase(args).catch((e: Error) => e.message);
      if (!out.includes("No schema errors found")) {
        throw new Error(`supabase db lint found problems in tollgate; fix the functions it names:\n${out}`);
      }
    },
  },
  ...GENERATED.map((file): MigrationCheck => ({
    name: `${file.path} matches the migrated schema`,
    run: ({ dbUrl }) => checkFresh(file, dbUrl),
  })),
];
