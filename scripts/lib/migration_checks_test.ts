import assert from "node:assert/strict";
import {
  checkVersions,
  foreignObjects,
  gitIn,
  leftovers,
  migrationBase,
  missingRollbacks,
  newMigrationNames,
  versionAt,
} from "./migration_checks.ts";

const existing = ["20261122000100_create_plans.sql", "20261122000900_create_account_on_signup.sql"];
const now = new Date("2026-11-23T03:20:05Z");

Deno.test("versions of a fresh clone (no new files) pass", () => {
  checkVersions(existing, [], now);
});

Deno.test("a new migration dated after the newest existing one passes", () => {
  checkVersions(
    [...existing, "20261123031500_create_webhooks.sql"],
    ["20261123031500_create_webhooks.sql"],
    now,
  );
});

Deno.test("a new migration dated before the newest existing one is refused with a rename to now", () => {
  const late = "20261122000500_create_webhooks.sql";
  assert.throws(
    () => checkVersions([...existing, late], [late], now),
    /dated before the newest existing one .*rename it to 20261123032005_create_webhooks\.sql/s,
  );
});

Deno.test("an old file that is already upstream is not refused even if out of order with a new one", () => {
  checkVersions([...existing, "20261122000500_create_webhooks.sql"], [], now);
});

Deno.test("a new migration when the clock is behind the newest version is told to use a later version", () => {
  const late = "20261122000500_create_webhooks.sql";
  assert.throws(
    () => checkVersions([...existing, late], [late], new Date("2026-01-01T00:00:00Z")),
    /rename it to <a version after 20261122000900>_create_webhooks\.sql/,
  );
});

Deno.test("a version used twice is refused", () => {
  assert.throws(() => checkVersions([...existing, "20261122000100_create_other.sql"], [], now), /used twice/);
});

Deno.test("a version that is not 14 digits is refused", () => {
  assert.throws(() => checkVersions(["2026112200010_create_plans.sql"], [], now), /misnamed/);
});

Deno.test("versionAt formats UTC as YYYYMMDDHHMMSS", () => {
  assert.equal(versionAt(now), "20261123032005");
});

Deno.test("missing rollbacks are named", () => {
  assert.deepEqual(missingRollbacks(existing, [existing[0]]), [existing[1]]);
});

Deno.test("leftovers are what the snapshot after the rollbacks has and the one before had not, sorted", () => {
  const before = new Set(["schema auth", "table auth.users"]);
  const after = new Set([
    "table auth.users",
    "trigger t on auth.users",
    "cron job tollgate-x",
    "schema auth",
  ]);
  assert.deepEqual(leftovers(before, after), ["cron job tollgate-x", "trigger t on auth.users"]);
});

/** A scratch repository with main holding one migration, for the base-commit tests. */
async function scratchRepo() {
  const dir = Deno.makeTempDirSync({ prefix: "tollgate-git-" });
  const run = gitIn(dir);
  const git = (...args: string[]) =>
    run(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", ...args]);
  const add = async (name: string) => {
    Deno.mkdirSync(`${dir}/supabase/migrations`, { recursive: true });
    Deno.writeTextFileSync(`${dir}/supabase/migrations/${name}`, "-- test\n");
    await git("add", ".");
    await git("commit", "-q", "-m", name);
  };
  await git("init", "-q", "-b", "main");
  await add(existing[1]);
  return { dir, git };
}

Deno.test("a migration already committed on a branch with no upstream still counts as new against main", async () => {
  const { dir, git } = await scratchRepo();
  try {
    await git("checkout", "-q", "-b", "feature");
    const late = "20261122000500_create_webhooks.sql";
    Deno.writeTextFileSync(`${dir}/supabase/migrations/${late}`, "-- late\n");
    await git("add", ".");
    await git("commit", "-q", "-m", "late");
    const fresh = await newMigrationNames([existing[1], late], gitIn(dir));
    assert.deepEqual(fresh, [late]);
    assert.throws(() => checkVersions([existing[1], late], fresh ?? [], now), /rename it to/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("on main itself every committed migration counts as existing and an untracked one as new", async () => {
  const { dir } = await scratchRepo();
  try {
    const draft = "20261123040000_create_drafts.sql";
    Deno.writeTextFileSync(`${dir}/supabase/migrations/${draft}`, "-- draft\n");
    assert.deepEqual(await newMigrationNames([existing[1], draft], gitIn(dir)), [draft]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("outside a git repository nobody can tell which migrations are new", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "tollgate-nogit-" });
  try {
    assert.equal(await migrationBase(gitIn(dir)), null);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("Tollgate may create its schema and what is in it, tollgate_ triggers and tollgate- cron jobs, nothing else", () => {
  const own = [
    "schema tollgate",
    "table tollgate.accounts",
    "index tollgate.accounts_settle_at_idx",
    "function tollgate._acting_user(uuid)",
    "type tollgate.credit_source",
    "policy accounts_select_own on tollgate.accounts",
    "table constraint accounts_pkey on tollgate.accounts",
    "trigger credit_ledger_append_only on tollgate.credit_ledger",
    "trigger tollgate_on_auth_user_created on auth.users",
    "cron job tollgate-reset-monthly-quotas",
    "publication relation tollgate.billing_events in publication supabase_realtime",
  ];
  const foreign = [
    "table public.accounts",
    "function public.consume_credits(text, integer)",
    "schema tollgate_extra",
    "table tollgatex.plans",
    "policy plans_read on public.plans",
    "trigger on_auth_user_created on auth.users",
    "cron job reset-monthly-quotas",
  ];
  assert.deepEqual(foreignObjects([...own, ...foreign]), foreign);
});
