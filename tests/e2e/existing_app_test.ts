/**
 * `npx tollgate install` into an existing Supabase app (tests/fixtures/existing_app: its own plans, profiles
 * with credits, accounts, subscriptions, usage_counters, ai_usage, a handle_new_user signup trigger, RLS, grants,
 * its own functions/_shared/), on a fresh database of its own with the platform stand-in, migrated with the
 * Supabase CLI as `db push` would: the app's objects and rows stay byte for byte as they were, a signup gets the
 * app's profile and a Tollgate account, the installed copy's functions work, a second install changes nothing,
 * and the uninstall migration leaves the app exactly as before the install.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { FIXTURE, tree, writeTree } from "../../packages/cli/src/testing.ts";
import { LOCAL_SERVICE_ROLE_KEY } from "../../scripts/lib/keys.ts";
import {
  applyPlatformStandIn,
  freePort,
  functionEnv,
  migrate,
  type Postgres,
  psql,
  psqlFile,
  ROOT,
  run,
  spawnFunction,
  startPostgres,
  waitForPort,
} from "../../scripts/lib/stack.ts";

const TOLLGATE = `${ROOT}/node_modules/.bin/tollgate`;
const ADA = "6f1c0b1e-2d3a-4e5f-8a9b-0c1d2e3f4a5b";
const GRACE = "7a2d1c2f-3e4b-4f60-9bac-1d2e3f4a5b6c";

/** pg_dump of schema public, without the lines that differ on every run (`\restrict` keys). */
async function dump(dbUrl: string, what: "--schema-only" | "--data-only"): Promise<string> {
  const out = await run("pg_dump", [dbUrl, what, "--schema=public"], { stdoutOnly: true });
  return out.split("\n").filter((l) => !/^\\(un)?restrict /.test(l)).join("\n");
}

/**
 * Everything of the app's that Tollgate could touch: schema public (tables, columns, constraints, indexes,
 * functions, policies, RLS, grants, comments) and its rows, the app's triggers on auth.users, default
 * privileges, publications and pg_cron jobs; Tollgate's own (schema tollgate, tollgate_* triggers, tollgate-*
 * jobs) left out.
 */
async function appCatalogue(dbUrl: string): Promise<Record<string, string>> {
  return {
    schema: await dump(dbUrl, "--schema-only"),
    rows: await dump(dbUrl, "--data-only"),
    authTriggers: await psql(
      dbUrl,
      `select pg_get_triggerdef(oid) from pg_trigger
        where tgrelid = 'auth.users'::regclass and not tgisinternal and tgname not like 'tollgate\\_%' order by 1`,
    ),
    defaultPrivileges: await psql(
      dbUrl,
      `select format('%s %s %s %s', defaclrole::regrole, defaclnamespace::regnamespace, defaclobjtype, defaclacl)
         from pg_default_acl where defaclnamespace::regnamespace::text <> 'tollgate' order by 1`,
    ),
    publications: await psql(
      dbUrl,
      `select pubname || ' ' || schemaname || '.' || tablename from pg_publication_tables
        where schemaname <> 'tollgate' order by 1`,
    ),
    jobs: await psql(
      dbUrl,
      `select jobname || ' ' || schedule || ' ' || command from cron.job
        where jobname not like 'tollgate-%' order by 1`,
    ).catch(() => "(no pg_cron)"),
  };
}

/** Tollgate's objects left in the database: its schema, tollgate_* triggers on auth.users, tollgate-* jobs. */
function tollgateLeft(dbUrl: string): Promise<string> {
  return psql(
    dbUrl,
    `select 'schema tollgate' where to_regnamespace('tollgate') is not null
     union all select 'trigger ' || tgname from pg_trigger
      where tgrelid = 'auth.users'::regclass and tgname like 'tollgate\\_%'
     union all select 'job ' || jobname from cron.job where jobname like 'tollgate-%'`,
  );
}

/**
 * The app's files, leaving out what running it writes: the Supabase CLI's supabase/.temp/, and the node_modules/
 * and deno.lock that starting its functions with Deno may leave beside their config.
 */
function files(app: string): Map<string, string> {
  return tree(app, (path) => path === "supabase/.temp" || /(^|\/)(node_modules|deno\.lock)$/.test(path));
}

/** Starts one of the installed copy's functions as deployed, failing fast (with its output) if it dies. */
async function startFunction(app: string, name: string, dbUrl: string) {
  const port = freePort();
  // Service-key calls only: no user token needs the JWKS. TOLLGATE_DB_URL, which the functions prefer, is set in
  // this process for the suite's own functions (their database): the app's copy must use the app's.
  const env = {
    ...functionEnv({ dbUrl, supabaseUrl: `http://127.0.0.1:${freePort()}`, jwks: { keys: [] } }),
    TOLLGATE_DB_URL: dbUrl,
  };
  const child = spawnFunction(name, env, port, { output: "piped", root: app });
  const output = new Response(child.stderr).text();
  const stdout = child.stdout.cancel();
  await Promise.race([
    waitForPort(port, 60_000, `the installed ${name}`),
    child.status.then(async (s) => {
      throw new Error(`The installed ${name} exited with ${s.code} before it listened:\n${await output}`);
    }),
  ]);
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      child.kill("SIGTERM");
      await Promise.all([child.status, output, stdout]);
    },
  };
}

async function post(url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${LOCAL_SERVICE_ROLE_KEY}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

Deno.test("Tollgate installs into an existing app without touching it, works there, and uninstalls cleanly", async (t) => {
  const work = Deno.makeTempDirSync({ prefix: "tollgate-existing-app-" });
  Deno.chmodSync(work, 0o755);
  const app = `${work}/app`;
  writeTree(app, Object.fromEntries(tree(FIXTURE)));
  let pg: Postgres | null = null;
  const stops: (() => Promise<void>)[] = [];
  let ok = true;
  const step = async (name: string, fn: () => Promise<void>) => {
    ok = (await t.step({ name, ignore: !ok, fn })) && ok;
  };
  try {
    pg = await startPostgres(`${work}/db`, freePort(), { fast: true });
    const dbUrl = pg.url;
    await applyPlatformStandIn(pg.adminUrl);
    await migrate(dbUrl, app);
    await psqlFile(dbUrl, `${app}/supabase/seed.sql`);
    const before = await appCatalogue(dbUrl);
    let installed = new Map<string, string>();

    await step("install writes Tollgate's migrations after the app's own", async () => {
      const out = await run(TOLLGATE, ["install", app]);
      assert.match(out, /Installed Tollgate/);
      installed = files(app);
      const names = [...installed.keys()].filter((p) => p.startsWith("supabase/migrations/")).map((p) =>
        p.slice(20)
      );
      const own = names.filter((n) => !n.includes("_tollgate_"));
      assert.deepEqual(own, [...tree(`${FIXTURE}/supabase/migrations`).keys()]);
      assert.ok(names.indexOf(own.at(-1)!) < names.findIndex((n) => n.includes("_tollgate_")));
    });

    await step(
      "the Supabase CLI applies them and the app's objects, grants, trigger and rows are as before",
      async () => {
        await migrate(dbUrl, app);
        assert.deepEqual(await appCatalogue(dbUrl), before);
      },
    );

    const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
    stops.push(() => sql.end());
    const newUser = crypto.randomUUID();
    let consume = "";
    let logUsage = "";

    await step(
      "the installed copy's consume-credit and log-ai-usage start and find the existing users' accounts",
      async () => {
        const fns = await Promise.all(
          ["consume-credit", "log-ai-usage"].map((n) => startFunction(app, n, dbUrl)),
        );
        stops.push(...fns.map((f) => f.stop));
        [consume, logUsage] = fns.map((f) => f.url);
        for (const user of [ADA, GRACE]) {
          const res = await post(consume, { idempotency_key: `existing-${user}`, amount: 0, user_id: user });
          assert.equal(res.status, 200, JSON.stringify(res.body));
        }
      },
    );

    await step("a new signup gets the app's profile and a Tollgate account", async () => {
      await sql`insert into auth.users (id, email, raw_user_meta_data)
                values (${newUser}, 'linus@example.com', '{"name": "Linus"}')`;
      const profiles = await sql`select display_name, credits from public.profiles where id = ${newUser}`;
      assert.deepEqual([...profiles], [{ display_name: "Linus", credits: 3 }]);
      const res = await post(consume, { idempotency_key: "first-chat", amount: 1, user_id: newUser });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.consumed, 1);
    });

    await step(
      "log-ai-usage records a call for the new user, and the app's own credits are untouched",
      async () => {
        const res = await post(logUsage, {
          request_id: "first-chat",
          model: "gpt-4o-mini",
          input_tokens: 812,
          output_tokens: 120,
          user_id: newUser,
        });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        assert.equal(typeof res.body.usage_id, "string");
        const [{ credits }] = await sql`select credits from public.profiles where id = ${newUser}`;
        assert.equal(credits, 3);
        assert.equal((await sql`select 1 from public.ai_usage where user_id = ${newUser}`).length, 0);
      },
    );

    await step("a second install changes nothing, byte for byte", async () => {
      assert.match(await run(TOLLGATE, ["install", app]), /nothing to change/);
      assert.deepEqual(files(app), installed);
    });

    await step(
      "the uninstall migration removes Tollgate and leaves the app exactly as before the install",
      async () => {
        const beforeUninstall = await appCatalogue(dbUrl);
        await run(TOLLGATE, ["uninstall", app]);
        await migrate(dbUrl, app);
        assert.equal(await tollgateLeft(dbUrl), "");
        const after = await appCatalogue(dbUrl);
        assert.deepEqual(after, beforeUninstall);
        assert.deepEqual({ ...after, rows: "" }, { ...before, rows: "" });
        const left = files(app);
        for (const path of [...left.keys()].filter((p) => /^supabase\/migrations\/\d+_tollgate_/.test(p))) {
          left.delete(path);
        }
        assert.deepEqual(left, tree(FIXTURE));
      },
    );
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await pg?.stop();
    Deno.removeSync(work, { recursive: true });
  }
});
