/**
 * The migration `npx tollgate uninstall` writes (packages/cli/sql/uninstall.sql): it removes Tollgate's schema,
 * its auth.users triggers and pg_cron jobs and nothing of the app's; it refuses when an app object depends on
 * Tollgate; it applies where pg_cron (and Tollgate) are absent. Arranged and checked inside transactions that
 * roll back, so the suite's database is left as it was.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { UNINSTALL_SQL } from "../../packages/cli/src/uninstall.ts";
import { db, DB_URL } from "./_helpers.ts";

const admin = db();
const UNINSTALL = Deno.readTextFileSync(UNINSTALL_SQL);

class Rollback extends Error {}

/** Runs `fn` in a transaction that is always rolled back. */
async function inRollback(fn: (tx: postgres.TransactionSql) => Promise<void>): Promise<void> {
  await admin.begin(async (tx) => {
    await fn(tx);
    throw new Rollback();
  }).catch((error) => {
    if (!(error instanceof Rollback)) throw error;
  });
}

/** Tollgate-like objects (in schema tollgate, named tollgate_* and tollgate-*) beside the app's own. */
const ARRANGE = `
  create schema if not exists tollgate;
  create table tollgate.uninstall_probe (id int primary key);
  create function tollgate.uninstall_probe_signup() returns trigger language plpgsql as 'begin return new; end';
  create trigger tollgate_uninstall_probe after insert on auth.users
    for each row execute function tollgate.uninstall_probe_signup();
  create function public.uninstall_probe_signup() returns trigger language plpgsql as 'begin return new; end';
  create trigger tollgate_uninstall_probe_elsewhere after insert on auth.users
    for each row execute function public.uninstall_probe_signup();
  create trigger app_uninstall_probe after insert on auth.users
    for each row execute function public.uninstall_probe_signup();
  create table public.uninstall_probe_app (id int primary key);
  create publication uninstall_probe_pub for table tollgate.uninstall_probe, public.uninstall_probe_app;
  select cron.schedule('tollgate-uninstall-probe', '0 0 * * *', 'select 1');
  select cron.schedule('app-uninstall-probe', '0 0 * * *', 'select 1');
`;

Deno.test("the uninstall migration removes Tollgate's schema, triggers and jobs, and nothing of the app's", async () => {
  await inRollback(async (tx) => {
    await tx.unsafe(ARRANGE).simple();
    await tx.unsafe(UNINSTALL).simple();
    const [state] = await tx`
      select to_regnamespace('tollgate') is null as schema_gone,
             to_regclass('public.uninstall_probe_app') is not null as app_table_kept,
             to_regproc('public.uninstall_probe_signup') is not null as app_function_kept,
             (select array_agg(tgname::text order by tgname) from pg_trigger
               where tgrelid = 'auth.users'::regclass and tgname like '%uninstall_probe%') as triggers,
             (select array_agg(jobname order by jobname) from cron.job where jobname like '%uninstall-probe') as jobs,
             (select array_agg(schemaname || '.' || tablename) from pg_publication_tables
               where pubname = 'uninstall_probe_pub') as published`;
    assert.deepEqual(state, {
      schema_gone: true,
      app_table_kept: true,
      app_function_kept: true,
      triggers: ["app_uninstall_probe"],
      jobs: ["app-uninstall-probe"],
      published: ["public.uninstall_probe_app"],
    });
    // Applied again (the migration checks re-run every file), it finds nothing left and changes nothing.
    await tx.unsafe(UNINSTALL).simple();
  });
});

Deno.test("the uninstall migration refuses, dropping nothing, when an app object depends on Tollgate", async () => {
  await inRollback(async (tx) => {
    await tx.unsafe(ARRANGE).simple();
    await tx.unsafe(`
      create view public.uninstall_probe_view as select id from tollgate.uninstall_probe;
      create table public.uninstall_probe_ref (id int references tollgate.uninstall_probe (id));
    `).simple();
    let refusal = "";
    await tx.savepoint((sp) => sp.unsafe(UNINSTALL).simple()).catch((e: Error) => refusal = e.message);
    assert.match(refusal, /objects outside schema tollgate depend on it: .*on public\.uninstall_probe_view/);
    assert.match(refusal, /constraint uninstall_probe_ref_id_fkey on public\.uninstall_probe_ref/);
    const [{ kept }] = await tx`select to_regclass('tollgate.uninstall_probe') is not null as kept`;
    assert.equal(kept, true);
  });
});

Deno.test("the uninstall migration applies where neither pg_cron nor Tollgate nor auth exist", async () => {
  const name = `tollgate_uninstall_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  await admin.unsafe(`create database ${name}`);
  const url = new URL(DB_URL);
  url.pathname = `/${name}`;
  const scratch = postgres(url.toString(), { max: 1, onnotice: () => {} });
  try {
    await scratch.unsafe(UNINSTALL).simple();
    await scratch.unsafe(UNINSTALL).simple();
    const [{ cron }] = await scratch`select to_regclass('cron.job') is null as cron`;
    assert.equal(cron, true);
  } finally {
    await scratch.end();
    await admin.unsafe(`drop database ${name}`);
  }
});

Deno.test("teardown: close the database connection", async () => {
  await admin.end();
});
