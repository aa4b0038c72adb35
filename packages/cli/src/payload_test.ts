import assert from "node:assert/strict";
import { readPayload } from "./payload.ts";
import { fakeTollgate, REPO_SUPABASE, withTemp } from "./testing.ts";

Deno.test("the payload holds each function's shipped files and its settings with installed paths", async () => {
  const src = fakeTollgate({
    "functions/consume-credit/handler_test.ts": "test\n",
    "functions/consume-credit/handler.test.ts": "test\n",
    "functions/consume-credit/.env": "SECRET=1\n",
    "functions/consume-credit/node_modules/x/index.js": "cache\n",
    "functions/consume-credit/tests/fixture.json": "{}\n",
    "functions/consume-credit/lib/core.ts": "export {};\n",
    "functions/_tollgate/db_test.ts": "test\n",
    "functions/.env": "SECRET=1\n",
    "functions/.env.example": "SECRET=\n",
    "functions/_helpers/notes.ts": "not a function\n",
    "functions/no-index/README.md": "not a function\n",
    "seed.sql": "insert into x values (1);\n",
    "rollbacks/20260101000100_create_plans.sql": "drop schema tollgate;\n",
    "migrations/README.md": "not a migration\n",
  });
  await withTemp(() => {
    const payload = readPayload(src);
    assert.deepEqual(payload.migrations.map((m) => [m.what, m.name]), [
      ["create_plans", "20260101000100_create_plans.sql"],
      ["create_accounts", "20260101000200_create_accounts.sql"],
    ]);
    assert.deepEqual([...payload.shared.keys()], ["db.ts"]);
    assert.deepEqual(payload.functions.map((f) => [f.name, [...f.files.keys()], f.settings]), [
      [
        "consume-credit",
        ["deno.json", "index.ts", "lib/core.ts"],
        { verify_jwt: false, import_map: "./functions/consume-credit/deno.json" },
      ],
    ]);
  });
});

Deno.test("an import map outside the function's folder ships in functions/_tollgate/", async () => {
  const src = fakeTollgate({
    "config.toml": `[functions.consume-credit]\nimport_map = "../import_map.json"\n`,
    "../import_map.json": `{ "imports": { "zod": "npm:zod@4" } }\n`,
  });
  await withTemp(() => {
    const payload = readPayload(src);
    assert.deepEqual(payload.functions[0].settings, { import_map: "./functions/_tollgate/import_map.json" });
    assert.equal(
      new TextDecoder().decode(payload.shared.get("import_map.json")),
      `{ "imports": { "zod": "npm:zod@4" } }\n`,
    );
  });
});

Deno.test("a setting pointing at a missing file, or static files outside the function, cannot be installed", async () => {
  for (const setting of [`import_map = "../nowhere.json"`, `static_files = ["../public/*.html"]`]) {
    const src = fakeTollgate({ "config.toml": `[functions.consume-credit]\n${setting}\n` });
    await withTemp(() => {
      assert.throws(() => readPayload(src), /points outside supabase\/functions\/consume-credit\//);
    });
  }
});

Deno.test("a Tollgate migration named like the uninstall migration, or twice, cannot be installed", async () => {
  for (const name of ["20260101000300_uninstall.sql", "20260101000300_create_plans.sql"]) {
    const src = fakeTollgate({ [`migrations/${name}`]: "select 1;\n" });
    await withTemp(() => {
      assert.throws(() => readPayload(src), /cannot be installed: its name \w+ is taken/);
    });
  }
});

Deno.test("this repository's Tollgate reads as a payload without tests, local env files or seed data", () => {
  const payload = readPayload(REPO_SUPABASE);
  assert.ok(payload.migrations.length > 0);
  assert.ok(payload.functions.some((f) => f.name === "consume-credit"));
  const paths = [...payload.shared.keys(), ...payload.functions.flatMap((f) => [...f.files.keys()])];
  assert.deepEqual(paths.filter((p) => /_test\.ts$|\.env|seed\.sql|node_modules/.test(p)), []);
});
