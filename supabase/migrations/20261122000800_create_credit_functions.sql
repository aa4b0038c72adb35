-- The credit invariants, one SQL function each: periods, grants, settling, draw-down, the ledger check.
-- Every balance change happens under the account's row lock, taken first; lots are only touched after it.

-- The credit period containing p_at: whole months from the anchor, clamped to month ends (Jan 31 -> Feb 28).
create or replace function public.credit_period_at(
  p_anchor timestamptz, p_at timestamptz, out period_start timestamptz, out period_end timestamptz
)
language sql immutable parallel safe
set search_path = ''
as $$
  with months as (
    select ((extract(year from p_at at time zone 'UTC') - extract(year from p_anchor at time zone 'UTC')) * 12
          + extract(month from p_at at time zone 'UTC') - extract(month from p_anchor at time zone 'UTC'))::int as n
  ), k as (
    select case when ((p_anchor at time zone 'UTC') + make_interval(months => n)) at time zone 'UTC' > p_at
                then n - 1 else n end as k
    from months
  )
  select ((p_anchor at time zone 'UTC') + make_interval(months => k)) at time zone 'UTC',
         ((p_anchor at time zone 'UTC') + make_interval(months => k + 1)) at time zone 'UTC'
  from k
$$;
revoke execute on function public.credit_period_at(timestamptz, timestamptz) from public, anon;
grant execute on function public.credit_period_at(timestamptz, timestamptz) to authenticated, service_role;

-- The user a call acts for: the service role names anyone; a user acts only for auth.uid().
create or replace function public._acting_user(p_user_id uuid) returns uuid
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  v_uid uuid := auth.uid();
begin
  if auth.role() = 'service_role' then
    if p_user_id is null then
      raise exception 'Missing user_id: the service role must name the user it acts for' using errcode = 'TG400';
    end if;
    return p_user_id;
  end if;
  if v_uid is null then
    raise exception 'Not authenticated: no user in the request' using errcode = 'TG401';
  end if;
  if p_user_id is not null and p_user_id <> v_uid then
    raise exception 'Forbidden: a user may act only for themselves' using errcode = 'TG403';
  end if;
  return v_uid;
end
$$;
revoke execute on function public._acting_user(uuid) from public, anon, authenticated, service_role;

-- Locks the account row (always the first lock a credit movement takes) and returns it.
create or replace function public._lock_account(p_user_id uuid) returns public.accounts
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account public.accounts;
begin
  select * into v_account from public.accounts where user_id = p_user_id for update;
  if not found then
    raise exception 'No account for user %', p_user_id
      using errcode = 'TG404', detail = jsonb_build_object('user_id', p_user_id)::text;
  end if;
  return v_account;
end
$$;
revoke execute on function public._lock_account(uuid) from public, anon, authenticated, service_role;

-- Appends one ledger row and moves the cached balance with it. Caller holds the account lock.
create or replace function public._post_ledger(
  p_user_id uuid, p_delta bigint, p_overdraft_delta bigint, p_reason text, p_key text, p_lot_id uuid,
  p_metadata jsonb, p_now timestamptz
) returns public.credit_ledger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_balance bigint;
  v_seq bigint;
  v_row public.credit_ledger;
begin
  update public.accounts
     set balance = balance + p_delta, overdraft = overdraft + p_overdraft_delta,
         ledger_seq = ledger_seq + 1, updated_at = p_now
   where user_id = p_user_id
  returning balance, ledger_seq into v_balance, v_seq;
  insert into public.credit_ledger (user_id, seq, delta, balance_after, reason, idempotency_key, lot_id, metadata,
                                    created_at)
  values (p_user_id, v_seq, p_delta, v_balance, p_reason, p_key, p_lot_id, coalesce(p_metadata, '{}'::jsonb), p_now)
  returning * into v_row;
  return v_row;
end
$$;
revoke execute on function public._post_ledger(uuid, bigint, bigint, text, text, uuid, jsonb, timestamptz)
  from public, anon, authenticated, service_role;

-- Grants a lot once per (user, grant key); a replay returns the first grant. Repays any overdraft first.
create or replace function public._grant_lot(
  p_user_id uuid, p_source public.credit_source, p_amount bigint, p_expires_at timestamptz, p_priority integer,
  p_grant_key text, p_metadata jsonb, p_now timestamptz
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account public.accounts := public._lock_account(p_user_id);
  v_lot public.credit_lots;
  v_repaid bigint := least(p_amount, v_account.overdraft);
  v_entry public.credit_ledger;
begin
  if p_amount is null or p_amount <= 0 then
    raise exception 'Cannot grant credits: amount must be positive, got %', p_amount using errcode = 'TG400';
  end if;
  insert into public.credit_lots (user_id, source, amount, remaining, expires_at, priority, grant_key, metadata,
                                  created_at)
  values (p_user_id, p_source, p_amount, p_amount - v_repaid, p_expires_at, p_priority, p_grant_key,
          coalesce(p_metadata, '{}'::jsonb), p_now)
  on conflict (user_id, grant_key) do nothing
  returning * into v_lot;
  if not found then
    select * into v_lot from public.credit_lots where user_id = p_user_id and grant_key = p_grant_key;
    if v_lot.amount <> p_amount or v_lot.source <> p_source then
      raise exception 'Idempotency conflict: grant % was already made with a different amount or source', p_grant_key
        using errcode = 'TG409', detail = jsonb_build_object('amount', v_lot.amount, 'source', v_lot.source)::text;
    end if;
    select * into v_entry from public.credit_ledger
     where user_id = p_user_id and reason = 'grant' and idempotency_key = p_grant_key;
    return jsonb_build_object('lot_id', v_lot.id, 'transaction_id', v_entry.id, 'balance', v_account.balance,
                              'replayed', true);
  end if;
  v_entry := public._post_ledger(p_user_id, p_amount, -v_repaid, 'grant', p_grant_key, v_lot.id,
                                 coalesce(p_metadata, '{}'::jsonb) || jsonb_build_object('source', p_source), p_now);
  if p_expires_at is not null then
    update public.accounts set next_expiry_at = least(next_expiry_at, p_expires_at) where user_id = p_user_id;
  end if;
  return jsonb_build_object('lot_id', v_lot.id, 'transaction_id', v_entry.id, 'balance', v_entry.balance_after,
                            'replayed', false);
end
$$;
revoke execute on function public._grant_lot(uuid, public.credit_source, bigint, timestamptz, integer, text, jsonb,
  timestamptz) from public, anon, authenticated, service_role;

-- Opens the account of a new user on the default plan and grants the first period's allowance.
create or replace function public._open_account(p_user_id uuid, p_now timestamptz) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_plan public.plans;
  v_period_end timestamptz := (public.credit_period_at(p_now, p_now)).period_end;
begin
  select * into v_plan from public.plans where is_default;
  if not found then
    raise exception 'Cannot open an account: no default plan (set plans.is_default on one plan)' using errcode = 'TG500';
  end if;
  insert into public.accounts (user_id, plan_id, period_anchor, period_start, period_end, created_at, updated_at)
  values (p_user_id, v_plan.id, p_now, p_now, v_period_end, p_now, p_now)
  on conflict (user_id) do nothing;
  if found and v_plan.monthly_credits > 0 then
    perform public._grant_lot(p_user_id, 'plan', v_plan.monthly_credits, v_period_end, 10,
                              public._plan_grant_key(p_now), jsonb_build_object('plan_id', v_plan.id), p_now);
  end if;
end
$$;

-- The grant key of a period's plan allowance: one grant per account and period start.
create or replace function public._plan_grant_key(p_period_start timestamptz) returns text
language sql immutable parallel safe
set search_path = ''
as $$ select 'plan:' || to_char(p_period_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;
revoke execute on function public._plan_grant_key(timestamptz) from public, anon, authenticated, service_role;
revoke execute on function public._open_account(uuid, timestamptz) from public, anon, authenticated, service_role;

-- Settles every due account (or one): expires lots past their expiry, and where the credit period has ended,
-- advances it to the period containing p_now and grants the plan's allowance once (three idle months: one
-- grant). Set-based; accounts locked by someone else are skipped (their consume settles them itself).
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

-- Draws p_amount from the account's live lots, earliest expiry first, then priority; returns what was drawn
-- (less than p_amount only when the lots run out). Caller holds the account lock.
create or replace function public._draw_lots(p_user_id uuid, p_amount bigint, p_now timestamptz) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_drawn bigint;
begin
  with ordered as (
    select id, remaining,
           sum(remaining) over (order by expires_at nulls last, priority, created_at, id) as cum
      from public.credit_lots
     where user_id = p_user_id and remaining > 0 and (expires_at is null or expires_at > p_now)
  ), take as (
    select id, least(remaining, p_amount - (cum - remaining)) as n from ordered where cum - remaining < p_amount
  ), drawn as (
    update public.credit_lots l set remaining = l.remaining - take.n from take where l.id = take.id returning take.n
  )
  select coalesce(sum(n), 0) into v_drawn from drawn;
  return v_drawn;
end
$$;
revoke execute on function public._draw_lots(uuid, bigint, timestamptz) from public, anon, authenticated, service_role;

-- Debits credits: refused with TG402 below the amount unless post-paid (p_allow_negative), in which case
-- what the lots cannot cover becomes overdraft. Caller holds the account lock and has settled the account.
create or replace function public._debit(
  p_user_id uuid, p_amount bigint, p_allow_negative boolean, p_reason text, p_key text, p_metadata jsonb,
  p_now timestamptz
) returns public.credit_ledger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_balance bigint;
  v_drawn bigint;
begin
  select balance into v_balance from public.accounts where user_id = p_user_id;
  if not p_allow_negative and v_balance < p_amount then
    raise exception 'Cannot consume credits: balance is %, % required', v_balance, p_amount
      using errcode = 'TG402', detail = jsonb_build_object('balance', v_balance, 'required', p_amount)::text;
  end if;
  v_drawn := public._draw_lots(p_user_id, p_amount, p_now);
  return public._post_ledger(p_user_id, -p_amount, p_amount - v_drawn, p_reason, p_key, null, p_metadata, p_now);
end
$$;
revoke execute on function public._debit(uuid, bigint, boolean, text, text, jsonb, timestamptz)
  from public, anon, authenticated, service_role;

-- Counts one request against every limit the account's plan sets for p_feature, refusing with TG429 when a
-- window is full. Returns each limit's state. Caller holds the account lock.
create or replace function public._count_request(
  p_account public.accounts, p_feature text, p_now timestamptz
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_limit record;
  v_start timestamptz;
  v_end timestamptz;
  v_used bigint;
  v_quota jsonb := '[]'::jsonb;
begin
  for v_limit in
    select period, request_limit from public.plan_limits
     where plan_id = p_account.plan_id and feature = p_feature order by period
  loop
    if v_limit.period = 'day' then
      v_start := date_trunc('day', p_now, 'UTC');
      v_end := v_start + interval '1 day';
    else
      v_start := p_account.period_start;
      v_end := p_account.period_end;
    end if;
    v_used := null;
    if v_limit.request_limit > 0 then
      insert into public.usage_counters as c (user_id, feature, period, window_start, window_end, requests, updated_at)
      values (p_account.user_id, p_feature, v_limit.period, v_start, v_end, 1, p_now)
      on conflict (user_id, feature, period, window_start) do update
        set requests = c.requests + 1, updated_at = p_now
        where c.requests < v_limit.request_limit
      returning requests into v_used;
    end if;
    if v_used is null then
      select requests into v_used from public.usage_counters
       where user_id = p_account.user_id and feature = p_feature and period = v_limit.period and window_start = v_start;
      raise exception 'Quota exceeded: % requests per % for feature %', v_limit.request_limit, v_limit.period, p_feature
        using errcode = 'TG429', detail = jsonb_build_object(
          'feature', p_feature, 'period', v_limit.period, 'limit', v_limit.request_limit,
          'used', coalesce(v_used, 0), 'resets_at', v_end,
          'retry_after', greatest(1, ceil(extract(epoch from v_end - p_now)))::bigint)::text;
    end if;
    v_quota := v_quota || jsonb_build_object('feature', p_feature, 'period', v_limit.period, 'used', v_used,
                                             'limit', v_limit.request_limit, 'resets_at', v_end);
  end loop;
  return v_quota;
end
$$;
revoke execute on function public._count_request(public.accounts, text, timestamptz)
  from public, anon, authenticated, service_role;

-- The gate: settles the account if due, counts the request against the plan's limits, debits the credits.
-- All or nothing, idempotent per (user, key): the first success is replayed, a different body is TG409, and a
-- refused attempt binds nothing.
create or replace function public._consume_credits(
  p_user_id uuid, p_idempotency_key text, p_amount bigint, p_feature text, p_metadata jsonb, p_now timestamptz
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account public.accounts := public._lock_account(p_user_id);
  v_hash text := md5(jsonb_build_object('amount', p_amount, 'feature', p_feature,
                                        'metadata', coalesce(p_metadata, '{}'::jsonb))::text);
  v_previous public.idempotency_keys;
  v_quota jsonb;
  v_entry public.credit_ledger;
  v_response jsonb;
begin
  if p_amount is null or p_amount < 0 or p_amount > 1000000 then
    raise exception 'Invalid amount: must be an integer from 0 to 1000000' using errcode = 'TG400';
  end if;
  if p_idempotency_key is null or length(p_idempotency_key) not between 1 and 255 then
    raise exception 'Invalid idempotency key: must be 1 to 255 characters' using errcode = 'TG400';
  end if;
  if p_feature is null or length(p_feature) not between 1 and 64 then
    raise exception 'Invalid feature: must be 1 to 64 characters' using errcode = 'TG400';
  end if;

  insert into public.idempotency_keys (user_id, scope, key, request_hash, created_at)
  values (p_user_id, 'consume', p_idempotency_key, v_hash, p_now)
  on conflict do nothing;
  if not found then
    select * into v_previous from public.idempotency_keys
     where user_id = p_user_id and scope = 'consume' and key = p_idempotency_key;
    if v_previous.request_hash <> v_hash then
      raise exception 'Idempotency conflict: key % was already used with a different request', p_idempotency_key
        using errcode = 'TG409', detail = jsonb_build_object('idempotency_key', p_idempotency_key)::text;
    end if;
    return v_previous.response || jsonb_build_object('replayed', true);
  end if;

  if v_account.settle_at <= p_now then
    perform public._settle_accounts(p_now, p_user_id);
    select * into v_account from public.accounts where user_id = p_user_id;
  end if;

  v_quota := public._count_request(v_account, p_feature, p_now);

  if p_amount > 0 then
    v_entry := public._debit(p_user_id, p_amount, false, 'consume', p_idempotency_key,
                             coalesce(p_metadata, '{}'::jsonb) || jsonb_build_object('feature', p_feature), p_now);
  end if;

  v_response := jsonb_build_object(
    'transaction_id', v_entry.id,
    'consumed', p_amount,
    'balance', coalesce(v_entry.balance_after, v_account.balance),
    'quota', v_quota,
    'replayed', false);
  update public.idempotency_keys set response = v_response
   where user_id = p_user_id and scope = 'consume' and key = p_idempotency_key;
  return v_response;
end
$$;
revoke execute on function public._consume_credits(uuid, text, bigint, text, jsonb, timestamptz)
  from public, anon, authenticated, service_role;

-- Public entry point of the gate: a user consumes their own credits; the service role names the user.
create or replace function public.consume_credits(
  p_idempotency_key text, p_amount integer default 1, p_feature text default 'default', p_metadata jsonb default null,
  p_user_id uuid default null
) returns jsonb
language sql
security definer
set search_path = ''
as $$
  select public._consume_credits(public._acting_user(p_user_id), p_idempotency_key, p_amount, p_feature, p_metadata,
                                 now())
$$;
revoke execute on function public.consume_credits(text, integer, text, jsonb, uuid) from public, anon;
grant execute on function public.consume_credits(text, integer, text, jsonb, uuid) to authenticated, service_role;

-- Adds credits (top-up, promo, refund, adjustment), once per idempotency key. Service role only: it adds money.
create or replace function public.grant_credits(
  p_user_id uuid, p_amount bigint, p_idempotency_key text, p_source public.credit_source default 'promo',
  p_expires_at timestamptz default null, p_metadata jsonb default '{}'::jsonb
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  if p_source = 'plan' then
    raise exception 'Cannot grant plan credits directly: they follow credit periods' using errcode = 'TG400';
  end if;
  if p_idempotency_key is null or length(p_idempotency_key) not between 1 and 255 then
    raise exception 'Invalid idempotency key: must be 1 to 255 characters' using errcode = 'TG400';
  end if;
  return public._grant_lot(p_user_id, p_source, p_amount, p_expires_at,
                           case p_source when 'promo' then 20 when 'refund' then 30 else 50 end,
                           p_source || ':' || p_idempotency_key, p_metadata, now());
end
$$;
revoke execute on function public.grant_credits(uuid, bigint, text, public.credit_source, timestamptz, jsonb)
  from public, anon, authenticated;
grant execute on function public.grant_credits(uuid, bigint, text, public.credit_source, timestamptz, jsonb)
  to service_role;

-- Lists every account whose ledger, cached balance and lots disagree. Empty means the books balance.
create or replace function public.check_ledger(p_user_id uuid default null)
returns table (user_id uuid, balance bigint, ledger_sum bigint, last_balance_after bigint, lots_remaining bigint,
               overdraft bigint, ledger_seq bigint, ledger_rows bigint, problem text)
language sql stable
security definer
set search_path = ''
as $$
  select * from (
    select a.user_id, a.balance, coalesce(l.total, 0)::bigint, l.last_balance, coalesce(r.remaining, 0)::bigint,
           a.overdraft, a.ledger_seq, coalesce(l.n, 0)::bigint,
           concat_ws('; ',
             case when coalesce(l.total, 0) <> a.balance then 'ledger sum differs from balance' end,
             case when coalesce(r.remaining, 0) - a.overdraft <> a.balance
                  then 'lots remaining minus overdraft differs from balance' end,
             case when coalesce(l.n, 0) <> a.ledger_seq or coalesce(l.max_seq, 0) <> a.ledger_seq
                  then 'ledger sequence has gaps' end,
             case when l.n > 0 and l.last_balance <> a.balance then 'last balance_after differs from balance' end,
             case when a.overdraft > 0 and coalesce(r.remaining, 0) > 0 then 'overdraft beside unspent lots' end)
      from public.accounts a
      left join lateral (
        select sum(e.delta) as total, count(*) as n, max(e.seq) as max_seq,
               (array_agg(e.balance_after order by e.seq desc))[1] as last_balance
          from public.credit_ledger e where e.user_id = a.user_id
      ) l on true
      left join lateral (
        select sum(c.remaining) as remaining from public.credit_lots c where c.user_id = a.user_id
      ) r on true
     where p_user_id is null or a.user_id = p_user_id
  ) s (user_id, balance, ledger_sum, last_balance_after, lots_remaining, overdraft, ledger_seq, ledger_rows, problem)
  where problem <> ''
$$;
revoke execute on function public.check_ledger(uuid) from public, anon, authenticated;
grant execute on function public.check_ledger(uuid) to service_role;
