import assert from "node:assert/strict";
import { fakeTollgate, fixtureCopy, tollgate, tree, withTemp } from "./testing.ts";

Deno.test("the command prints its usage and exits 2 for anything it does not understand", async () => {
  await withTemp(() => {
    const app = fixtureCopy();
    const src = fakeTollgate();
    for (
      const args of [[], ["install"], ["deploy", app], ["install", app, "extra"], [
        "uninstall",
        app,
        "--prefix",
        "x",
      ], [
        "install",
        app,
        "--force",
      ]]
    ) {
      const run = tollgate(args, src);
      assert.equal(run.code, 2, args.join(" "));
      assert.match(run.err, /Usage:/);
    }
    assert.deepEqual(tree(app), tree(fixtureCopy()));
  });
});

Deno.test("--help prints the usage and exits 0", () => {
  const run = tollgate(["--help"], "/nonexistent");
  assert.equal(run.code, 0);
  assert.match(run.out, /tollgate install <path-to-app> \[--prefix <p>\]/);
});

Deno.test("install refuses, exiting 1, when Tollgate's own folder cannot be read", async () => {
  await withTemp(() => {
    const run = tollgate(["install", fixtureCopy()], "/nonexistent/supabase");
    assert.equal(run.code, 1);
    assert.match(run.err, /Cannot read Tollgate from \/nonexistent\/supabase/);
  });
});
