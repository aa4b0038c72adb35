import assert from "node:assert/strict";
import { call, db, SERVICE_KEY } from "./_helpers.ts";

const sql = db();
const N = 100_000;
const EMAIL = "%@bulk-reset.example.com";

/** Removes the bulk users and everything Tollgate wrote for them (replica mode skips the append-only trigger). */
async function cleanUp(): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`set local session_replication_role = replica`;
    await tx`create temp table bulk_ids on commit drop as select id from auth.users where email like ${EMAIL}`;
    await tx`delete from public.credit_ledger where user_id in (select id from bulk_ids)`;
    await tx`delete from public.credit_lots where user_id in (select id from bulk_ids)`;
    await tx`delete from public.accounts where user_id in (select id from bulk_ids)`;
    await tx`delete from auth.users where id in (select id from bulk_ids)`;
  });
}

Deno.test(`reset-monthly-quotas rolls ${N.toLocaleString("en")} due accounts in one call`, async () => {
  // Statistics taken before the cohort arrives say almost nothing is due, as on any ordinary hour: the reset must
  // stay linear anyway (a plan built on that estimate once joined its steps by nested loops and ran for hours).
  await sql`analyze public.accounts, public.credit_lots`;
  // Each account: the default plan, a period that ended yesterday, and its unspent 3-credit plan lot with its
  // grant in the ledger, exactly what the signup trigger leaves behind a month later. Written set-based.
  await sql.begin(async (tx) => {
    await tx`set local session_replication_role = replica`;
    await tx`
      with users as (
        insert into auth.users (id, email)
        select gen_random_uuid(), 'u' || i || '@bulk-reset.example.com' from generate_series(1, ${N}::int) i
        returning id
      ), plan as (
        select id, monthly_credits from public.plans where is_default
      ), accounts as (
        insert into public.accounts (user_id, plan_id, period_anchor, period_start, period_end, balance,
                                     next_expiry_at, ledger_seq)
        select u.id, p.id, now() - interval '1 month 1 day', now() - interval '1 month 1 day',
               now() - interval '1 day', p.monthly_credits, now() - interval '1 day', 1
          from users u cross join plan p
        returning user_id, plan_id, balance, period_start, period_end
      ), lots as (
        insert into public.credit_lots (user_id, source, amount, remaining, expires_at, priority, grant_key)
        select user_id, 'plan', balance, balance, period_end, 10, 'plan:bulk' from accounts
        returning id, user_id, amount
      )
      insert into public.credit_ledger (user_id, seq, delta, balance_after, reason, idempotency_key, lot_id)
      select user_id, 1, amount, amount, 'grant', 'plan:bulk', id from lots`;
  });
  try {
    const [{ credits }] = await sql`select monthly_credits as credits from public.plans where is_default`;
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
        from public.accounts a join auth.users u on u.id = a.user_id where u.email like ${EMAIL}`;
    assert.deepEqual(state, { still_due: 0, wrong_balance: 0 });
    const [ledger] = await sql`
      select count(*) filter (where reason = 'grant' and idempotency_key like 'plan:2%')::int as grants,
             count(*) filter (where reason = 'expire')::int as expiries
        from public.credit_ledger where user_id in (select id from auth.users where email like ${EMAIL})`;
    assert.deepEqual(ledger, { grants: N, expiries: N });
    const problems = await sql`select * from public.check_ledger() limit 5`;
    assert.equal(problems.length, 0, JSON.stringify(problems));
  } finally {
    await cleanUp();
  }
});

Deno.test({
  name: "close the database connection",
  fn: () => sql.end(),
  sanitizeResources: false,
});
