-- Usage metering and the gate: counters per feature and quota window, what each member of a team took per window
-- (their cap's counter), the replay records of idempotent calls, and consume_credits, which settles the account,
-- counts the request against the plan's limits and the credits against the member's cap, and debits (or holds)
-- them in one transaction; billing_status reads it all back for a UI. _quota_window is the one definition of a
-- quota window, for the gate, the meter, the caps and the status read alike.

create table if not exists tollgate.usage_counters (
  account_id uuid not null references tollgate.accounts (id) on delete cascade,
  feature text not null,
  period tollgate.quota_period not null,
  window_start timestamptz not null,
  window_end timestamptz not null,
  requests bigint not null default 0,
  input_tokens bigint not null default 0,
  output_tokens bigint not null default 0,
  cached_input_tokens bigint not null default 0,
  cache_write_tokens bigint not null default 0,
  cost_usd numeric(20, 10) not null default 0,
  updated_at timestamptz not null default now(),
  primary key (account_id, feature, period, window_start)
);
comment on table tollgate.usage_counters is
  'Tollgate: requests, tokens and cost per account, feature and quota window (day = UTC day, month = credit period). '
  'A new window starts a new row, so nothing ever needs zeroing.';

alter table tollgate.usage_counters enable row level security;
revoke all on table tollgate.usage_counters from anon, authenticated, service_role;
grant select on table tollgate.usage_counters to authenticated, service_role;

drop policy if exists usage_counters_select_member on tollgate.usage_counters;
create policy usage_counters_select_member on tollgate.usage_counters for select to authenticated
  using (account_id in (select tollgate.member_accounts()));

create table if not exists tollgate.idempotency_keys (
  account_id uuid not null references tollgate.accounts (id) on delete cascade,
  scope text not null check (scope in ('consume', 'usage')),
  key text not null check (length(key) between 1 and 255),
  request_hash text not null,
  response jsonb,
  created_at timestamptz not null default now(),
  primary key (account_id, scope, key)
);
comment on table tollgate.idempotency_keys is
  'Tollgate: service-only. Replay records of consume and usage calls: the first success under a key is answered '
  'again, the same key with another body is a conflict. Written once per key, with its response; a consume that '
  'debits keeps its record on its ledger entry instead (credit_ledger.request_hash, response), one row fewer.';

alter table tollgate.idempotency_keys enable row level security;
revoke all on table tollgate.idempotency_keys from anon, authenticated, service_role;
grant select on table tollgate.idempotency_keys to service_role;

create table if not exists tollgate.member_usage (
  account_id uuid not null references tollgate.accounts (id) on delete cascade,
  user_id uuid not null,
  period tollgate.quota_period not null,
  window_start timestamptz not null,
  window_end timestamptz not null,
  credits bigint not null default 0 check (credits >= 0),
  updated_at timestamptz not null default now(),
  primary key (account_id, user_id, period, window_start)
);
comment on table tollgate.member_usage is
  'Tollgate: the credits each member of a team account took per window (day = UTC day, month = credit period), '
  'counted when they are taken, under the account''s lock: what a member''s cap is checked against. No foreign key '
  'on user_id: a member who leaves and comes back within a window finds their count. A member reads their own '
  'rows, owners and admins every member''s.';

alter table tollgate.member_usage enable row level security;
revoke all on table tollgate.member_usage from anon, authenticated, service_role;
grant select on table tollgate.member_usage to authenticated, service_role;

drop policy if exists member_usage_select_own on tollgate.member_usage;
create policy member_usage_select_own on tollgate.member_usage for select to authenticated
  using (account_id in (select tollgate.member_accounts()) and user_id = (select auth.uid()));
drop policy if exists member_usage_select_managed on tollgate.member_usage;
create policy member_usage_select_managed on tollgate.member_usage for select to authenticated
  using (account_id in (select tollgate.member_accounts('{owner,admin}')));

create or replace function tollgate._replay(
  p_account_id uuid, p_scope text, p_field text, p_key text, p_hash text
) returns jsonb
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  v_previous record;
begin
  -- A consume that debited keeps its record on its ledger entry; every other call in idempotency_keys.
  select r.request_hash, r.response into v_previous
    from (select l.request_hash, l.response from tollgate.credit_ledger l
           where p_scope = 'consume' and l.account_id = p_account_id and l.reason = 'consume'
             and l.idempotency_key = p_key
          union all
          select k.request_hash, k.response from tollgate.idempotency_keys k
           where k.account_id = p_account_id and k.scope = p_scope and k.key = p_key) r
   limit 1;
  if not found then
    return null;
  end if;
  if v_previous.request_hash <> p_hash then
    raise exception 'Idempotency conflict: % % was already used with a different request', p_field, p_key
      using errcode = 'TG409', detail = jsonb_build_object(p_field, p_key)::text;
  end if;
  return v_previous.response || jsonb_build_object('replayed', true);
end
$$;
comment on function tollgate._replay(uuid, text, text, text, text) is
  'Tollgate: the replay rule of every idempotent call: the stored answer for (account, scope, key) with replayed = '
  'true, null when the key is new, TG409 when it was used with another body (p_field names the key in the error). '
  'Records live in idempotency_keys, except a consume''s that debited: on its ledger entry (credit_ledger.response). '
  'Callers hold the account lock, which serializes an account''s calls, and record the key once with their answer.';
revoke execute on function tollgate._replay(uuid, text, text, text, text) from public, anon, authenticated, service_role;

create or replace function tollgate._quota_window(
  p_period tollgate.quota_period, p_now timestamptz, p_period_start timestamptz, p_period_end timestamptz
) returns table (window_start timestamptz, window_end timestamptz)
language sql stable parallel safe
as $$
  select case p_period when 'day' then pg_catalog.date_trunc('day', p_now, 'UTC') else p_period_start end,
         case p_period when 'day'
                       then pg_catalog.date_trunc('day', p_now, 'UTC') operator(pg_catalog.+) interval '24 hours'
                       else p_period_end end
$$;
comment on function tollgate._quota_window(tollgate.quota_period, timestamptz, timestamptz, timestamptz) is
  'Tollgate: the quota window of p_period containing p_now: day = 24 UTC hours from UTC midnight (whatever the '
  'session''s time zone), month = the given credit period. The gate, the meter and the status read all use it. '
  'No SET search_path, unlike every other function: a SET would stop the planner inlining it into the gate''s '
  'query (measured: 50 us more per consume); every name in it is pg_catalog-qualified instead, and nobody but '
  'its owner may execute it.';
revoke execute on function tollgate._quota_window(tollgate.quota_period, timestamptz, timestamptz, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._count_request(
  p_account tollgate.accounts, p_feature text, p_now timestamptz
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_limit record;
  v_used bigint;
  v_quota jsonb := '[]'::jsonb;
begin
  for v_limit in
    select l.feature, l.period, l.request_limit, w.window_start, w.window_end
      from tollgate.plan_limits l
     cross join lateral tollgate._quota_window(l.period, p_now, p_account.period_start, p_account.period_end) w
     where l.plan_id = p_account.plan_id and l.feature in (p_feature, '*')
     order by l.feature = '*', l.period
  loop
    v_used := null;
    if v_limit.request_limit > 0 then
      insert into tollgate.usage_counters as c (account_id, feature, period, window_start, window_end, requests,
                                                updated_at)
      values (p_account.id, v_limit.feature, v_limit.period, v_limit.window_start, v_limit.window_end, 1,
              p_now)
      on conflict (account_id, feature, period, window_start) do update
        set requests = c.requests + 1, updated_at = p_now
        where c.requests < v_limit.request_limit
      returning requests into v_used;
    end if;
    if v_used is null then
      select requests into v_used from tollgate.usage_counters
       where account_id = p_account.id and feature = v_limit.feature and period = v_limit.period
         and window_start = v_limit.window_start;
      raise exception 'Quota exceeded: % requests per % %', v_limit.request_limit, v_limit.period,
        case v_limit.feature when '*' then 'across all features' else 'for feature ' || v_limit.feature end
        using errcode = 'TG429', detail = jsonb_build_object(
          'feature', v_limit.feature, 'period', v_limit.period, 'limit', v_limit.request_limit,
          'used', coalesce(v_used, 0), 'resets_at', v_limit.window_end,
          'retry_after', greatest(1, ceil(extract(epoch from v_limit.window_end - p_now)))::bigint)::text;
    end if;
    -- The request that takes a window to 80% of its limit warns, once per window.
    if v_used * 5 >= v_limit.request_limit * 4 and (v_used - 1) * 5 < v_limit.request_limit * 4 then
      perform tollgate._emit_event(p_account.id, 'quota.warning', jsonb_build_object(
        'feature', v_limit.feature, 'period', v_limit.period, 'limit', v_limit.request_limit, 'used', v_used,
        'window_start', v_limit.window_start, 'resets_at', v_limit.window_end),
        format('%s:%s:%s', v_limit.feature, v_limit.period, extract(epoch from v_limit.window_start)), p_now);
    end if;
    v_quota := v_quota || jsonb_build_object('feature', v_limit.feature, 'period', v_limit.period, 'used', v_used,
                                             'limit', v_limit.request_limit, 'resets_at', v_limit.window_end);
  end loop;
  return v_quota;
end
$$;
comment on function tollgate._count_request(tollgate.accounts, text, timestamptz) is
  'Tollgate: counts one request against every limit the account''s plan sets for p_feature, then against the '
  'plan''s limits on feature ''*'' (one window for the requests of every feature), refusing with TG429 (with '
  'resets_at and retry_after) when a window is full, writing quota.warning when one reaches 80%; returns each '
  'limit''s state. The caller holds the account lock and has settled the account.';
revoke execute on function tollgate._count_request(tollgate.accounts, text, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._take_member_credits(
  p_account tollgate.accounts, p_user_id uuid, p_credits bigint, p_post_paid boolean, p_now timestamptz
) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_member tollgate.account_members;
  v_used bigint;
  v_resets_at timestamptz;
begin
  -- Read under the account's lock: a member removed, or capped, a moment ago is seen as such.
  select * into v_member from tollgate.account_members m
   where m.account_id = p_account.id and m.user_id = p_user_id;
  if not found then
    raise exception 'Forbidden: user % is not a member of account %', p_user_id, p_account.id using errcode = 'TG403';
  end if;
  if p_credits = 0 then
    return;
  end if;
  with counted as (
    insert into tollgate.member_usage as u (account_id, user_id, period, window_start, window_end, credits,
                                            updated_at)
    select p_account.id, p_user_id, p.period, w.window_start, w.window_end, p_credits, p_now
      from unnest('{day,month}'::tollgate.quota_period[]) p (period)
     cross join lateral tollgate._quota_window(p.period, p_now, p_account.period_start, p_account.period_end) w
    on conflict (account_id, user_id, period, window_start) do update
      set credits = u.credits + excluded.credits, updated_at = p_now
    returning u.period, u.credits, u.window_end
  )
  select c.credits, c.window_end into v_used, v_resets_at from counted c where c.period = v_member.cap_period;
  if not p_post_paid and v_used > v_member.cap_credits then
    raise exception 'Cannot consume credits: member cap is % per %, % used, % required', v_member.cap_credits,
      v_member.cap_period, v_used - p_credits, p_credits
      using errcode = 'TGM29', detail = jsonb_build_object(
        'cap', v_member.cap_credits, 'used', v_used - p_credits, 'required', p_credits,
        'period', v_member.cap_period, 'resets_at', v_resets_at,
        'retry_after', greatest(1, ceil(extract(epoch from v_resets_at - p_now)))::bigint)::text;
  end if;
end
$$;
comment on function tollgate._take_member_credits(tollgate.accounts, uuid, bigint, boolean, timestamptz) is
  'Tollgate: counts p_credits taken by a member of a team account in their day and month windows (member_usage) '
  'and refuses with TGM29 (cap, used, period, resets_at, retry_after) when that goes over their cap, unless '
  'post-paid (usage already happened: counted, never refused). TG403 when they are no longer a member. The '
  'caller holds the account lock and has settled the account, so the count and the debit serialize.';
revoke execute on function tollgate._take_member_credits(tollgate.accounts, uuid, bigint, boolean, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._consume_credits(
  p_account_id uuid, p_idempotency_key text, p_amount bigint, p_feature text, p_metadata jsonb, p_now timestamptz,
  p_actor_id uuid default null, p_hold boolean default false, p_hold_ttl_seconds integer default 600
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account tollgate.accounts := tollgate._lock_account(p_account_id);
  -- A personal account's only member is its owner.
  v_actor uuid := coalesce(p_actor_id, case when v_account.kind = 'personal' then v_account.id end);
  v_hash text := md5(jsonb_build_object('amount', p_amount, 'feature', p_feature,
                                        'metadata', coalesce(p_metadata, '{}'::jsonb), 'actor', v_actor,
                                        'hold', p_hold, 'hold_ttl_seconds', case when p_hold then p_hold_ttl_seconds end
                                        )::text);
  v_replay jsonb;
  v_quota jsonb;
  v_entry_id uuid;
  v_hold tollgate.credit_holds;
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
  if p_hold is null or p_hold and (p_hold_ttl_seconds is null or p_hold_ttl_seconds not between 10 and 86400) then
    raise exception 'Invalid hold: hold must be true or false, hold_ttl_seconds 10 to 86400' using errcode = 'TG400';
  end if;

  v_replay := tollgate._replay(p_account_id, 'consume', 'idempotency_key', p_idempotency_key, v_hash);
  if v_replay is not null then
    return v_replay;
  end if;

  v_account := tollgate._settle_if_due(v_account, p_now);
  v_quota := tollgate._count_request(v_account, p_feature, p_now);
  if v_account.kind = 'team' and v_actor is not null then
    perform tollgate._take_member_credits(v_account, v_actor, p_amount, false, p_now);
  end if;
  if p_hold then
    v_hold := tollgate._hold_credits(p_account_id, p_amount, p_idempotency_key, p_hold_ttl_seconds, p_feature,
                                     p_metadata, p_now, v_actor);
  elsif p_amount > 0 then
    v_entry_id := gen_random_uuid();
  end if;

  v_response := jsonb_build_object(
    'transaction_id', v_entry_id,
    'consumed', case when p_hold then 0 else p_amount end,
    -- What the hold, or the debit below, leaves available.
    'balance', v_account.balance - v_account.held - p_amount,
    'held', v_account.held + case when p_hold then p_amount else 0 end,
    'quota', v_quota,
    'replayed', false);
  if p_hold then
    v_response := v_response || jsonb_build_object('hold_id', v_hold.id, 'hold_expires_at', v_hold.expires_at);
  end if;
  if v_entry_id is null then
    insert into tollgate.idempotency_keys (account_id, scope, key, request_hash, response, created_at)
    values (p_account_id, 'consume', p_idempotency_key, v_hash, v_response, p_now);
  else
    -- The debit's ledger entry (v_entry_id, as answered) keeps the replay record.
    perform tollgate._debit(p_account_id, p_amount, false, 'consume', p_idempotency_key,
                            coalesce(p_metadata, '{}'::jsonb) || jsonb_build_object('feature', p_feature), p_now,
                            v_actor, v_entry_id, v_hash, v_response);
  end if;
  return v_response;
end
$$;
comment on function tollgate._consume_credits(uuid, text, bigint, text, jsonb, timestamptz, uuid, boolean, integer) is
  'Tollgate: the gate at a given time (pgTAP pins it): settles the account if due (expiring its due holds), counts '
  'the request against the plan''s limits and, on a team account, the credits against the acting member''s cap, '
  'then debits the credits in the member''s name, or with p_hold reserves them for p_hold_ttl_seconds (a hold, '
  'settled by log_ai_usage). Either takes at most balance - held. All or nothing, idempotent per (account, key): '
  'the first success is replayed, a different body (or another member) is TG409, and a refused attempt (TG402, '
  'TG429, TGM29) binds nothing.';
revoke execute on function tollgate._consume_credits(uuid, text, bigint, text, jsonb, timestamptz, uuid, boolean,
  integer) from public, anon, authenticated, service_role;

create or replace function tollgate.consume_credits(
  p_idempotency_key text, p_amount integer default 1, p_feature text default 'default', p_metadata jsonb default null,
  p_user_id uuid default null, p_account_id uuid default null, p_hold boolean default false,
  p_hold_ttl_seconds integer default 600
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_member record := tollgate._acting_member(p_account_id, p_user_id);
begin
  return tollgate._consume_credits(v_member.account_id, p_idempotency_key, p_amount, p_feature,
                                   tollgate._valid_metadata(p_metadata), now(), v_member.user_id, p_hold,
                                   p_hold_ttl_seconds);
end
$$;
comment on function tollgate.consume_credits(text, integer, text, jsonb, uuid, uuid, boolean, integer) is
  'Tollgate: the gate, called before work (the consume-credit function): a user consumes from their own account '
  'or from an account they are a member of (p_account_id); the service role names the account or the user, and '
  'the acting member. With p_hold the credits are reserved until log_ai_usage settles the hold or it expires. '
  'Returns transaction_id, consumed, balance (available: balance - held), held, quota and replayed, with a hold '
  'also hold_id and hold_expires_at. PL/pgSQL, not a SQL wrapper: PostgreSQL 15 parses and plans a SQL function''s '
  'body again on every call, PL/pgSQL once per session.';
revoke execute on function tollgate.consume_credits(text, integer, text, jsonb, uuid, uuid, boolean, integer)
  from public, anon;
grant execute on function tollgate.consume_credits(text, integer, text, jsonb, uuid, uuid, boolean, integer)
  to authenticated, service_role;

create or replace function tollgate._quota_status(p_account_id uuid, p_feature text, p_now timestamptz)
returns table (feature text, period tollgate.quota_period, used bigint, request_limit bigint, remaining bigint,
               resets_at timestamptz)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_account tollgate.accounts;
  v_month record;
begin
  if p_feature is not null and length(p_feature) not between 1 and 64 then
    raise exception 'Invalid feature: must be 1 to 64 characters' using errcode = 'TG400';
  end if;
  select * into v_account from tollgate.accounts a where a.id = p_account_id;
  if not found then
    raise exception 'No account %', p_account_id
      using errcode = 'TG404', detail = jsonb_build_object('account_id', p_account_id)::text;
  end if;
  -- Read-only: an account whose period ended but is not settled yet is shown in the period containing p_now.
  v_month := tollgate.credit_period_at(v_account.period_anchor, p_now);
  return query
    select l.feature, l.period, coalesce(c.requests, 0), l.request_limit,
           greatest(l.request_limit - coalesce(c.requests, 0), 0), w.window_end
      from tollgate.plan_limits l
     cross join lateral tollgate._quota_window(l.period, p_now, v_month.period_start, v_month.period_end) w
      left join tollgate.usage_counters c
        on c.account_id = p_account_id and c.feature = l.feature and c.period = l.period
       and c.window_start = w.window_start
     where l.plan_id = v_account.plan_id and (p_feature is null or l.feature in (p_feature, '*'))
     order by l.feature = '*', l.feature, l.period;
end
$$;
comment on function tollgate._quota_status(uuid, text, timestamptz) is
  'Tollgate: each request limit the account''s plan sets for p_feature at p_now (null: for every feature), then its '
  'limits on ''*'' (every feature''s requests together): the window''s use, what remains, when it resets. Reads '
  'only.';
revoke execute on function tollgate._quota_status(uuid, text, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate.get_quota_status(
  p_feature text default 'default', p_user_id uuid default null, p_account_id uuid default null
)
returns table (feature text, period tollgate.quota_period, used bigint, "limit" bigint, remaining bigint,
               resets_at timestamptz)
language sql
stable
security definer
set search_path = ''
as $$
  select q.feature, q.period, q.used, q.request_limit, q.remaining, q.resets_at
    from tollgate._acting_member(p_account_id, p_user_id) m
   cross join lateral tollgate._quota_status(m.account_id, p_feature, now()) q
$$;
comment on function tollgate.get_quota_status(text, uuid, uuid) is
  'Tollgate: the quota state of the acting account (a member''s, or the caller''s own) for a feature, now (column '
  '"limit", as in consume-credit''s quota list; the internal function says request_limit because plpgsql reserves '
  'the word).';
revoke execute on function tollgate.get_quota_status(text, uuid, uuid) from public, anon, authenticated, service_role;
grant execute on function tollgate.get_quota_status(text, uuid, uuid) to authenticated, service_role;

create or replace function tollgate._billing_status(p_account_id uuid, p_user_id uuid, p_now timestamptz)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_account tollgate.accounts;
  v_plan tollgate.plans;
  v_period record;
  v_held bigint;
  v_member tollgate.account_members;
  v_cap jsonb;
  v_expiry jsonb;
begin
  select * into v_account from tollgate.accounts a where a.id = p_account_id;
  if not found then
    raise exception 'No account %', p_account_id
      using errcode = 'TG404', detail = jsonb_build_object('account_id', p_account_id)::text;
  end if;
  select * into v_plan from tollgate.plans p where p.id = v_account.plan_id;
  -- Read-only: an account whose period ended but is not settled yet is shown in the period containing p_now, and a
  -- hold past its expiry is no longer held (the sweeper or the account's next call releases it).
  v_period := tollgate.credit_period_at(v_account.period_anchor, p_now);
  select coalesce(sum(h.amount), 0) into v_held from tollgate.credit_holds h
   where h.account_id = p_account_id and h.status = 'held' and h.expires_at > p_now;
  if v_account.kind = 'team' and p_user_id is not null then
    select * into v_member from tollgate.account_members m
     where m.account_id = p_account_id and m.user_id = p_user_id;
    if v_member.cap_credits is not null then
      select jsonb_build_object('cap', v_member.cap_credits, 'period', v_member.cap_period,
                                'used', coalesce(u.credits, 0),
                                'remaining', greatest(v_member.cap_credits - coalesce(u.credits, 0), 0),
                                'resets_at', w.window_end)
        into v_cap
        from tollgate._quota_window(v_member.cap_period, p_now, v_period.period_start, v_period.period_end) w
        left join tollgate.member_usage u
          on u.account_id = p_account_id and u.user_id = p_user_id and u.period = v_member.cap_period
         and u.window_start = w.window_start;
    end if;
  end if;
  select jsonb_build_object('at', l.expires_at, 'credits', sum(l.remaining))
    into v_expiry
    from tollgate.credit_lots l
   where l.account_id = p_account_id and l.remaining > 0 and l.expires_at > p_now
   group by l.expires_at
   order by l.expires_at
   limit 1;
  return jsonb_build_object(
    'account_id', v_account.id,
    'kind', v_account.kind,
    'plan', jsonb_build_object('id', v_plan.id, 'features', v_plan.features),
    'balance', v_account.balance - v_held,
    'held', v_held,
    'overdraft', v_account.overdraft,
    'period', jsonb_build_object('start', v_period.period_start, 'end', v_period.period_end),
    'quota', (select coalesce(jsonb_agg(jsonb_build_object('feature', q.feature, 'period', q.period, 'used', q.used,
                                                           'limit', q.request_limit, 'resets_at', q.resets_at)
                                        order by q.n),
                              '[]'::jsonb)
                from tollgate._quota_status(p_account_id, null, p_now) with ordinality q (feature, period, used,
                                                                                          request_limit, remaining,
                                                                                          resets_at, n)),
    'member_cap', v_cap,
    'next_expiry', v_expiry);
end
$$;
comment on function tollgate._billing_status(uuid, uuid, timestamptz) is
  'Tollgate: what a billing UI shows of an account at p_now: kind, plan and features, balance (available: balance - '
  'live holds), held, overdraft, the credit period, every request limit''s state, the acting member''s cap on a '
  'team (null: none) and the next lot expiry (null: none). Reads only (stable): counts no request, no cap, releases '
  'no hold.';
revoke execute on function tollgate._billing_status(uuid, uuid, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate.billing_status(p_account_id uuid default null, p_user_id uuid default null)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select tollgate._billing_status(m.account_id, m.user_id, now())
    from tollgate._acting_member(p_account_id, p_user_id) m
$$;
comment on function tollgate.billing_status(uuid, uuid) is
  'Tollgate: the billing-status function: the status of the caller''s own account, or of an account they are a '
  'member of (p_account_id); the service role names the account or the user, and the member. Reads only.';
revoke execute on function tollgate.billing_status(uuid, uuid) from public, anon;
grant execute on function tollgate.billing_status(uuid, uuid) to authenticated, service_role;
