import assert from "node:assert/strict";
import { parse } from "smol-toml";
import { addTollgate, type ConfigResult, type FunctionEntry, removeTollgate } from "./config.ts";
import { FIXTURE } from "./testing.ts";

const ENTRIES: FunctionEntry[] = [
  {
    name: "consume-credit",
    settings: { verify_jwt: false, import_map: "./functions/consume-credit/deno.json" },
  },
  { name: "stripe-webhook", settings: { verify_jwt: false } },
];
const BLOCK =
  "# >>> tollgate >>> written by `npx tollgate install`, which refuses to run if this block was " +
  "edited; `npx tollgate uninstall` removes it\n" +
  `[functions.consume-credit]\nverify_jwt = false\nimport_map = "./functions/consume-credit/deno.json"\n\n` +
  `[functions.stripe-webhook]\nverify_jwt = false\n# <<< tollgate <<<\n`;

function text(result: ConfigResult): string {
  if (!result.ok) throw new Error(`refused: ${result.refusals.join("; ")}`);
  return result.edit.text;
}

/** Config files as apps have them, with the exact text install must make of each. */
const CASES: [string, string, string][] = [
  [
    "the file supabase init writes",
    `[api]\nenabled = true\nschemas = ["public", "graphql_public"]\n\n[db]\nport = 54322\n`,
    `[api]\nenabled = true\nschemas = ["public", "graphql_public", "tollgate"]\n\n[db]\nport = 54322\n\n${BLOCK}`,
  ],
  [
    "a multi-line list with comments and a trailing comma",
    `[api]\nschemas = [\n  "public", # ours\n  'graphql_public',\n]\n`,
    `[api]\nschemas = [\n  "public", # ours\n  'graphql_public', "tollgate",\n]\n\n${BLOCK}`,
  ],
  [
    "an empty list",
    `[api]\nschemas = []\n`,
    `[api]\nschemas = ["tollgate"]\n\n${BLOCK}`,
  ],
  [
    "an [api] table without schemas",
    `# app\n[api] # the API\nport = 54321\n`,
    `# app\n[api] # the API\nschemas = ["public", "graphql_public", "tollgate"] # added by \`npx tollgate install\`\n` +
    `port = 54321\n\n${BLOCK}`,
  ],
  [
    "no [api] table",
    `project_id = "x"\n`,
    `project_id = "x"\n\n${
      BLOCK.replace(
        "\n[functions.consume",
        `\n[api]\nschemas = ["public", "graphql_public", "tollgate"]\n\n[functions.consume`,
      )
    }`,
  ],
  [
    "schemas already listing tollgate",
    `[api]\nschemas = ["public", "tollgate"]\n`,
    `[api]\nschemas = ["public", "tollgate"]\n\n${BLOCK}`,
  ],
  [
    "a file with no newline at its end",
    `[api]\nschemas = ["public"]`,
    `[api]\nschemas = ["public", "tollgate"]\n\n${BLOCK}`,
  ],
  [
    "the app's functions after [api] and a dotted schemas key",
    `api.schemas = ["public"]\n[functions.chat]\nverify_jwt = true\n`,
    `api.schemas = ["public", "tollgate"]\n[functions.chat]\nverify_jwt = true\n\n${BLOCK}`,
  ],
];

for (const [name, original, expected] of CASES) {
  Deno.test(`install edits ${name} by insertions only`, () => {
    assert.equal(text(addTollgate(original, ENTRIES)), expected);
  });
  Deno.test(`installing twice into ${name} changes nothing the second time`, () => {
    const once = text(addTollgate(original, ENTRIES));
    assert.equal(text(addTollgate(once, ENTRIES)), once);
  });
  Deno.test(`uninstall gives back ${name} byte for byte`, () => {
    const added = addTollgate(original, ENTRIES);
    const restored = text(removeTollgate(text(added), added.ok && added.edit.addedSchema));
    // A file without a final newline gets one: the only byte install cannot take back.
    assert.equal(restored, original.endsWith("\n") ? original : `${original}\n`);
  });
}

Deno.test("install merges into the fixture's config.toml, keeping every other byte", () => {
  const original = Deno.readTextFileSync(`${FIXTURE}/supabase/config.toml`);
  const merged = text(addTollgate(original, ENTRIES));
  assert.ok(merged.startsWith(original.replace(`"graphql_public" #`, `"graphql_public", "tollgate" #`)));
  assert.equal(merged.slice(original.length + `, "tollgate"`.length), `\n${BLOCK}`);
  const parsed = parse(merged) as { api: { schemas: string[] }; functions: Record<string, unknown> };
  assert.deepEqual(parsed.api.schemas, ["public", "graphql_public", "tollgate"]);
  assert.deepEqual(Object.keys(parsed.functions), ["chat", "consume-credit", "stripe-webhook"]);
  assert.equal(text(removeTollgate(merged, true)), original);
});

Deno.test("a newer install replaces the block where it is and keeps what the app wrote after it", () => {
  const first = text(addTollgate(`[api]\nschemas = ["public"]\n`, ENTRIES)) +
    `\n[edge_runtime]\npolicy = "oneshot"\n`;
  const fewer = text(addTollgate(first, ENTRIES.slice(0, 1)));
  assert.equal(fewer, first.replace(`\n[functions.stripe-webhook]\nverify_jwt = false\n`, ""));
  assert.equal(
    text(removeTollgate(fewer, true)),
    `[api]\nschemas = ["public"]\n\n[edge_runtime]\npolicy = "oneshot"\n`,
  );
});

Deno.test("install refuses when the app has a [functions.<name>] table of its own", () => {
  for (const own of [`[functions.stripe-webhook]\nverify_jwt = true\n`, `[functions."stripe-webhook"]\n`]) {
    const result = addTollgate(`[api]\nschemas = ["public"]\n${own}`, ENTRIES);
    assert.deepEqual(result, {
      ok: false,
      refusals: [
        "supabase/config.toml already has [functions.stripe-webhook] of the app's own: install with --prefix",
      ],
    });
  }
});

Deno.test("install and uninstall refuse a config.toml that is not TOML or has half of Tollgate's block", () => {
  for (const bad of [`[api\n`, `[api]\nschemas = ["public"]\n# >>> tollgate >>>\n[functions.x]\n`]) {
    for (const result of [addTollgate(bad, ENTRIES), removeTollgate(bad, true)]) {
      assert.equal(result.ok, false, bad);
    }
  }
});

Deno.test("install refuses an [api] schemas it cannot extend in place", () => {
  const result = addTollgate(`api = { schemas = ["public"] }\n`, ENTRIES);
  assert.equal(result.ok, false);
});

Deno.test("uninstall takes out a tollgate the app listed first or alone, with its separator", () => {
  for (
    const [before, after] of [
      [`[api]\nschemas = ["tollgate", "public"]\n`, `[api]\nschemas = ["public"]\n`],
      [`[api]\nschemas = [ 'tollgate' ]\n`, `[api]\nschemas = [  ]\n`],
    ]
  ) {
    assert.equal(text(removeTollgate(before, true)), after);
  }
});

Deno.test("uninstall leaves a config.toml without Tollgate as it is", () => {
  const original = Deno.readTextFileSync(`${FIXTURE}/supabase/config.toml`);
  assert.equal(text(removeTollgate(original, true)), original);
});

Deno.test("uninstall keeps a tollgate in [api] schemas that install did not add", () => {
  const original = `[api]\nschemas = ["public", "tollgate"]\n`;
  const added = addTollgate(original, ENTRIES);
  assert.equal(added.ok && added.edit.addedSchema, false);
  assert.equal(text(removeTollgate(text(added), false)), original);
});

Deno.test("install refuses an edit whose meaning it cannot keep: keys the app wrote right under the block", () => {
  const installed = text(addTollgate(`[api]\nschemas = ["public"]\n[db]\nport = 1\n`, ENTRIES));
  const result = addTollgate(`${installed}stray = true\n`, ENTRIES);
  assert.equal(result.ok, false);
  assert.match(!result.ok ? result.refusals[0] : "", /would not mean the original plus Tollgate's entries/);
});
