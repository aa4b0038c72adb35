/**
 * A cohort of accounts due for their monthly reset, written set-based for the reset's bulk test and benchmark:
 * each on the default plan, its period ended yesterday, holding its unspent plan lot with the grant in the ledger,
 * exactly what the signup trigger leaves behind a month later (so `check_ledger()` stays clean).
 */
import type postgres from "postgres";

/**
 * Inserts `count` users numbered from `from + 1`, emailed `u<i>@<domain>`, with their accounts, lots and ledger
 * rows, in one transaction; the signup trigger is bypassed (replica mode) since the rows are written here. Their
 * period (and plan lot) ends at `periodEnd`, a month after it began; by default yesterday.
 */
export async function insertDueCohort(
  sql: postgres.Sql,
  opts: { domain: string; count: number; from?: number; periodEnd?: Date },
): Promise<void> {
  const from = opts.from ?? 0;
  const end = opts.periodEnd ?? null;
  await sql.begin(async (tx) => {
    await tx`set local session_replication_role = replica`;
    await tx`
      with users as (
        insert into auth.users (id, email)
        select gen_random_uuid(), 'u' || i || '@' || ${opts.domain}
          from generate_series(${from + 1}::int, ${from + opts.count}::int) i
        returning id
      ), plan as (
        select id, monthly_credits from tollgate.plans where is_default
      ), accounts as (
        insert into tollgate.accounts (id, plan_id, period_anchor, period_start, period_end, balance,
                                     next_expiry_at, ledger_seq)
        select u.id, p.id, t.anchor, t.anchor, t.period_end, p.monthly_credits, t.period_end, 1
          from users u cross join plan p
         cross join (select coalesce(${end}::timestamptz - interval '1 month', now() - interval '1 month 1 day'),
                            coalesce(${end}::timestamptz, now() - interval '1 day')) t(anchor, period_end)
        returning id, balance, period_end
      ), members as (
        insert into tollgate.account_members (account_id, user_id, role)
        select id, id, 'owner' from accounts
      ), lots as (
        insert into tollgate.credit_lots (account_id, source, amount, remaining, expires_at, priority, grant_key)
        select id, 'plan', balance, balance, period_end, 10, 'plan:cohort' from accounts
        returning id, account_id, amount
      )
      insert into tollgate.credit_ledger (account_id, seq, delta, balance_after, reason, idempotency_key, lot_id)
      select account_id, 1, amount, amount, 'grant', 'plan:cohort', id from lots`;
  });
}

/**
 * Removes the cohort's users and everything Tollgate wrote for them (replica mode skips the append-only trigger).
 * By an array of ids: postgres.js prepares each statement once per connection, and a plan cached for a small
 * cohort (a join to a temporary table) would be quadratic for a large one.
 */
export async function removeCohort(sql: postgres.Sql, domain: string): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`set local session_replication_role = replica`;
    const [{ ids }] = await tx`select coalesce(array_agg(id), '{}') as ids from auth.users
                                where email like ${"%@" + domain}`;
    await tx`delete from tollgate.credit_ledger where account_id = any(${ids}::uuid[])`;
    await tx`delete from tollgate.credit_lots where account_id = any(${ids}::uuid[])`;
    await tx`delete from tollgate.accounts where id = any(${ids}::uuid[])`;
    await tx`delete from auth.users where id = any(${ids}::uuid[])`;
  });
}
