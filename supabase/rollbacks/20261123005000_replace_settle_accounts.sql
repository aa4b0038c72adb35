-- Restores _settle_accounts as 20261122000800 defined it.
create or replace function public._settle_accounts(
  p_now timestamptz, p_user_id uuid default null,
  out accounts_rolled bigint, out credits_granted bigint, out credits_expired bigint
)
language plpgsql
security definer
set search_path = ''
as $$
begin
  with due as materialized (
    select a.user_id, a.balance, a.overdraft, a.ledger_seq, a.plan_id, p.monthly_credits,
           b.period_start, b.period_end, b.period_start <> a.period_start as rolled
      from public.accounts a
      join public.plans p on p.id = a.plan_id
     cross join lateral public.credit_period_at(a.period_anchor, p_now) b
     where a.settle_at <= p_now and (p_user_id is null or a.user_id = p_user_id)
       for update of a skip locked
  ), expiring as materialized (
    select l.id, l.user_id, l.remaining,
           row_number() over w as n, sum(l.remaining) over w as cum
      from public.credit_lots l
      join due d on d.user_id = l.user_id
     where l.remaining > 0 and l.expires_at <= p_now
    window w as (partition by l.user_id order by l.expires_at, l.id)
  ), expired_lots as (
    update public.credit_lots l set remaining = 0 from expiring e where l.id = e.id
  ), expiry_totals as materialized (
    select user_id, count(*) as n, sum(remaining) as total from expiring group by user_id
  ), expiry_entries as (
    insert into public.credit_ledger (user_id, seq, delta, balance_after, reason, idempotency_key, lot_id, created_at)
    select e.user_id, d.ledger_seq + e.n, -e.remaining, d.balance - e.cum, 'expire', 'expire:' || e.id, e.id, p_now
      from expiring e join due d using (user_id)
  ), grants as materialized (
    select d.user_id, gen_random_uuid() as lot_id, d.monthly_credits as amount,
           least(d.monthly_credits, d.overdraft) as repaid,
           d.ledger_seq + coalesce(t.n, 0) + 1 as seq,
           d.balance - coalesce(t.total, 0) + d.monthly_credits as balance_after,
           d.plan_id, d.period_start, d.period_end, public._plan_grant_key(d.period_start) as grant_key
      from due d left join expiry_totals t using (user_id)
     where d.rolled and d.monthly_credits > 0
  ), granted_lots as (
    insert into public.credit_lots (id, user_id, source, amount, remaining, expires_at, priority, grant_key, metadata,
                                    created_at)
    select lot_id, user_id, 'plan', amount, amount - repaid, period_end, 10, grant_key,
           jsonb_build_object('plan_id', plan_id), p_now
      from grants
  ), grant_entries as (
    insert into public.credit_ledger (user_id, seq, delta, balance_after, reason, idempotency_key, lot_id, metadata,
                                      created_at)
    select user_id, seq, amount, balance_after, 'grant', grant_key, lot_id,
           jsonb_build_object('source', 'plan', 'plan_id', plan_id), p_now
      from grants
  ), updated as (
    update public.accounts a
       set balance = a.balance - coalesce(t.total, 0) + coalesce(g.amount, 0),
           overdraft = a.overdraft - coalesce(g.repaid, 0),
           ledger_seq = a.ledger_seq + coalesce(t.n, 0) + (g.user_id is not null)::int,
           period_start = d.period_start,
           period_end = d.period_end,
           next_expiry_at = least(
             g.period_end,
             (select min(l.expires_at) from public.credit_lots l
               where l.user_id = a.user_id and l.remaining > 0 and l.expires_at > p_now)),
           updated_at = p_now
      from due d
      left join expiry_totals t using (user_id)
      left join grants g using (user_id)
     where a.user_id = d.user_id
    returning d.rolled
  )
  select count(*) filter (where rolled),
         (select coalesce(sum(amount), 0) from grants),
         (select coalesce(sum(total), 0) from expiry_totals)
    into accounts_rolled, credits_granted, credits_expired
    from updated;
end
$$;
revoke execute on function public._settle_accounts(timestamptz, uuid) from public, anon, authenticated, service_role;
