import assert from "node:assert/strict";
import { fakeTollgate, FIXTURE, fixtureCopy, tollgate, tree, withTemp, writeTree } from "./testing.ts";
import { UNINSTALL_SQL } from "./uninstall.ts";

const NOW = new Date("2026-03-04T05:06:07Z");
const LATER = new Date("2026-03-05T00:00:00Z");

Deno.test("uninstall writes the removal migration, and leaves the app's files as before the install otherwise", async () => {
  await withTemp(() => {
    const app = fixtureCopy();
    const original = tree(app);
    assert.equal(tollgate(["install", app], fakeTollgate(), NOW).code, 0);
    const run = tollgate(["uninstall", app], fakeTollgate(), LATER);
    assert.equal(run.code, 0, run.err);
    const after = tree(app);
    const migrations = [...after.keys()].filter((p) => !original.has(p));
    assert.deepEqual(migrations, [
      "supabase/migrations/20260304050607_tollgate_create_plans.sql",
      "supabase/migrations/20260304050608_tollgate_create_accounts.sql",
      "supabase/migrations/20260305000000_tollgate_uninstall.sql",
    ]);
    assert.equal(after.get(migrations[2]), Deno.readTextFileSync(UNINSTALL_SQL));
    for (const m of migrations) after.delete(m);
    assert.deepEqual(after, original);
    assert.match(run.out, /supabase db push/);
  });
});

Deno.test("uninstall in an app without Tollgate changes nothing", async () => {
  await withTemp(() => {
    const app = fixtureCopy();
    const run = tollgate(["uninstall", app], fakeTollgate(), LATER);
    assert.equal(run.code, 0);
    assert.match(run.out, /not installed .*nothing to do/);
    assert.deepEqual(tree(app), tree(FIXTURE));
    // A second uninstall after the first has nothing left to do either.
    assert.equal(tollgate(["install", app], fakeTollgate(), NOW).code, 0);
    assert.equal(tollgate(["uninstall", app], fakeTollgate(), LATER).code, 0);
    const once = tree(app);
    assert.match(tollgate(["uninstall", app], fakeTollgate(), LATER).out, /nothing to do/);
    assert.deepEqual(tree(app), once);
  });
});

Deno.test("uninstall refuses, writing nothing, when the app changed a file Tollgate installed", async () => {
  await withTemp(() => {
    const app = fixtureCopy();
    assert.equal(tollgate(["install", app], fakeTollgate(), NOW).code, 0);
    writeTree(app, { "supabase/functions/_tollgate/db.ts": "// patched\n" });
    const before = tree(app);
    const run = tollgate(["uninstall", app], fakeTollgate(), LATER);
    assert.equal(run.code, 1);
    assert.match(run.err, /supabase\/functions\/_tollgate\/db\.ts was changed since Tollgate installed it/);
    assert.deepEqual(tree(app), before);
  });
});

Deno.test("uninstall keeps files the app added to Tollgate's folders", async () => {
  await withTemp(() => {
    const app = fixtureCopy();
    assert.equal(tollgate(["install", app], fakeTollgate(), NOW).code, 0);
    writeTree(app, { "supabase/functions/consume-credit/notes.md": "ours\n" });
    assert.equal(tollgate(["uninstall", app], fakeTollgate(), LATER).code, 0);
    const after = tree(app);
    assert.equal(after.get("supabase/functions/consume-credit/notes.md"), "ours\n");
    assert.equal(after.has("supabase/functions/consume-credit/index.ts"), false);
  });
});

Deno.test("installing again after an uninstall adds Tollgate's migrations anew, after the uninstall", async () => {
  await withTemp(() => {
    const app = fixtureCopy();
    const src = fakeTollgate();
    assert.equal(tollgate(["install", app], src, NOW).code, 0);
    assert.equal(tollgate(["uninstall", app], src, LATER).code, 0);
    const run = tollgate(["install", app], src, LATER);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /\+ supabase\/migrations\/20260305000001_tollgate_create_plans\.sql/);
    assert.match(run.out, /\+ supabase\/migrations\/20260305000002_tollgate_create_accounts\.sql/);
  });
});
