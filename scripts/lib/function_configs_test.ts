import assert from "node:assert/strict";
import { functionNames, ROOT } from "./stack.ts";

const rootImports: Record<string, string> =
  JSON.parse(Deno.readTextFileSync(`${ROOT}/import_map.json`)).imports;

Deno.test("every function has a deno.json whose imports pin the root import map's versions, and no lock", () => {
  const configs = functionNames().map((name) => ({
    name,
    config: JSON.parse(Deno.readTextFileSync(`${ROOT}/supabase/functions/${name}/deno.json`)),
  }));
  assert.ok(configs.length > 0);
  for (const { name, config } of configs) {
    assert.equal(
      config.lock,
      false,
      `${name}/deno.json: the hosted bundler cannot read the root deno.lock (v5)`,
    );
    for (const [specifier, target] of Object.entries(config.imports)) {
      assert.equal(target, rootImports[specifier], `${name}/deno.json: ${specifier}`);
    }
    // One list for all: whatever _tollgate imports, every function can resolve.
    assert.deepEqual(
      config.imports,
      configs[0].config.imports,
      `${name}/deno.json differs from ${configs[0].name}`,
    );
  }
});

Deno.test("config.toml turns the platform's JWT check off for every function", () => {
  const toml = Deno.readTextFileSync(`${ROOT}/supabase/config.toml`);
  assert.doesNotMatch(toml, /import_map\s*=/);
  for (const name of functionNames()) {
    assert.match(toml, new RegExp(`\\[functions\\.${name}\\]\\s*\\nverify_jwt = false`), name);
  }
});
