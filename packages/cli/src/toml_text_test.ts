import assert from "node:assert/strict";
import { arrayItems, statements, TomlTextError } from "./toml_text.ts";

const paths = (text: string) => statements(text).map((s) => `${s.kind} ${s.path.join(".")}`);

Deno.test("statements name every header and value with the table it belongs to", () => {
  const text = `top = 1\n[api]\nschemas = ["public"]\n  [db.seed]  # indented\nenabled = true\n` +
    `[functions."chat"]\nverify_jwt = false\n[[hooks]]\nname = 'a'\n`;
  assert.deepEqual(paths(text), [
    "value top",
    "table api",
    "value api.schemas",
    "table db.seed",
    "value db.seed.enabled",
    "table functions.chat",
    "value functions.chat.verify_jwt",
    "array-table hooks",
    "value hooks.name",
  ]);
});

Deno.test("statements skip what only looks like a header inside strings, arrays and comments", () => {
  const text = `a = """\n[api]\nschemas = 1\n"""\nb = '''\n[api]'''\nc = [\n  "x", # [api]\n  "]",\n]\n` +
    `d = "quote \\" [api]"\ne = { f = "[api]", g = [1, 2] }\nh = 1979-05-27 07:32:00Z\n# [api]\n`;
  assert.deepEqual(paths(text), ["value a", "value b", "value c", "value d", "value e", "value h"]);
});

Deno.test("a value's span covers exactly its text", () => {
  const text = `[api]\nschemas = [ "public", 'graphql_public' ] # trailing\nport = 54321\n`;
  const [, schemas, port] = statements(text);
  assert.equal(text.slice(schemas.valueStart, schemas.valueEnd), `[ "public", 'graphql_public' ]`);
  assert.equal(text.slice(port.valueStart, port.valueEnd), "54321");
  assert.equal(
    text.slice(schemas.start, schemas.lineEnd),
    `schemas = [ "public", 'graphql_public' ] # trailing\n`,
  );
});

Deno.test("arrayItems finds each item across lines, comments and a trailing comma", () => {
  const text = `[\n  "public", # one\n  "graphql_public",\n]`;
  assert.deepEqual(arrayItems(text, 0).map((s) => text.slice(s.start, s.end)), [
    `"public"`,
    `"graphql_public"`,
  ]);
  assert.deepEqual(arrayItems("[]", 0), []);
});

Deno.test("statements throw TomlTextError on text they cannot read", () => {
  for (const bad of [`a = "open\n`, "[api\n", "a = [1,\n", "= 1\n", "a = 1 # x\n b"]) {
    assert.throws(() => statements(bad), TomlTextError, bad);
  }
});
