import assert from "node:assert/strict";
import { call, db, SERVICE_KEY } from "./_helpers.ts";
import { insertDueCohort, removeCohort } from "../../scripts/lib/cohort.ts";

const sql = db();
const N = 100_000;
const DOMAIN = "bulk-reset.example.com";
const EMAIL = `%@${DOMAIN}`;

Deno.test(`reset-monthly-quotas rolls ${N.toLocaleString("en")} due accounts in one call`, async () => {
  // Statistics taken before the cohort arrives say almost nothing is due, as on any ordinary hour: the reset must
  // stay linear anyway (a plan built on that estimate once joined its steps by nested loops and ran for hours).
  await sql`analyze tollgate.accounts, tollgate.credit_lots`;
  await insertDueCohort(sql, { domain: DOMAIN, count: N });
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
    await removeCohort(sql, DOMAIN);
  }
});

Deno.test({
  name: "teardown: close the database connection",
  fn: () => sql.end(),
  sanitizeResources: false,
});
