import assert from "node:assert/strict";
import { join } from "node:path";
import { parse } from "smol-toml";
import { readPayload } from "./payload.ts";
import { fakeTollgate, fixtureCopy, REPO_SUPABASE, tollgate, tree, withTemp, writeTree } from "./testing.ts";

const NOW = new Date("2026-03-04T05:06:07Z");

/** Files in `after` that `before` has not, and files of `before` that changed (by path). */
function diff(before: Map<string, string>, after: Map<string, string>) {
  return {
    added: [...after.keys()].filter((p) => !before.has(p)),
    changed: [...before.keys()].filter((p) => after.has(p) && after.get(p) !== before.get(p)),
    removed: [...before.keys()].filter((p) => !after.has(p)),
  };
}

/** The app's `[functions.*]` tables, as plain objects. */
function functionsOf(app: string): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify(parse(Deno.readTextFileSync(join(app, "supabase/config.toml"))).functions),
  );
}

Deno.test("install adds Tollgate's migrations after the app's, its functions and shared code, and edits only config.toml", async () => {
  await withTemp(() => {
    const app = fixtureCopy();
    const src = fakeTollgate();
    const before = tree(app);
    const run = tollgate(["install", app], src, NOW);
    assert.equal(run.code, 0, run.err);
    const after = tree(app);
    assert.deepEqual(diff(before, after), {
      added: [
        "supabase/functions/_tollgate/db.ts",
        "supabase/functions/consume-credit/deno.json",
        "supabase/functions/consume-credit/index.ts",
        "supabase/migrations/20260304050607_tollgate_create_plans.sql",
        "supabase/migrations/20260304050608_tollgate_create_accounts.sql",
        "supabase/tollgate.json",
      ],
      changed: ["supabase/config.toml"],
      removed: [],
    });
    for (const [path, text] of tree(src)) {
      const installed = path.startsWith("migrations/")
        ? `supabase/migrations/2026030405060${path.includes("plans") ? 7 : 8}_tollgate_${path.slice(26)}`
        : `supabase/${path}`;
      if (path !== "config.toml") assert.equal(after.get(installed), text, installed);
    }
    assert.deepEqual(functionsOf(app)["consume-credit"], {
      verify_jwt: false,
      import_map: "./functions/consume-credit/deno.json",
    });
    for (
      const step of [
        "supabase db push",
        "supabase secrets set",
        "supabase functions deploy",
        "Exposed schemas",
      ]
    ) {
      assert.ok(run.out.includes(step), `next steps name ${step}`);
    }
    assert.ok(run.out.includes("+ supabase/migrations/20260304050607_tollgate_create_plans.sql"));
  });
});

Deno.test("a second install changes nothing, byte for byte", async () => {
  await withTemp(() => {
    const app = fixtureCopy();
    const src = fakeTollgate();
    assert.equal(tollgate(["install", app], src, NOW).code, 0);
    const once = tree(app);
    const again = tollgate(["install", app], src, new Date("2026-05-06T07:08:09Z"));
    assert.equal(again.code, 0);
    assert.match(again.out, /already installed .*nothing to change/);
    assert.deepEqual(tree(app), once);
  });
});

/** Each way an app can already hold what install would write, and the reason install gives. */
const CONFLICTS: [string, Record<string, string>, RegExp][] = [
  [
    "a shared file with other content",
    { "supabase/functions/_tollgate/db.ts": "export const db = 2;\n" },
    /supabase\/functions\/_tollgate\/db\.ts exists with other content/,
  ],
  [
    "a function folder of the app's own",
    { "supabase/functions/consume-credit/index.ts": "// the app's\n" },
    /supabase\/functions\/consume-credit\/ belongs to the app: install with --prefix/,
  ],
  [
    "a function folder of the app's own holding only other files",
    { "supabase/functions/consume-credit/README.md": "ours\n" },
    /supabase\/functions\/consume-credit\/ belongs to the app/,
  ],
  [
    "the app's own [functions.<name>] in config.toml",
    {
      "supabase/config.toml": `${
        Deno.readTextFileSync(
          new URL("../../../tests/fixtures/existing_app/supabase/config.toml", import.meta.url),
        )
      }` +
        `\n[functions.consume-credit]\nverify_jwt = true\n`,
    },
    /already has \[functions\.consume-credit\] of the app's own/,
  ],
  [
    "a migration named like Tollgate's with other content",
    { "supabase/migrations/20240301000000_tollgate_create_plans.sql": "create table plans ();\n" },
    /20240301000000_tollgate_create_plans\.sql differs from Tollgate's 20260101000100_create_plans\.sql/,
  ],
  [
    "a manifest that is not Tollgate's",
    { "supabase/tollgate.json": `{"name": "something else"}\n` },
    /tollgate\.json is not Tollgate's manifest/,
  ],
];

for (const [name, files, reason] of CONFLICTS) {
  Deno.test(`install refuses, writing nothing, when the app has ${name}`, async () => {
    await withTemp(() => {
      const app = fixtureCopy();
      writeTree(app, files);
      const before = tree(app);
      const run = tollgate(["install", app], fakeTollgate(), NOW);
      assert.equal(run.code, 1);
      assert.match(run.err, /refused, nothing written/);
      assert.match(run.err, reason);
      assert.deepEqual(tree(app), before);
    });
  });
}

Deno.test("install names every reason it refuses for, not just the first", async () => {
  await withTemp(() => {
    const app = fixtureCopy();
    writeTree(app, {
      "supabase/functions/_tollgate/db.ts": "other\n",
      "supabase/functions/consume-credit/index.ts": "other\n",
    });
    const run = tollgate(["install", app], fakeTollgate(), NOW);
    assert.equal(run.code, 1);
    assert.equal(run.err.split("\n").filter((l) => l.startsWith("  - ")).length, 3, run.err);
  });
});

Deno.test("--prefix installs the functions and their config entries as <prefix><name>, beside the app's own", async () => {
  await withTemp(() => {
    const app = fixtureCopy();
    writeTree(app, { "supabase/functions/consume-credit/index.ts": "// the app's\n" });
    const src = fakeTollgate();
    const run = tollgate(["install", app, "--prefix", "tg-"], src, NOW);
    assert.equal(run.code, 0, run.err);
    const after = tree(app);
    assert.equal(after.get("supabase/functions/consume-credit/index.ts"), "// the app's\n");
    assert.equal(
      after.get("supabase/functions/tg-consume-credit/index.ts"),
      tree(src).get("functions/consume-credit/index.ts"),
    );
    assert.deepEqual(functionsOf(app)["tg-consume-credit"], {
      verify_jwt: false,
      import_map: "./functions/tg-consume-credit/deno.json",
    });
    assert.equal(functionsOf(app)["consume-credit"], undefined);

    // Later runs keep the prefix the app chose; another one is refused.
    assert.match(tollgate(["install", app], src, NOW).out, /nothing to change/);
    const other = tollgate(["install", app, "--prefix", "billing-"], src, NOW);
    assert.equal(other.code, 1);
    assert.match(other.err, /installed here with --prefix "tg-"/);
    assert.deepEqual(tree(app), after);
  });
});

Deno.test("a prefix that makes an invalid function name is refused", async () => {
  await withTemp(() => {
    const app = fixtureCopy();
    const run = tollgate(["install", app, "--prefix", "1-"], fakeTollgate(), NOW);
    assert.equal(run.code, 1);
    assert.match(run.err, /1-consume-credit is not a valid function name/);
  });
});

Deno.test("a newer Tollgate adds only the new migration, after the app's newest at that time, and updates its files", async () => {
  await withTemp(() => {
    const app = fixtureCopy();
    assert.equal(tollgate(["install", app], fakeTollgate(), NOW).code, 0);
    const installed = tree(app);
    // The app moves on: a migration of its own dated after Tollgate's.
    writeTree(app, { "supabase/migrations/20260401000000_add_teams.sql": "create table public.teams ();\n" });
    const v2 = fakeTollgate({
      "migrations/20260201000000_create_usage.sql": "create table if not exists tollgate.usage ();\n",
      "functions/consume-credit/index.ts": "// v2\n",
      "functions/_tollgate/http.ts": "export const http = 1;\n",
    });
    const run = tollgate(["install", app], v2, new Date("2026-03-10T00:00:00Z"));
    assert.equal(run.code, 0, run.err);
    const after = tree(app);
    const { added, changed } = diff(installed, after);
    assert.deepEqual(added, [
      "supabase/functions/_tollgate/http.ts",
      "supabase/migrations/20260401000000_add_teams.sql",
      "supabase/migrations/20260401000001_tollgate_create_usage.sql",
    ]);
    assert.deepEqual(changed, ["supabase/functions/consume-credit/index.ts", "supabase/tollgate.json"]);
    assert.match(tollgate(["install", app], v2, new Date("2026-04-02T00:00:00Z")).out, /nothing to change/);
  });
});

Deno.test("a newer Tollgate that drops a function removes its unchanged files and config entry", async () => {
  await withTemp(() => {
    const app = fixtureCopy();
    const v1 = fakeTollgate({
      "functions/old-fn/index.ts": "// old\n",
      "config.toml":
        `[functions.consume-credit]\nverify_jwt = false\n\n[functions.old-fn]\nverify_jwt = true\n`,
    });
    assert.equal(tollgate(["install", app], v1, NOW).code, 0);
    assert.ok(functionsOf(app)["old-fn"]);
    const run = tollgate(
      ["install", app],
      fakeTollgate({ "config.toml": `[functions.consume-credit]\nverify_jwt = false\n` }),
      NOW,
    );
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /- supabase\/functions\/old-fn\/index\.ts/);
    assert.equal(tree(app).has("supabase/functions/old-fn/index.ts"), false);
    assert.throws(() => Deno.statSync(join(app, "supabase/functions/old-fn")), Deno.errors.NotFound);
    assert.equal(functionsOf(app)["old-fn"], undefined);
  });
});

/** Upgrades that would lose or misplace something, and the reason install refuses them. */
const BAD_UPGRADES: [string, (app: string) => void, Record<string, string>, RegExp][] = [
  [
    "a Tollgate file the app edited",
    (app) => writeTree(app, { "supabase/functions/consume-credit/index.ts": "// patched by the app\n" }),
    { "functions/consume-credit/index.ts": "// v2\n" },
    /supabase\/functions\/consume-credit\/index\.ts was changed since Tollgate installed it/,
  ],
  [
    "a Tollgate file the app edited, which the new version drops",
    (app) => writeTree(app, { "supabase/functions/_tollgate/db.ts": "// patched\n" }),
    { "functions/_tollgate/db.ts": "", "functions/consume-credit/index.ts": "// v2\n" },
    /was changed since Tollgate installed it/,
  ],
  [
    "a shipped migration that changed",
    () => {},
    { "migrations/20260101000200_create_accounts.sql": "create table tollgate.accounts (id bigint);\n" },
    /_tollgate_create_accounts\.sql differs from Tollgate's 20260101000200_create_accounts\.sql: a shipped migration never changes/,
  ],
  [
    "a new migration dated before the installed ones",
    () => {},
    { "migrations/20260101000150_create_limits.sql": "select 1;\n" },
    /20260101000150_create_limits\.sql belongs before migrations the app already has/,
  ],
  [
    "Tollgate's config block edited in the app",
    (app) => {
      const path = join(app, "supabase/config.toml");
      Deno.writeTextFileSync(
        path,
        Deno.readTextFileSync(path).replace("verify_jwt = false", "verify_jwt = true"),
      );
    },
    { "config.toml": `[functions.consume-credit]\nverify_jwt = false\nenabled = true\n` },
    /config\.toml's Tollgate block was edited since Tollgate wrote it/,
  ],
];

for (const [name, edit, v2, reason] of BAD_UPGRADES) {
  Deno.test(`an upgrade refuses, writing nothing, over ${name}`, async () => {
    await withTemp(() => {
      const app = fixtureCopy();
      assert.equal(tollgate(["install", app], fakeTollgate(), NOW).code, 0);
      edit(app);
      const before = tree(app);
      const src = fakeTollgate(v2);
      if (v2["functions/_tollgate/db.ts"] === "") Deno.removeSync(join(src, "functions/_tollgate/db.ts"));
      const run = tollgate(["install", app], src, NOW);
      assert.equal(run.code, 1, run.out);
      assert.match(run.err, reason);
      assert.deepEqual(tree(app), before);
    });
  });
}

Deno.test("install refuses migrations this Tollgate does not ship, as from another version", async () => {
  await withTemp(() => {
    const app = fixtureCopy();
    writeTree(app, { "supabase/migrations/20250101000000_tollgate_create_wallets.sql": "select 1;\n" });
    const run = tollgate(["install", app], fakeTollgate(), NOW);
    assert.equal(run.code, 1);
    assert.match(
      run.err,
      /20250101000000_tollgate_create_wallets\.sql is not one of this Tollgate's migrations/,
    );
  });
});

Deno.test("install refuses a folder that is not a Supabase app, naming what to pass", async () => {
  await withTemp(() => {
    const app = fixtureCopy();
    for (
      const [path, reason] of [
        [join(app, "supabase"), /looks like a supabase\/ folder: pass the folder that holds it/],
        [join(app, "nowhere"), /has no supabase\/ folder/],
      ] as const
    ) {
      const run = tollgate(["install", path], fakeTollgate(), NOW);
      assert.equal(run.code, 1);
      assert.match(run.err, reason);
    }
  });
});

Deno.test("this repository's Tollgate installs into the fixture without tests, env files or seed data", async () => {
  await withTemp(() => {
    const app = fixtureCopy();
    const before = tree(app);
    const run = tollgate(["install", app], REPO_SUPABASE, NOW);
    assert.equal(run.code, 0, run.err);
    const { added, changed, removed } = diff(before, tree(app));
    assert.deepEqual([changed, removed], [["supabase/config.toml"], []]);
    assert.deepEqual(added.filter((p) => /_test\.ts$|\.env|seed\.sql|node_modules|rollbacks/.test(p)), []);
    const payload = readPayload(REPO_SUPABASE);
    assert.equal(added.filter((p) => p.startsWith("supabase/migrations/")).length, payload.migrations.length);
    for (const f of payload.functions) {
      for (const path of f.files.keys()) {
        assert.ok(added.includes(`supabase/functions/${f.name}/${path}`), path);
      }
    }
    assert.equal(
      tree(app).get("supabase/functions/_shared/cors.ts"),
      before.get("supabase/functions/_shared/cors.ts"),
    );
  });
});
