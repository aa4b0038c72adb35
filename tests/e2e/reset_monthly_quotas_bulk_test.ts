import assert from "node:assert/strict";
import { call, db, SERVICE_KEY } from "./_helpers.ts";
import { insertDueCohort } from "../../scripts/lib/cohort.ts";

const sql = db();
const N = 100_000;
const EMAIL = "%@bulk-reset.example.com";

/** Removes the bulk users and everything Tollgate wrote for them (replica mode skips the append-only trigger). */
async function cleanUp(): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`set local session_replication_role = replica`;
    await tx`create temp table bulk_ids on commit drop as select id from auth.users where email like ${EMAIL}`;
    await tx`delete from tollgate.credit_ledger where account_id in (select id from bulk_ids)`;
    await tx`delete from tollgate.credit_lots where account_id in (select id from bulk_ids)`;
    await tx`delete from tollgate.accounts where id in (select id from bulk_ids)`;
    await tx`delete from auth.users where id in (select id from bulk_ids)`;
  });
}

Deno.test(`reset-monthly-quotas rolls ${N.toLocaleString("en")} due accounts in one call`, async () => {
  // Statistics taken before the cohort arrives say almost nothing is due, as on any ordinary hour: the reset must
  // stay linear anyway (a plan built on that estimate once joined its steps by nested loops and ran for hours).
  await sql`analyze tollgate.accounts, tollgate.credit_lots`;
  await insertDueCohort(sql, { domain: "bulk-reset.example.com", count: N });
  try {
    const [{ credits }] = await sql`select monthly_credits as credits from tollgate.plans where is_default`;
    const started = performance.now();
    const res = await call("reset-monthly-quotas", {}, { token: SERVICE_KEY });
    const ms = performance.now() - started;
    console.log(`reset of ${N} accounts: ${ms.toFixed(0)} ms`, res.body);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.ok((res.body.accounts_rolled as number) >= N);
    assert.ok((res.body.credits_granted as number) >= N * Number(credits));
    assert.ok((res.body.credits_expired as number) >= N * Number(credits));

    const [state] = await sql`
      select count(*) filter (where a.period_end <= now())::int as still_due,
             count(*) filter (where a.balance <> ${credits})::int as wrong_balance
        from tollgate.accounts a join auth.users u on u.id = a.id where u.email like ${EMAIL}`;
    assert.deepEqual(state, { still_due: 0, wrong_balance: 0 });
    const [ledger] = await sql`
      select count(*) filter (where reason = 'grant' and idempotency_key like 'plan:2%')::int as grants,
             count(*) filter (where reason = 'expire')::int as expiries
        from tollgate.credit_ledger where account_id in (select id from auth.users where email like ${EMAIL})`;
    assert.deepEqual(ledger, { grants: N, expiries: N });
    const problems = await sql`select * from tollgate.check_ledger() limit 5`;
    assert.equal(problems.length, 0, JSON.stringify(problems));
  } finally {
    await cleanUp();
  }
});

Deno.test({
  name: "teardown: close the database connection",
  fn: () => sql.end(),
  sanitizeResources: false,
});
