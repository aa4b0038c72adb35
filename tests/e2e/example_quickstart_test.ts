/** examples/quickstart.ts, run the way its header says, against the test stack. */
import assert from "node:assert/strict";
import { localConfig, runQuickstart } from "../../examples/quickstart.ts";
import { ROOT } from "../../scripts/lib/stack.ts";
import { db } from "./_helpers.ts";

const sql = db();

async function ledgerOf(userId: string) {
  return await sql`select seq::int, reason, delta::int, balance_after::int from tollgate.credit_ledger
                    where account_id = ${userId} order by seq`;
}

Deno.test("the quickstart runs, holds and settles through the client and prints exactly the user's own ledger", async () => {
  const out = await new Deno.Command("npm", {
    args: ["run", "-s", "quickstart"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, `quickstart failed:\n${stdout}${new TextDecoder().decode(out.stderr)}`);
  const userId = stdout.match(/created user ([0-9a-f-]{36})/)?.[1];
  assert.ok(userId, stdout);
  assert.match(stdout, /3\. consume-credit: 10 credits held for quickstart-job-/);
  assert.match(stdout, /4\. log-ai-usage settles the hold: cost \$0\.065, 7 credits charged, 3 released/);
  const printed = stdout.split("\n").filter((l) => /^\s+\d+\s+[a-z_]+\s+[+-]?\d+/.test(l));
  const ledger = await ledgerOf(userId);
  // Other tests' users have ledger rows too: printing more would mean the read ignored RLS.
  assert.equal(printed.length, ledger.length, stdout);
  const [account] = await sql`select balance::int from tollgate.accounts where id = ${userId}`;
  assert.equal(ledger.at(-1)?.balance_after, account.balance);
  assert.equal((await sql`select * from tollgate.check_ledger(${userId}::uuid)`).length, 0);
});

Deno.test({
  name:
    "the quickstart buys 500 credits through the signed webhook event and meters the call into the ledger",
  async fn() {
    const lines: string[] = [];
    const result = await runQuickstart({ ...localConfig(), log: (l) => lines.push(l) });
    const ledger = await ledgerOf(result.userId);
    assert.deepEqual(
      result.ledger.map((r) => [r.seq, r.reason, r.delta]),
      ledger.map((r) => [r.seq, r.reason, r.delta]),
    );
    assert.ok(ledger.some((r) => r.reason === "grant" && r.delta === 500), "a 500-credit top-up grant");
    assert.ok(ledger.some((r) => r.reason === "usage" && r.delta === -7), "the settled hold's charge, once");
    assert.ok(!ledger.some((r) => r.reason === "consume"), "a hold is not a ledger movement");
    const [account] = await sql`select balance::int from tollgate.accounts where id = ${result.userId}`;
    assert.equal(ledger.at(-1)?.balance_after, account.balance);
  },
});

Deno.test({
  name: "teardown: close the database connection",
  fn: () => sql.end(),
  sanitizeResources: false,
});
