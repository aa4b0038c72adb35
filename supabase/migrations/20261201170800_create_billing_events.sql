-- Billing events: an outbox written by the SQL function that causes each event, in the same transaction as the
-- change it reports, once per occurrence (unique by account, type and an occurrence key), so 200 concurrent
-- consumes crossing a threshold under the account lock write one balance.low. Members read their accounts' events
-- under RLS and live through Supabase Realtime (the table is in publication supabase_realtime); the
-- deliver-billing-events function sends each one at least once as a signed webhook (Standard Webhooks), its
-- delivery state kept apart in billing_event_deliveries, which only the service role reads.

create table if not exists tollgate.billing_events (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references tollgate.accounts (id) on delete cascade,
  type text not null check (type in ('balance.low', 'balance.depleted', 'quota.warning', 'quota.exceeded',
    'member_cap.exceeded', 'hold.expired', 'credits.granted', 'plan.changed', 'payment.failed',
    'payment.refunded')),
  data jsonb not null default '{}'::jsonb,
  occurrence text not null check (length(occurrence) between 1 and 300),
  created_at timestamptz not null default now(),
  unique (account_id, type, occurrence)
);
comment on table tollgate.billing_events is
  'Tollgate: the outbox of billing events (docs/events.md), each written once per occurrence by the function '
  'that causes it, in its transaction. Never changed; members read their accounts'' events; published for '
  'Realtime (supabase_realtime).';
comment on column tollgate.billing_events.occurrence is
  'What makes the event one occurrence (a ledger seq, a quota window, a grant key, a Stripe id): a second write of '
  'the same occurrence is nothing.';

create index if not exists billing_events_account_idx on tollgate.billing_events (account_id, created_at);

alter table tollgate.billing_events enable row level security;
revoke all on table tollgate.billing_events from anon, authenticated, service_role;
grant select on table tollgate.billing_events to authenticated, service_role;

drop policy if exists billing_events_select_member on tollgate.billing_events;
create policy billing_events_select_member on tollgate.billing_events for select to authenticated
  using (account_id in (select tollgate.member_accounts()));

create table if not exists tollgate.billing_event_deliveries (
  event_id uuid primary key references tollgate.billing_events (id) on delete cascade,
  attempts integer not null default 0 check (attempts >= 0),
  next_attempt_at timestamptz not null,
  delivered_at timestamptz,
  last_error text,
  updated_at timestamptz not null default now()
);
comment on table tollgate.billing_event_deliveries is
  'Tollgate: service-only. The webhook delivery of each billing event: attempts, when it is next due (a claim '
  'leases it, a failure backs off exponentially), when it was delivered and the last error.';

-- What is due, in order: the dispatcher's claim reads only undelivered rows.
create index if not exists billing_event_deliveries_due_idx on tollgate.billing_event_deliveries (next_attempt_at)
  where delivered_at is null;

alter table tollgate.billing_event_deliveries enable row level security;
revoke all on table tollgate.billing_event_deliveries from anon, authenticated, service_role;
grant select on table tollgate.billing_event_deliveries to service_role;

-- Realtime streams what publication supabase_realtime holds (hosted creates it; so does the local stand-in).
-- Tollgate adds only its table, and only where the publication exists and does not hold it yet.
do $$
begin
  if exists (select 1 from pg_catalog.pg_publication where pubname = 'supabase_realtime')
     and not exists (select 1 from pg_catalog.pg_publication_tables
                      where pubname = 'supabase_realtime' and schemaname = 'tollgate'
                        and tablename = 'billing_events') then
    alter publication supabase_realtime add table tollgate.billing_events;
  end if;
end
$$;

create or replace function tollgate._emit_event(
  p_account_id uuid, p_type text, p_data jsonb, p_occurrence text, p_now timestamptz
) returns boolean
language sql
security definer
set search_path = ''
as $$
  with event as (
    insert into tollgate.billing_events (account_id, type, data, occurrence, created_at)
    values (p_account_id, p_type, coalesce(p_data, '{}'::jsonb), p_occurrence, p_now)
    on conflict (account_id, type, occurrence) do nothing
    returning id, created_at
  ), delivery as (
    insert into tollgate.billing_event_deliveries (event_id, next_attempt_at, updated_at)
    select id, created_at, created_at from event
  )
  select exists (select 1 from event)
$$;
comment on function tollgate._emit_event(uuid, text, jsonb, text, timestamptz) is
  'Tollgate: the one writer of billing events: records event p_type of an account once per p_occurrence (a second '
  'write of the same occurrence is nothing), due for delivery at once; true when it was new. Called by the function '
  'that causes the event, in its transaction.';
revoke execute on function tollgate._emit_event(uuid, text, jsonb, text, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._emit_balance_events(
  p_account_id uuid, p_before bigint, p_after bigint, p_threshold bigint, p_occurrence text, p_now timestamptz
) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  if p_after <= 0 and p_before > 0 then
    perform tollgate._emit_event(p_account_id, 'balance.depleted', jsonb_build_object(
      'balance', p_after, 'previous_balance', p_before), p_occurrence, p_now);
  end if;
  if p_after < p_threshold and p_before >= p_threshold then
    perform tollgate._emit_event(p_account_id, 'balance.low', jsonb_build_object(
      'balance', p_after, 'previous_balance', p_before, 'threshold', p_threshold), p_occurrence, p_now);
  end if;
end
$$;
comment on function tollgate._emit_balance_events(uuid, bigint, bigint, bigint, text, timestamptz) is
  'Tollgate: balance.depleted when a movement (a debit or a hold) takes the available balance (balance - held) '
  'from above 0 to 0 or below, and balance.low when it takes it from at or above p_threshold '
  '(_low_balance_threshold) to below it; once per crossing (p_occurrence: the ledger seq or the hold). The caller '
  'holds the account lock, so concurrent movements cross one at a time.';
revoke execute on function tollgate._emit_balance_events(uuid, bigint, bigint, bigint, text, timestamptz)
  from public, anon, authenticated, service_role;

-- Refused consumes. A refusal raises (TG429, TGM29), which rolls back the refused request's transaction, so what it
-- would write cannot survive it. consume-credit therefore reports the refusal in a transaction of its own, and this
-- function writes quota.exceeded / member_cap.exceeded from the state it finds under the account lock (never from
-- what the caller claims): once per full window or capped member and window, however many refusals follow.

create or replace function tollgate._record_consume_refusal(
  p_account_id uuid, p_actor_id uuid, p_feature text, p_amount bigint, p_now timestamptz
) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account tollgate.accounts := tollgate._lock_account(p_account_id);
  v_period record;
  v_full record;
  v_member tollgate.account_members;
  v_window record;
  v_used bigint;
  v_written integer := 0;
begin
  -- Read-only as _quota_status is: an account due to settle is counted in the period containing p_now.
  select b.period_start, b.period_end into v_period from tollgate.credit_period_at(v_account.period_anchor, p_now) b;
  for v_full in
    select q.feature, q.period, q.used, q.request_limit, q.resets_at, w.window_start
      from tollgate._quota_status(p_account_id, p_feature, p_now) q
     cross join lateral tollgate._quota_window(q.period, p_now, v_period.period_start, v_period.period_end) w
     where q.used >= q.request_limit
  loop
    v_written := v_written + tollgate._emit_event(
      p_account_id, 'quota.exceeded',
      jsonb_build_object('feature', v_full.feature, 'period', v_full.period, 'limit', v_full.request_limit,
                         'used', v_full.used, 'window_start', v_full.window_start, 'resets_at', v_full.resets_at),
      format('%s:%s:%s', v_full.feature, v_full.period, extract(epoch from v_full.window_start)), p_now)::int;
  end loop;

  select * into v_member from tollgate.account_members m
   where m.account_id = p_account_id and m.user_id = p_actor_id and m.cap_credits is not null;
  if v_account.kind = 'team' and found then
    select w.window_start, w.window_end into v_window
      from tollgate._quota_window(v_member.cap_period, p_now, v_period.period_start, v_period.period_end) w;
    select coalesce(sum(u.credits), 0) into v_used from tollgate.member_usage u
     where u.account_id = p_account_id and u.user_id = p_actor_id and u.period = v_member.cap_period
       and u.window_start = v_window.window_start;
    if v_used + greatest(p_amount, 0) > v_member.cap_credits then
      v_written := v_written + tollgate._emit_event(
        p_account_id, 'member_cap.exceeded',
        jsonb_build_object('user_id', p_actor_id, 'cap', v_member.cap_credits, 'used', v_used,
                           'required', p_amount, 'period', v_member.cap_period,
                           'window_start', v_window.window_start, 'resets_at', v_window.window_end),
        format('%s:%s:%s', p_actor_id, v_member.cap_period, extract(epoch from v_window.window_start)), p_now)::int;
    end if;
  end if;
  return v_written;
end
$$;
comment on function tollgate._record_consume_refusal(uuid, uuid, text, bigint, timestamptz) is
  'Tollgate: after a refused consume (TG429, TGM29), writes quota.exceeded for each of the plan''s windows for '
  'p_feature (and ''*'') that is full, and member_cap.exceeded when p_amount more would take the acting member '
  'over their cap: once per window, from the counters under the account lock. Returns how many events were new.';
revoke execute on function tollgate._record_consume_refusal(uuid, uuid, text, bigint, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate.record_consume_refusal(
  p_feature text default 'default', p_amount integer default 1, p_user_id uuid default null,
  p_account_id uuid default null
) returns integer
language sql
security definer
set search_path = ''
as $$
  select tollgate._record_consume_refusal(m.account_id, m.user_id, p_feature, p_amount, now())
    from tollgate._acting_member(p_account_id, p_user_id) m
$$;
comment on function tollgate.record_consume_refusal(text, integer, uuid, uuid) is
  'Tollgate: what consume-credit calls, in a transaction of its own, after a consume was refused with 429: writes '
  'the quota.exceeded / member_cap.exceeded events the state shows (the refused transaction could not keep them). '
  'Service role only; names the account and member as consume_credits does. Returns how many events were new.';
revoke execute on function tollgate.record_consume_refusal(text, integer, uuid, uuid) from public, anon, authenticated;
grant execute on function tollgate.record_consume_refusal(text, integer, uuid, uuid) to service_role;

-- Delivery: the deliver-billing-events function claims due events in batches (skip locked, so two dispatchers never
-- take the same one), posts each signed, and records the outcomes in one call.

create or replace function tollgate.claim_billing_events(
  p_limit integer default 100, p_lease_seconds integer default 120, p_now timestamptz default now()
) returns table (id uuid, account_id uuid, type text, data jsonb, created_at timestamptz, attempts integer)
language sql
security definer
set search_path = ''
as $$
  with due as (
    select d.event_id from tollgate.billing_event_deliveries d
     where d.delivered_at is null and d.next_attempt_at <= p_now
     order by d.next_attempt_at, d.event_id
     limit greatest(least(p_limit, 1000), 1)
       for update skip locked
  ), leased as (
    update tollgate.billing_event_deliveries d
       set attempts = d.attempts + 1,
           next_attempt_at = p_now + make_interval(secs => greatest(p_lease_seconds, 10)),
           updated_at = p_now
      from due where d.event_id = due.event_id
    returning d.event_id, d.attempts
  )
  select e.id, e.account_id, e.type, e.data, e.created_at, l.attempts
    from leased l join tollgate.billing_events e on e.id = l.event_id
   order by e.created_at, e.id
$$;
comment on function tollgate.claim_billing_events(integer, integer, timestamptz) is
  'Tollgate: takes up to p_limit (at most 1000) due, undelivered events for delivery, oldest due first, skipping '
  'those another dispatcher holds, and leases them for p_lease_seconds (a dispatcher that dies mid-batch leaves '
  'them due again then), counting the attempt. Service role only.';
revoke execute on function tollgate.claim_billing_events(integer, integer, timestamptz)
  from public, anon, authenticated;
grant execute on function tollgate.claim_billing_events(integer, integer, timestamptz) to service_role;

create or replace function tollgate.record_billing_event_deliveries(
  p_results jsonb, p_now timestamptz default now()
) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_count integer;
begin
  if jsonb_typeof(p_results) is distinct from 'array' then
    raise exception 'Invalid results: a JSON array of {"id", "error"} objects' using errcode = 'TG400';
  end if;
  update tollgate.billing_event_deliveries d
     set delivered_at = case when r.error is null then p_now end,
         last_error = r.error,
         -- Retries back off: 30 s after the first failed attempt, doubling each time, at most 6 hours apart.
         next_attempt_at = case when r.error is null then d.next_attempt_at
                                else p_now + least(interval '30 seconds' * power(2, least(d.attempts, 20) - 1),
                                                   interval '6 hours') end,
         updated_at = p_now
    from (select (x ->> 'id')::uuid as id, left(x ->> 'error', 1000) as error
            from jsonb_array_elements(p_results) x) r
   where d.event_id = r.id and d.delivered_at is null;
  get diagnostics v_count = row_count;
  return v_count;
end
$$;
comment on function tollgate.record_billing_event_deliveries(jsonb, timestamptz) is
  'Tollgate: records how the delivery of claimed events went, one call per batch: [{"id", "error"}] with error '
  'null for delivered (never delivered twice by this record), else the error kept (1000 characters) and the next '
  'attempt backed off exponentially (30 s doubling, at most 6 h). Returns the rows updated. Service role only.';
revoke execute on function tollgate.record_billing_event_deliveries(jsonb, timestamptz)
  from public, anon, authenticated;
grant execute on function tollgate.record_billing_event_deliveries(jsonb, timestamptz) to service_role;
