-- The AI usage meter: a versioned price catalogue, the metering settings, one row per AI call in a table
-- partitioned by month, log_ai_usage (records, prices, counts and optionally charges a call, after the work) and
-- the usage read API.

create table if not exists tollgate.model_prices (
  model text not null check (length(model) between 1 and 128),
  effective_from timestamptz not null,
  provider text check (provider is null or length(provider) between 1 and 64),
  input_usd_per_mtok numeric(12, 6) not null check (input_usd_per_mtok >= 0),
  output_usd_per_mtok numeric(12, 6) not null check (output_usd_per_mtok >= 0),
  cached_input_usd_per_mtok numeric(12, 6) check (cached_input_usd_per_mtok >= 0),
  cache_write_usd_per_mtok numeric(12, 6) check (cache_write_usd_per_mtok >= 0),
  created_at timestamptz not null default now(),
  primary key (model, effective_from)
);
comment on table tollgate.model_prices is
  'Tollgate: USD per million uncached input, output, cache-read and cache-write tokens per model, versioned by '
  'effective_from; rows are never edited, so the cost frozen on every ai_usage row traces back to the price that '
  'produced it. Public catalogue.';
comment on column tollgate.model_prices.cached_input_usd_per_mtok is
  'USD per million input tokens read from the provider''s prompt cache (cached_input_tokens); null: the input price.';
comment on column tollgate.model_prices.cache_write_usd_per_mtok is
  'USD per million input tokens written to the provider''s prompt cache (cache_write_tokens; Anthropic charges '
  'them above the input price, OpenAI does not charge them apart); null: the input price.';

create or replace function tollgate._refuse_model_price_change() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'model_prices is append-only: % is not allowed', tg_op
    using errcode = 'TGPRC', hint = 'Insert a new row with a later effective_from to change a price.';
end
$$;
comment on function tollgate._refuse_model_price_change() is
  'Tollgate: keeps model_prices append-only for every role, the owner included (TGPRC): a price change is a new '
  'row with a later effective_from.';
revoke execute on function tollgate._refuse_model_price_change() from public, anon, authenticated, service_role;

drop trigger if exists model_prices_append_only on tollgate.model_prices;
create trigger model_prices_append_only before update or delete on tollgate.model_prices
  for each row execute function tollgate._refuse_model_price_change();
drop trigger if exists model_prices_no_truncate on tollgate.model_prices;
create trigger model_prices_no_truncate before truncate on tollgate.model_prices
  for each statement execute function tollgate._refuse_model_price_change();

alter table tollgate.model_prices enable row level security;
revoke all on table tollgate.model_prices from anon, authenticated, service_role;
grant select on table tollgate.model_prices to anon, authenticated;
grant select, insert on table tollgate.model_prices to service_role;

drop policy if exists model_prices_public_read on tollgate.model_prices;
create policy model_prices_public_read on tollgate.model_prices for select to anon, authenticated using (true);

-- List prices of current OpenAI and Anthropic models (and one Google model), as the providers published them in
-- August 2025 (the seed's date): USD per million uncached input, output, cache-read and cache-write tokens. OpenAI
-- bills cache writes as plain input; Anthropic's write price here is the 5-minute cache's (1.25x input). So a
-- fresh deployment prices calls (db push never runs seed.sql); operators check and extend them, and change a price
-- with a new row of a later effective_from. On conflict do nothing keeps whatever they added.
insert into tollgate.model_prices (model, provider, effective_from, input_usd_per_mtok, output_usd_per_mtok,
                                   cached_input_usd_per_mtok, cache_write_usd_per_mtok) values
  ('gpt-5', 'openai', '2024-01-01 00:00Z', 1.25, 10.00, 0.125, 1.25),
  ('gpt-5-mini', 'openai', '2024-01-01 00:00Z', 0.25, 2.00, 0.025, 0.25),
  ('gpt-5-nano', 'openai', '2024-01-01 00:00Z', 0.05, 0.40, 0.005, 0.05),
  ('gpt-4.1', 'openai', '2024-01-01 00:00Z', 2.00, 8.00, 0.50, 2.00),
  ('gpt-4.1-mini', 'openai', '2024-01-01 00:00Z', 0.40, 1.60, 0.10, 0.40),
  ('gpt-4.1-nano', 'openai', '2024-01-01 00:00Z', 0.10, 0.40, 0.025, 0.10),
  ('gpt-4o', 'openai', '2024-01-01 00:00Z', 2.50, 10.00, 1.25, 2.50),
  ('gpt-4o-mini', 'openai', '2024-01-01 00:00Z', 0.15, 0.60, 0.075, 0.15),
  ('o3', 'openai', '2024-01-01 00:00Z', 2.00, 8.00, 0.50, 2.00),
  ('o4-mini', 'openai', '2024-01-01 00:00Z', 1.10, 4.40, 0.275, 1.10),
  ('text-embedding-3-small', 'openai', '2024-01-01 00:00Z', 0.02, 0, null, null),
  ('claude-opus-4-1', 'anthropic', '2024-01-01 00:00Z', 15.00, 75.00, 1.50, 18.75),
  ('claude-opus-4', 'anthropic', '2024-01-01 00:00Z', 15.00, 75.00, 1.50, 18.75),
  ('claude-sonnet-4-5', 'anthropic', '2024-01-01 00:00Z', 3.00, 15.00, 0.30, 3.75),
  ('claude-sonnet-4', 'anthropic', '2024-01-01 00:00Z', 3.00, 15.00, 0.30, 3.75),
  ('claude-3-7-sonnet', 'anthropic', '2024-01-01 00:00Z', 3.00, 15.00, 0.30, 3.75),
  ('claude-haiku-4-5', 'anthropic', '2024-01-01 00:00Z', 1.00, 5.00, 0.10, 1.25),
  ('claude-3-5-haiku', 'anthropic', '2024-01-01 00:00Z', 0.80, 4.00, 0.08, 1.00),
  ('gemini-2.0-flash', 'google', '2024-01-01 00:00Z', 0.10, 0.40, 0.025, null)
on conflict (model, effective_from) do nothing;

create table if not exists tollgate.usage_settings (
  id boolean primary key default true check (id),
  credits_per_usd numeric(20, 6) not null default 100 check (credits_per_usd > 0),
  store_full_text boolean not null default false,
  updated_at timestamptz not null default now()
);
comment on table tollgate.usage_settings is
  'Tollgate: service-only. Metering settings (exactly one row), changed with an UPDATE instead of a migration.';
comment on column tollgate.usage_settings.credits_per_usd is
  'log-ai-usage with charge_credits debits round(exact cost * credits_per_usd) credits, half up (100: 1 credit = 1 '
  'US cent).';
comment on column tollgate.usage_settings.store_full_text is
  'Off: prompts and responses are kept only as sha256 and length. On: the full text is stored as well.';

insert into tollgate.usage_settings (id) values (true) on conflict (id) do nothing;

alter table tollgate.usage_settings enable row level security;
revoke all on table tollgate.usage_settings from anon, authenticated, service_role;
-- No insert or delete: there is exactly one row.
grant select, update on table tollgate.usage_settings to service_role;

create table if not exists tollgate.ai_usage (
  id uuid not null default gen_random_uuid(),
  account_id uuid not null references tollgate.accounts (id) on delete cascade,
  user_id uuid,
  request_id text not null check (length(request_id) between 1 and 255),
  model text not null check (length(model) between 1 and 128),
  provider text,
  feature text not null,
  input_tokens bigint not null check (input_tokens >= 0),
  output_tokens bigint not null check (output_tokens >= 0),
  cached_input_tokens bigint not null default 0 check (cached_input_tokens >= 0),
  cache_write_tokens bigint not null default 0 check (cache_write_tokens >= 0),
  latency_ms integer check (latency_ms >= 0),
  status text not null check (status in ('success', 'error')),
  error_code text,
  cost_usd numeric(20, 10) not null,
  unpriced boolean not null,
  price_effective_from timestamptz,
  credits_charged bigint not null default 0 check (credits_charged >= 0),
  prompt_sha256 text,
  prompt_length integer,
  response_sha256 text,
  response_length integer,
  prompt text,
  response text,
  metadata jsonb not null default '{}'::jsonb,
  consume_entry_id uuid,
  charge_entry_id uuid,
  hold_id uuid,
  created_at timestamptz not null default now(),
  primary key (id, created_at)
) partition by range (created_at);
comment on table tollgate.ai_usage is
  'Tollgate: one row per AI call, partitioned by month (range on created_at) so old months can be detached and '
  'archived; a DEFAULT partition catches rows whose month has no partition yet. A member reads the rows of their '
  'own calls, owners and admins every row of the account.';
comment on column tollgate.ai_usage.user_id is
  'The member who made the call (null: a service call for a team that named no member). No foreign key: usage '
  'records outlive a member who leaves.';
comment on column tollgate.ai_usage.cost_usd is
  'Priced when written from the model_prices row in force then (price_effective_from); later prices never change it.';
comment on column tollgate.ai_usage.prompt is 'Full text only while usage_settings.store_full_text is on.';
comment on column tollgate.ai_usage.response is 'Full text only while usage_settings.store_full_text is on.';
comment on column tollgate.ai_usage.consume_entry_id is
  'The consume ledger entry that used the same key (idempotency_key = request_id), if any.';
comment on column tollgate.ai_usage.charge_entry_id is
  'The ledger entry of this call''s charge (post-paid, or settling its hold), if any.';
comment on column tollgate.ai_usage.hold_id is 'The credit hold this call settled, if any.';
comment on column tollgate.ai_usage.input_tokens is
  'Uncached input tokens, priced at the input price (OpenAI: prompt_tokens minus its cached_tokens).';
comment on column tollgate.ai_usage.cached_input_tokens is 'Input tokens read from the prompt cache.';
comment on column tollgate.ai_usage.cache_write_tokens is 'Input tokens written to the prompt cache.';

-- Covers the foreign key, the members' RLS reads and the breakdown by time range.
create index if not exists ai_usage_account_created_idx on tollgate.ai_usage (account_id, created_at);

alter table tollgate.ai_usage enable row level security;
revoke all on table tollgate.ai_usage from anon, authenticated, service_role;
grant select on table tollgate.ai_usage to authenticated, service_role;

drop policy if exists ai_usage_select_own on tollgate.ai_usage;
create policy ai_usage_select_own on tollgate.ai_usage for select to authenticated
  using (account_id in (select tollgate.member_accounts()) and user_id = (select auth.uid()));
drop policy if exists ai_usage_select_managed on tollgate.ai_usage;
create policy ai_usage_select_managed on tollgate.ai_usage for select to authenticated
  using (account_id in (select tollgate.member_accounts('{owner,admin}')));

create or replace function tollgate._secure_ai_usage_partition(p_table regclass) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  execute format('alter table %s enable row level security', p_table);
  execute format('revoke all on table %s from anon, authenticated, service_role', p_table);
  execute format('grant select on table %s to service_role', p_table);
  execute format('comment on table %s is %L', p_table,
                 'Tollgate: service-only. Partition of tollgate.ai_usage; users read it through the parent''s policy.');
end
$$;
comment on function tollgate._secure_ai_usage_partition(regclass) is
  'Tollgate: locks a partition of ai_usage (RLS on, service role reads only), whatever default privileges the '
  'project grants on new tables: users read through the parent, whose policy applies.';
revoke execute on function tollgate._secure_ai_usage_partition(regclass) from public, anon, authenticated, service_role;

create table if not exists tollgate.ai_usage_default partition of tollgate.ai_usage default;
select tollgate._secure_ai_usage_partition('tollgate.ai_usage_default');

create or replace function tollgate.maintain_ai_usage_partitions(
  p_months_ahead integer default 3, p_now timestamptz default now(),
  out partitions_created integer, out rows_moved bigint
)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_month timestamptz;
  v_end timestamptz;
  v_name text;
  v_moved bigint;
begin
  if p_months_ahead is null or p_months_ahead not between 0 and 120 or p_now is null then
    raise exception 'Invalid arguments: p_months_ahead must be 0 to 120 and p_now a time' using errcode = 'TG400';
  end if;
  perform pg_catalog.pg_advisory_xact_lock(7310390003);
  partitions_created := 0;
  rows_moved := 0;
  for v_month in
    select m from (
      select distinct pg_catalog.date_trunc('month', d.created_at, 'UTC') as m from tollgate.ai_usage_default d
      union
      select (pg_catalog.date_trunc('month', p_now, 'UTC') at time zone 'UTC' + pg_catalog.make_interval(months => n))
             at time zone 'UTC'
        from pg_catalog.generate_series(0, p_months_ahead) n
    ) months
    order by m
  loop
    v_name := 'ai_usage_' || pg_catalog.to_char(v_month at time zone 'UTC', 'YYYY_MM');
    continue when pg_catalog.to_regclass('tollgate.' || v_name) is not null;
    v_end := ((v_month at time zone 'UTC') + interval '1 month') at time zone 'UTC';
    execute format('create table tollgate.%I (like tollgate.ai_usage including defaults including constraints)',
                   v_name);
    perform tollgate._secure_ai_usage_partition(('tollgate.' || pg_catalog.quote_ident(v_name))::regclass);
    execute format('with moved as (delete from tollgate.ai_usage_default where created_at >= $1 and created_at < $2 '
                   'returning *) insert into tollgate.%I select * from moved', v_name)
      using v_month, v_end;
    get diagnostics v_moved = row_count;
    execute format('alter table tollgate.ai_usage attach partition tollgate.%I for values from (%L) to (%L)',
                   v_name, v_month, v_end);
    partitions_created := partitions_created + 1;
    rows_moved := rows_moved + v_moved;
  end loop;
end
$$;
comment on function tollgate.maintain_ai_usage_partitions(integer, timestamptz) is
  'Tollgate: creates the monthly partitions of ai_usage from p_now''s month to p_months_ahead months later, and one '
  'for every month with rows in the DEFAULT partition, moving those rows into it. Each partition is built beside '
  'the table and then attached, so inserts into other months are not blocked. Re-runnable; concurrent runs '
  'serialize. Daily pg_cron job tollgate-ai-usage-partitions. Service role only.';
revoke execute on function tollgate.maintain_ai_usage_partitions(integer, timestamptz)
  from public, anon, authenticated, service_role;
grant execute on function tollgate.maintain_ai_usage_partitions(integer, timestamptz) to service_role;

-- This month and the next three exist from the start.
select * from tollgate.maintain_ai_usage_partitions();

create or replace function tollgate._log_ai_usage(
  p_account_id uuid, p_request_id text, p_model text, p_input_tokens bigint, p_output_tokens bigint,
  p_provider text, p_feature text, p_cached_input_tokens bigint, p_latency_ms integer, p_status text,
  p_error_code text, p_charge_credits boolean, p_prompt text, p_response text, p_metadata jsonb, p_now timestamptz,
  p_actor_id uuid default null, p_cache_write_tokens bigint default 0, p_hold_id uuid default null
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account tollgate.accounts := tollgate._lock_account(p_account_id);
  -- A personal account's only member is its owner.
  v_actor uuid := coalesce(p_actor_id, case when v_account.kind = 'personal' then v_account.id end);
  v_prompt_sha text := encode(pg_catalog.sha256(convert_to(p_prompt, 'UTF8')), 'hex');
  v_response_sha text := encode(pg_catalog.sha256(convert_to(p_response, 'UTF8')), 'hex');
  v_hash text;
  v_replay jsonb;
  v_settings tollgate.usage_settings;
  v_price tollgate.model_prices;
  v_unpriced boolean;
  v_exact_cost numeric := 0;
  v_cost numeric(20, 10) := 0;
  v_credits bigint := 0;
  v_usage_id uuid := gen_random_uuid();
  v_consume_id uuid;
  v_hold tollgate.credit_holds;
  v_entry tollgate.credit_ledger;
  v_response jsonb;
begin
  if p_request_id is null or length(p_request_id) not between 1 and 255 then
    raise exception 'Invalid request_id: must be 1 to 255 characters' using errcode = 'TG400';
  end if;
  if p_model is null or length(p_model) not between 1 and 128 then
    raise exception 'Invalid model: must be 1 to 128 characters' using errcode = 'TG400';
  end if;
  if p_provider is not null and length(p_provider) not between 1 and 64 then
    raise exception 'Invalid provider: must be 1 to 64 characters' using errcode = 'TG400';
  end if;
  if p_feature is null or length(p_feature) not between 1 and 64 then
    raise exception 'Invalid feature: must be 1 to 64 characters' using errcode = 'TG400';
  end if;
  if p_input_tokens is null or p_output_tokens is null or p_cached_input_tokens is null
     or p_cache_write_tokens is null
     or least(p_input_tokens, p_output_tokens, p_cached_input_tokens, p_cache_write_tokens) < 0
     or greatest(p_input_tokens, p_output_tokens, p_cached_input_tokens, p_cache_write_tokens) > 1000000000 then
    raise exception 'Invalid token counts: input, output, cached input and cache write tokens must be 0 to 1000000000'
      using errcode = 'TG400';
  end if;
  if p_latency_ms is not null and p_latency_ms not between 0 and 86400000 then
    raise exception 'Invalid latency_ms: must be 0 to 86400000' using errcode = 'TG400';
  end if;
  if p_status is null or p_status not in ('success', 'error') then
    raise exception 'Invalid status: must be success or error' using errcode = 'TG400';
  end if;
  if p_error_code is not null and length(p_error_code) not between 1 and 128 then
    raise exception 'Invalid error_code: must be 1 to 128 characters' using errcode = 'TG400';
  end if;
  if p_charge_credits is null then
    raise exception 'Invalid charge_credits: must be true or false' using errcode = 'TG400';
  end if;
  if length(p_prompt) > 1000000 or length(p_response) > 1000000 then
    raise exception 'Invalid prompt or response: at most 1000000 characters each' using errcode = 'TG400';
  end if;
  if p_metadata is not null and jsonb_typeof(p_metadata) <> 'object' then
    raise exception 'Invalid metadata: must be a JSON object' using errcode = 'TG400';
  end if;

  -- Everything the caller sent, and the member: the same request_id with another body is a conflict.
  v_hash := md5(jsonb_build_object(
    'actor', v_actor,
    'model', p_model, 'provider', p_provider, 'feature', p_feature, 'input_tokens', p_input_tokens,
    'output_tokens', p_output_tokens, 'cached_input_tokens', p_cached_input_tokens,
    'cache_write_tokens', p_cache_write_tokens, 'hold_id', p_hold_id, 'latency_ms', p_latency_ms,
    'status', p_status, 'error_code', p_error_code, 'charge_credits', p_charge_credits,
    'prompt', v_prompt_sha, 'response', v_response_sha, 'metadata', coalesce(p_metadata, '{}'::jsonb))::text);
  v_replay := tollgate._replay(p_account_id, 'usage', 'request_id', p_request_id, v_hash);
  if v_replay is not null then
    return v_replay;
  end if;

  v_account := tollgate._settle_if_due(v_account, p_now);

  select * into v_settings from tollgate.usage_settings where id;
  select * into v_price from tollgate.model_prices
   where model = p_model and effective_from <= p_now
   order by effective_from desc limit 1;
  v_unpriced := not found;
  if not v_unpriced then
    -- Exact: whole tokens times prices of 6 decimals, times 0.000001 (a product, so nothing is rounded).
    v_exact_cost := (p_input_tokens * v_price.input_usd_per_mtok + p_output_tokens * v_price.output_usd_per_mtok
                     + p_cached_input_tokens * coalesce(v_price.cached_input_usd_per_mtok, v_price.input_usd_per_mtok)
                     + p_cache_write_tokens * coalesce(v_price.cache_write_usd_per_mtok, v_price.input_usd_per_mtok))
                    * 0.000001;
    v_cost := v_exact_cost;
  end if;

  -- Whole credits, rounded half up from the exact cost: never half a credit more or less than it.
  if p_charge_credits or p_hold_id is not null then
    v_credits := round(v_exact_cost * coalesce(v_settings.credits_per_usd, 100))::bigint;
  end if;
  if p_hold_id is not null then
    -- The charge comes from the hold first, the rest of it is released; the debit below takes the whole charge,
    -- so what exceeds the hold is post-paid.
    v_hold := tollgate._settle_hold(p_account_id, p_hold_id, v_credits, p_request_id, p_now);
    v_account.held := v_account.held - coalesce(v_hold.charged + v_hold.released, 0);
  end if;
  if v_account.kind = 'team' and v_actor is not null then
    -- Post-paid: counted toward the member's cap, never refused by it; what the hold covered was counted when held.
    perform tollgate._take_member_credits(v_account, v_actor, v_credits - coalesce(v_hold.charged, 0), true, p_now);
  end if;
  if v_credits > 0 then
    v_entry := tollgate._debit(p_account_id, v_credits, true, 'usage', p_request_id,
                               jsonb_build_object('feature', p_feature, 'model', p_model, 'usage_id', v_usage_id)
                               || case when v_hold.id is not null
                                       then jsonb_build_object('hold_id', v_hold.id, 'from_hold', v_hold.charged)
                                       else '{}'::jsonb end,
                               p_now, v_actor);
  end if;

  select id into v_consume_id from tollgate.credit_ledger
   where account_id = p_account_id and reason = 'consume' and idempotency_key = p_request_id;

  insert into tollgate.ai_usage (
    id, account_id, user_id, request_id, model, provider, feature, input_tokens, output_tokens, cached_input_tokens,
    cache_write_tokens, latency_ms, status, error_code, cost_usd, unpriced, price_effective_from, credits_charged,
    prompt_sha256, prompt_length, response_sha256, response_length, prompt, response, metadata, consume_entry_id,
    charge_entry_id, hold_id, created_at)
  values (
    v_usage_id, p_account_id, v_actor, p_request_id, p_model, p_provider, p_feature, p_input_tokens, p_output_tokens,
    p_cached_input_tokens, p_cache_write_tokens, p_latency_ms, p_status, p_error_code, v_cost, v_unpriced,
    v_price.effective_from, v_credits, v_prompt_sha, length(p_prompt), v_response_sha, length(p_response),
    case when v_settings.store_full_text then p_prompt end, case when v_settings.store_full_text then p_response end,
    coalesce(p_metadata, '{}'::jsonb), v_consume_id, v_entry.id, v_hold.id, p_now);

  -- Tokens and cost only: the request itself was counted against the quota by consume-credit, if at all.
  insert into tollgate.usage_counters as c (account_id, feature, period, window_start, window_end, input_tokens,
                                            output_tokens, cached_input_tokens, cache_write_tokens, cost_usd,
                                            updated_at)
  select p_account_id, p_feature, p.period, w.window_start, w.window_end, p_input_tokens, p_output_tokens,
         p_cached_input_tokens, p_cache_write_tokens, v_cost, p_now
    from unnest('{day,month}'::tollgate.quota_period[]) p (period)
   cross join lateral tollgate._quota_window(p.period, p_now, v_account.period_start, v_account.period_end) w
  on conflict (account_id, feature, period, window_start) do update
    set input_tokens = c.input_tokens + excluded.input_tokens, output_tokens = c.output_tokens + excluded.output_tokens,
        cached_input_tokens = c.cached_input_tokens + excluded.cached_input_tokens,
        cache_write_tokens = c.cache_write_tokens + excluded.cache_write_tokens,
        cost_usd = c.cost_usd + excluded.cost_usd, updated_at = p_now;

  v_response := jsonb_build_object(
    'usage_id', v_usage_id,
    'cost_usd', trim_scale(v_cost)::text,
    'credits_charged', v_credits,
    'balance', coalesce(v_entry.balance_after, v_account.balance) - v_account.held,
    'hold_released', coalesce(v_hold.released, 0),
    'unpriced', v_unpriced,
    'replayed', false);
  insert into tollgate.idempotency_keys (account_id, scope, key, request_hash, response, created_at)
  values (p_account_id, 'usage', p_request_id, v_hash, v_response, p_now);
  return v_response;
end
$$;
comment on function tollgate._log_ai_usage(uuid, text, text, bigint, bigint, text, text, bigint, integer, text, text,
  boolean, text, text, jsonb, timestamptz, uuid, bigint, uuid) is
  'Tollgate: the meter at a given time (pgTAP pins it): records one AI call, prices it from the model_prices row in '
  'force (uncached input, output, cache reads and cache writes each at its own price), adds its tokens and cost to '
  'the feature''s day and month counters, and with p_charge_credits or p_hold_id debits the exact cost times '
  'credits_per_usd, rounded half up (never half a credit from the exact cost; a call worth less '
  'than half a credit is free), post-paid, in the acting member''s name. Usage already happened, so it never '
  'refuses for quota, cap or balance (the balance may go negative; a team member''s charge still counts toward '
  'their cap). With p_hold_id the charge comes from that hold first and the rest of it is released, in the same '
  'transaction (a call that cost nothing, such as a failed one, releases it all). Idempotent per (account, '
  'request_id).';
revoke execute on function tollgate._log_ai_usage(uuid, text, text, bigint, bigint, text, text, bigint, integer, text,
  text, boolean, text, text, jsonb, timestamptz, uuid, bigint, uuid) from public, anon, authenticated, service_role;

create or replace function tollgate.log_ai_usage(
  p_request_id text, p_model text, p_input_tokens bigint, p_output_tokens bigint,
  p_provider text default null, p_feature text default 'default', p_cached_input_tokens bigint default 0,
  p_latency_ms integer default null, p_status text default 'success', p_error_code text default null,
  p_charge_credits boolean default false, p_prompt text default null, p_response text default null,
  p_metadata jsonb default null, p_user_id uuid default null, p_account_id uuid default null,
  p_cache_write_tokens bigint default 0, p_hold_id uuid default null
) returns jsonb
language sql
security definer
set search_path = ''
as $$
  select tollgate._log_ai_usage(m.account_id, p_request_id, p_model, p_input_tokens, p_output_tokens, p_provider,
                                p_feature, p_cached_input_tokens, p_latency_ms, p_status, p_error_code,
                                p_charge_credits, p_prompt, p_response, tollgate._valid_metadata(p_metadata), now(),
                                m.user_id, p_cache_write_tokens, p_hold_id)
    from tollgate._acting_member(p_account_id, p_user_id) m
$$;
comment on function tollgate.log_ai_usage(text, text, bigint, bigint, text, text, bigint, integer, text, text,
  boolean, text, text, jsonb, uuid, uuid, bigint, uuid) is
  'Tollgate: the meter, called after work (the log-ai-usage function): a user logs calls on their own account or on '
  'an account they are a member of (p_account_id); the service role names the account or the user, and the acting '
  'member; p_hold_id settles a hold of consume_credits. Returns usage_id, cost_usd, credits_charged, balance '
  '(available: balance - held), hold_released, unpriced and replayed.';
revoke execute on function tollgate.log_ai_usage(text, text, bigint, bigint, text, text, bigint, integer, text, text,
  boolean, text, text, jsonb, uuid, uuid, bigint, uuid) from public, anon, authenticated, service_role;
grant execute on function tollgate.log_ai_usage(text, text, bigint, bigint, text, text, bigint, integer, text, text,
  boolean, text, text, jsonb, uuid, uuid, bigint, uuid) to authenticated, service_role;

create or replace function tollgate.get_usage_breakdown(
  p_from timestamptz, p_to timestamptz, p_user_id uuid default null, p_account_id uuid default null
)
returns table (day date, feature text, model text, calls bigint, errors bigint, input_tokens bigint,
               output_tokens bigint, cached_input_tokens bigint, cost_usd numeric, credits bigint)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_acting record := tollgate._acting_member(p_account_id, p_user_id);
  -- What the acting member may read (the ai_usage policies): owners and admins, and a service call naming no
  -- member, every call of the account; any other member their own.
  v_everyone boolean := v_acting.role in ('owner', 'admin') or v_acting.user_id is null;
begin
  if p_from is null or p_to is null or p_from >= p_to then
    raise exception 'Invalid range: p_from must be before p_to' using errcode = 'TG400';
  end if;
  return query
    select (u.created_at at time zone 'UTC')::date, u.feature, u.model, count(*),
           count(*) filter (where u.status = 'error'), sum(u.input_tokens)::bigint, sum(u.output_tokens)::bigint,
           sum(u.cached_input_tokens)::bigint, sum(u.cost_usd), sum(u.credits_charged)::bigint
      from tollgate.ai_usage u
     where u.account_id = v_acting.account_id and u.created_at >= p_from and u.created_at < p_to
       and (v_everyone or u.user_id = v_acting.user_id)
     group by 1, 2, 3
     order by 1, 2, 3;
end
$$;
comment on function tollgate.get_usage_breakdown(timestamptz, timestamptz, uuid, uuid) is
  'Tollgate: the acting account''s AI calls in [p_from, p_to), grouped by UTC day, feature and model: every call for '
  'its owners and admins, their own for other members. The service role names the account or the user.';
revoke execute on function tollgate.get_usage_breakdown(timestamptz, timestamptz, uuid, uuid)
  from public, anon, authenticated, service_role;
grant execute on function tollgate.get_usage_breakdown(timestamptz, timestamptz, uuid, uuid)
  to authenticated, service_role;
