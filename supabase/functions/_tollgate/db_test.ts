import assert from "node:assert/strict";
import { literal } from "./db.ts";

Deno.test("literal writes an escape string with quotes and backslashes doubled", () => {
  assert.equal(literal("plain"), "E'plain'");
  assert.equal(literal(`it's`), "E'it''s'");
  assert.equal(literal(String.raw`a\'b`), String.raw`E'a\\''b'`);
  assert.equal(literal(`'); drop table x; --`), `E'''); drop table x; --'`);
});

Deno.test("literal refuses a NUL, which a query cannot carry", () => {
  assert.throws(() => literal("a\0b"), /NUL/);
});
