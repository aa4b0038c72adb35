/** The built package, run by Node 20 against the real functions behind the gateway. */
import assert from "node:assert/strict";
import { build, nodeFlags } from "../../packages/client/build.ts";
import { ANON_KEY, BASE_URL, db, newUser } from "./_helpers.ts";

const sql = db();
const PACKAGE = new URL("../../packages/client/", import.meta.url).pathname;

Deno.test("the built client in Node debits, replays the same key, and throws TollgateError on 402", async () => {
  await build();
  const user = await newUser(sql);
  const out = await new Deno.Command("node", {
    args: [...(await nodeFlags()), "test/node_smoke.mjs", "live", BASE_URL, ANON_KEY, user.token],
    cwd: PACKAGE,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, `node failed:\n${stdout}${new TextDecoder().decode(out.stderr)}`);
  const report = JSON.parse(stdout);
  assert.equal(report.first.consumed, 1);
  assert.equal(report.first.replayed, false);
  assert.equal(report.again.replayed, true);
  assert.equal(report.again.transaction_id, report.first.transaction_id);
  assert.equal(report.refused.code, "insufficient_credits");
  assert.equal(report.refused.status, 402);
  const [row] = await sql`select balance from tollgate.accounts where id = ${user.id}`;
  assert.equal(Number(row.balance), report.first.balance);
});

Deno.test({
  name: "teardown: close the database connection",
  fn: () => sql.end(),
  sanitizeResources: false,
});
