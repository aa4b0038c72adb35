-- Settling a cohort must stay linear whatever the planner believes: when statistics say few accounts are due
-- (the usual hour) but a whole cohort is (every user backfilled on install shares one anniversary), the old
-- statement joined its CTEs by nested loops and took hours for 100,000 accounts. Now no CTE is ever joined to
-- another: per-account figures come from index lookups on credit_lots, and each later step reads one CTE only.
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
  ), settled as materialized (
    -- One row per due account with everything the writes need: what expires, and the grant if the period rolled.
    select d.*, x.n as expired_lots, x.total as expired,
           case when d.rolled then d.monthly_credits else 0 end as granted,
           case when d.rolled then least(d.monthly_credits, d.overdraft) else 0 end as repaid
      from due d
     cross join lateral (
       select count(*) as n, coalesce(sum(l.remaining), 0) as total
         from public.credit_lots l
        where l.user_id = d.user_id and l.remaining > 0 and l.expires_at <= p_now
     ) x
  ), expiring as materialized (
    select s.user_id, l.id, l.remaining, s.ledger_seq + l.n as seq, s.balance - l.cum as balance_after
      from settled s
     cross join lateral (
       select l.id, l.remaining, row_number() over w as n, sum(l.remaining) over w as cum
         from public.credit_lots l
        where l.user_id = s.user_id and l.remaining > 0 and l.expires_at <= p_now
       window w as (order by l.expires_at, l.id)
     ) l
     where s.expired_lots > 0
  ), expired_lots as (
    update public.credit_lots l set remaining = 0 from expiring e where l.id = e.id
  ), expiry_entries as (
    insert into public.credit_ledger (user_id, seq, delta, balance_after, reason, idempotency_key, lot_id, created_at)
    select user_id, seq, -remaining, balance_after, 'expire', 'expire:' || id, id, p_now from expiring
  ), grants as materialized (
    select user_id, gen_random_uuid() as lot_id, granted as amount, repaid,
           ledger_seq + expired_lots + 1 as seq, balance - expired + granted as balance_after,
           plan_id, period_end, public._plan_grant_key(period_start) as grant_key
      from settled
     where granted > 0
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
       set balance = s.balance - s.expired + s.granted,
           overdraft = s.overdraft - s.repaid,
           ledger_seq = s.ledger_seq + s.expired_lots + (s.granted > 0)::int,
           period_start = s.period_start,
           period_end = s.period_end,
           -- The new grant is not visible to this statement's snapshot: its expiry is added by hand.
           next_expiry_at = least(
             case when s.granted > 0 then s.period_end end,
             (select min(l.expires_at) from public.credit_lots l
               where l.user_id = s.user_id and l.remaining > 0 and l.expires_at > p_now)),
           updated_at = p_now
      from settled s
     where a.user_id = s.user_id
  )
  select count(*) filter (where rolled), coalesce(sum(granted), 0), coalesce(sum(expired), 0)
    into accounts_rolled, credits_granted, credits_expired
    from settled;
end
$$;
revoke execute on function public._settle_accounts(timestamptz, uuid) from public, anon, authenticated, service_role;
