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

-- The rules of one usage event, each in one place: log_ai_usage (one call) and log_ai_usage_batch (a set of them)
-- both use them.

create or replace function tollgate._usage_problem(
  p_request_id text, p_model text, p_input_tokens bigint, p_output_tokens bigint, p_provider text, p_feature text,
  p_cached_input_tokens bigint, p_latency_ms integer, p_status text, p_error_code text, p_charge_credits boolean,
  p_prompt text, p_response text, p_metadata jsonb, p_cache_write_tokens bigint
) returns text
language sql immutable
as $$
  select case
    when p_request_id is null or pg_catalog.length(p_request_id) not between 1 and 255
      then 'Invalid request_id: must be 1 to 255 characters'
    when p_model is null or pg_catalog.length(p_model) not between 1 and 128
      then 'Invalid model: must be 1 to 128 characters'
    when p_provider is not null and pg_catalog.length(p_provider) not between 1 and 64
      then 'Invalid provider: must be 1 to 64 characters'
    when p_feature is null or pg_catalog.length(p_feature) not between 1 and 64
      then 'Invalid feature: must be 1 to 64 characters'
    when p_input_tokens is null or p_output_tokens is null or p_cached_input_tokens is null
         or p_cache_write_tokens is null
         or least(p_input_tokens, p_output_tokens, p_cached_input_tokens, p_cache_write_tokens) < 0
         or greatest(p_input_tokens, p_output_tokens, p_cached_input_tokens, p_cache_write_tokens) > 1000000000
      then 'Invalid token counts: input, output, cached input and cache write tokens must be 0 to 1000000000'
    when p_latency_ms is not null and p_latency_ms not between 0 and 86400000
      then 'Invalid latency_ms: must be 0 to 86400000'
    when p_status is null or p_status not in ('success', 'error')
      then 'Invalid status: must be success or error'
    when p_error_code is not null and pg_catalog.length(p_error_code) not between 1 and 128
      then 'Invalid error_code: must be 1 to 128 characters'
    when p_charge_credits is null
      then 'Invalid charge_credits: must be true or false'
    when pg_catalog.length(p_prompt) > 1000000 or pg_catalog.length(p_response) > 1000000
      then 'Invalid prompt or response: at most 1000000 characters each'
    when p_metadata is not null and pg_catalog.jsonb_typeof(p_metadata) <> 'object'
      then 'Invalid metadata: must be a JSON object'
  end
$$;
comment on function tollgate._usage_problem(text, text, bigint, bigint, text, text, bigint, integer, text, text,
  boolean, text, text, jsonb, bigint) is
  'Tollgate: why a usage event is refused (TG400), or null when it is valid: the one list of the meter''s limits. '
  'Plain SQL without SET search_path (every name pg_catalog-qualified), so a batch''s query inlines it.';
revoke execute on function tollgate._usage_problem(text, text, bigint, bigint, text, text, bigint, integer, text,
  text, boolean, text, text, jsonb, bigint) from public, anon, authenticated, service_role;

create or replace function tollgate._usage_hash(
  p_actor uuid, p_model text, p_provider text, p_feature text, p_input_tokens bigint, p_output_tokens bigint,
  p_cached_input_tokens bigint, p_latency_ms integer, p_status text, p_error_code text, p_charge_credits boolean,
  p_prompt_sha256 text, p_response_sha256 text, p_metadata jsonb, p_cache_write_tokens bigint, p_hold_id uuid
) returns text
language sql stable
as $$
  -- A row's text quotes any field with a separator in it and leaves a null empty, so two bodies differ in it
  -- exactly when they differ; a third of the cost of building and printing a JSON object.
  select pg_catalog.md5(row(
    p_actor, p_model, p_provider, p_feature, p_input_tokens, p_output_tokens, p_cached_input_tokens,
    p_cache_write_tokens, p_hold_id, p_latency_ms, p_status, p_error_code, p_charge_credits, p_prompt_sha256,
    p_response_sha256, coalesce(p_metadata, '{}'::jsonb))::text)
$$;
comment on function tollgate._usage_hash(uuid, text, text, text, bigint, bigint, bigint, integer, text, text,
  boolean, text, text, jsonb, bigint, uuid) is
  'Tollgate: the replay hash of a usage event: everything the caller sent, and the member, so the same request_id '
  'with another body is a conflict. Plain SQL, inlined by a batch''s query.';
revoke execute on function tollgate._usage_hash(uuid, text, text, text, bigint, bigint, bigint, integer, text, text,
  boolean, text, text, jsonb, bigint, uuid) from public, anon, authenticated, service_role;

create or replace function tollgate._price_in_force(p_model text, p_now timestamptz)
returns table (effective_from timestamptz, input_usd_per_mtok numeric, output_usd_per_mtok numeric,
               cached_input_usd_per_mtok numeric, cache_write_usd_per_mtok numeric, credits_per_usd numeric)
language sql stable
as $$
  -- Null prices (and the default 100 credits per USD) when the model has no price in force.
  select p.effective_from, p.input_usd_per_mtok, p.output_usd_per_mtok, p.cached_input_usd_per_mtok,
         p.cache_write_usd_per_mtok, coalesce(s.credits_per_usd, 100)
    from (select) one
    left join tollgate.usage_settings s on s.id
    left join lateral (
      select m.* from tollgate.model_prices m
       where m.model = p_model and m.effective_from <= p_now
       order by m.effective_from desc
       limit 1
    ) p on true
$$;
comment on function tollgate._price_in_force(text, timestamptz) is
  'Tollgate: the model_prices row in force for p_model at p_now (all null without one) and credits_per_usd: what '
  '_usage_cost prices an event with, looked up once per model by a batch. Plain SQL without SET search_path, so '
  'a query inlines it; only its owner executes it.';
revoke execute on function tollgate._price_in_force(text, timestamptz) from public, anon, authenticated, service_role;

create or replace function tollgate._usage_cost(
  p_effective_from timestamptz, p_input_usd_per_mtok numeric, p_output_usd_per_mtok numeric,
  p_cached_input_usd_per_mtok numeric, p_cache_write_usd_per_mtok numeric, p_credits_per_usd numeric,
  p_input_tokens bigint, p_output_tokens bigint, p_cached_input_tokens bigint, p_charge_credits boolean,
  p_cache_write_tokens bigint
) returns table (cost_usd numeric, unpriced boolean, price_effective_from timestamptz, credits bigint)
language sql immutable
as $$
  select coalesce(c.exact, 0)::numeric(20, 10), p_effective_from is null, p_effective_from,
         -- Whole credits, rounded half up from the exact cost: never half a credit more or less than it.
         case when p_charge_credits then pg_catalog.round(coalesce(c.exact, 0) * p_credits_per_usd)::bigint
              else 0 end
    from (
      -- Exact: whole tokens times prices of 6 decimals, times 0.000001 (a product, so nothing is rounded).
      select (p_input_tokens * p_input_usd_per_mtok + p_output_tokens * p_output_usd_per_mtok
              + p_cached_input_tokens * coalesce(p_cached_input_usd_per_mtok, p_input_usd_per_mtok)
              + p_cache_write_tokens * coalesce(p_cache_write_usd_per_mtok, p_input_usd_per_mtok)) * 0.000001
               as exact
    ) c
$$;
comment on function tollgate._usage_cost(timestamptz, numeric, numeric, numeric, numeric, numeric, bigint, bigint,
  bigint, boolean, bigint) is
  'Tollgate: the price of a usage event from the price in force (_price_in_force: uncached input, output, cache '
  'reads and cache writes each at its own price; cost 0 and unpriced without one), and the credits it charges: '
  'round(exact cost * credits_per_usd), half up, when p_charge_credits. Plain SQL without SET search_path, so a '
  'batch''s query inlines it; only its owner executes it.';
revoke execute on function tollgate._usage_cost(timestamptz, numeric, numeric, numeric, numeric, numeric, bigint,
  bigint, bigint, boolean, bigint) from public, anon, authenticated, service_role;

create or replace function tollgate._count_usage(
  p_now timestamptz, p_account_ids uuid[], p_features text[], p_input_tokens bigint[], p_output_tokens bigint[],
  p_cached_input_tokens bigint[], p_cache_write_tokens bigint[], p_cost_usd numeric[]
) returns void
language sql
security definer
set search_path = ''
as $$
  -- Tokens and cost only: the request itself was counted against the quota by consume-credit, if at all.
  insert into tollgate.usage_counters as c (account_id, feature, period, window_start, window_end, input_tokens,
                                            output_tokens, cached_input_tokens, cache_write_tokens, cost_usd,
                                            updated_at)
  select u.account_id, u.feature, p.period, w.window_start, w.window_end, u.input_tokens, u.output_tokens,
         u.cached_input_tokens, u.cache_write_tokens, u.cost_usd, p_now
    from unnest(p_account_ids, p_features, p_input_tokens, p_output_tokens, p_cached_input_tokens,
                p_cache_write_tokens, p_cost_usd)
           u (account_id, feature, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, cost_usd)
    join tollgate.accounts a on a.id = u.account_id
   cross join unnest('{day,month}'::tollgate.quota_period[]) p (period)
   cross join lateral tollgate._quota_window(p.period, p_now, a.period_start, a.period_end) w
   order by u.account_id, u.feature, p.period
  on conflict (account_id, feature, period, window_start) do update
    set input_tokens = c.input_tokens + excluded.input_tokens, output_tokens = c.output_tokens + excluded.output_tokens,
        cached_input_tokens = c.cached_input_tokens + excluded.cached_input_tokens,
        cache_write_tokens = c.cache_write_tokens + excluded.cache_write_tokens,
        cost_usd = c.cost_usd + excluded.cost_usd, updated_at = p_now
$$;
comment on function tollgate._count_usage(timestamptz, uuid[], text[], bigint[], bigint[], bigint[], bigint[],
  numeric[]) is
  'Tollgate: adds tokens and cost to the day and month counters of each (account, feature) given (each once, the '
  'accounts locked and settled), in one statement: one call''s, or a batch''s sums.';
revoke execute on function tollgate._count_usage(timestamptz, uuid[], text[], bigint[], bigint[], bigint[], bigint[],
  numeric[])
  from public, anon, authenticated, service_role;

create or replace function tollgate._debit_batch(
  p_account_ids uuid[], p_amounts bigint[], p_reason text, p_keys text[], p_metadata jsonb[], p_now timestamptz,
  p_actor_ids uuid[]
) returns setof tollgate.credit_ledger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_entries tollgate.credit_ledger[];
begin
  if exists (select from unnest(p_amounts) a where a is null or a <= 0) then
    raise exception 'Cannot debit credits: every amount must be positive' using errcode = 'TG400';
  end if;
  -- What _debit does per charge, post-paid, in statements: per account one draw of the charges' sum from the live
  -- lots in _draw_lots' order (successive draws take exactly that), the overdraft for what they do not cover, and
  -- one ledger row per charge numbered and balanced in the given order, as _post_ledger writes them.
  with charge as (
    select c.*, pg_catalog.sum(c.amount) over w as cum, pg_catalog.row_number() over w as nth
      from unnest(p_account_ids, p_amounts, p_keys, p_metadata, p_actor_ids) with ordinality
             c (account_id, amount, key, metadata, actor_id, ord)
    window w as (partition by c.account_id order by c.ord)
  ), total as (
    select c.account_id, pg_catalog.sum(c.amount)::bigint as amount, pg_catalog.count(*) as n
      from charge c group by 1
  ), live as (
    select l.id, l.account_id, l.remaining, t.amount as need,
           pg_catalog.sum(l.remaining) over (partition by l.account_id
                                             order by l.expires_at nulls last, l.priority, l.created_at, l.id) as cum
      from tollgate.credit_lots l
      join total t on t.account_id = l.account_id
     where l.remaining > 0 and (l.expires_at is null or l.expires_at > p_now)
  ), drawn as (
    update tollgate.credit_lots l set remaining = l.remaining - d.n
      from (select v.id, v.account_id, least(v.remaining, v.need - (v.cum - v.remaining)) as n
              from live v where v.cum - v.remaining < v.need) d
     where l.id = d.id
    returning d.account_id, d.n
  ), moved as (
    update tollgate.accounts a
       set balance = a.balance - t.amount, overdraft = a.overdraft + t.amount - coalesce(d.n, 0),
           ledger_seq = a.ledger_seq + t.n, updated_at = p_now
      from total t
      left join (select d.account_id, pg_catalog.sum(d.n)::bigint as n from drawn d group by 1) d
        on d.account_id = t.account_id
     where a.id = t.account_id
    returning a.id, a.balance + t.amount as balance_before, a.ledger_seq - t.n as seq_before
  ), posted as (
    insert into tollgate.credit_ledger (account_id, seq, delta, balance_after, reason, idempotency_key, lot_id,
                                        actor_id, metadata, created_at)
    select c.account_id, m.seq_before + c.nth, -c.amount, m.balance_before - c.cum, p_reason, c.key, null,
           c.actor_id, coalesce(c.metadata, '{}'::jsonb), p_now
      from charge c
      join moved m on m.id = c.account_id
    returning *
  )
  select pg_catalog.array_agg(e::tollgate.credit_ledger order by c.ord) into v_entries
    from posted e
    join moved m on m.id = e.account_id
    join charge c on c.account_id = e.account_id and c.nth = e.seq - m.seq_before;
  -- Each row that takes the available balance across the low-balance threshold or zero writes its event, as
  -- _post_ledger does.
  perform tollgate._emit_balance_events(a.id, e.balance_after - e.delta - a.held, e.balance_after - a.held,
                                        tollgate._low_balance_threshold(a), 'ledger:' || e.seq, p_now)
     from unnest(v_entries) e
     join tollgate.accounts a on a.id = e.account_id
    order by e.account_id, e.seq;
  return query select * from unnest(v_entries);
end
$$;
comment on function tollgate._debit_batch(uuid[], bigint[], text, text[], jsonb[], timestamptz, uuid[]) is
  'Tollgate: a batch''s post-paid charges in statements, each as _debit(account, amount, true, reason, key, '
  'metadata, now, actor) would book it, one after the other in the given order: the lots drawn earliest expiry '
  'first, what they do not cover as overdraft, one ledger row per charge, the balance events of each crossing. '
  'Returns the ledger rows in the given order. The caller holds every account''s lock and has settled it.';
revoke execute on function tollgate._debit_batch(uuid[], bigint[], text, text[], jsonb[], timestamptz, uuid[])
  from public, anon, authenticated, service_role;

create or replace function tollgate._usage_answer(
  p_usage_id uuid, p_cost_usd numeric, p_credits bigint, p_balance bigint, p_hold_released bigint,
  p_unpriced boolean
) returns jsonb
language sql stable
as $$
  select pg_catalog.jsonb_build_object('usage_id', p_usage_id, 'cost_usd', pg_catalog.trim_scale(p_cost_usd)::text,
                                       'credits_charged', p_credits, 'balance', p_balance,
                                       'hold_released', p_hold_released, 'unpriced', p_unpriced, 'replayed', false)
$$;
comment on function tollgate._usage_answer(uuid, numeric, bigint, bigint, bigint, boolean) is
  'Tollgate: the answer of a recorded usage event (the HTTP contract''s body; p_balance is what is available, '
  'balance - held), stored for its replays.';
revoke execute on function tollgate._usage_answer(uuid, numeric, bigint, bigint, bigint, boolean)
  from public, anon, authenticated, service_role;

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
  v_problem text := tollgate._usage_problem(p_request_id, p_model, p_input_tokens, p_output_tokens, p_provider,
                                            p_feature, p_cached_input_tokens, p_latency_ms, p_status, p_error_code,
                                            p_charge_credits, p_prompt, p_response, p_metadata,
                                            p_cache_write_tokens);
  v_hash text;
  v_replay jsonb;
  v_store_full_text boolean;
  v_cost record;
  v_usage_id uuid := gen_random_uuid();
  v_consume_id uuid;
  v_hold tollgate.credit_holds;
  v_entry tollgate.credit_ledger;
  v_response jsonb;
begin
  if v_problem is not null then
    raise exception '%', v_problem using errcode = 'TG400';
  end if;

  v_hash := tollgate._usage_hash(v_actor, p_model, p_provider, p_feature, p_input_tokens, p_output_tokens,
                                 p_cached_input_tokens, p_latency_ms, p_status, p_error_code, p_charge_credits,
                                 v_prompt_sha, v_response_sha, p_metadata, p_cache_write_tokens, p_hold_id);
  v_replay := tollgate._replay(p_account_id, 'usage', 'request_id', p_request_id, v_hash);
  if v_replay is not null then
    return v_replay;
  end if;

  v_account := tollgate._settle_if_due(v_account, p_now);

  select store_full_text into v_store_full_text from tollgate.usage_settings where id;
  select c.* into v_cost
    from tollgate._price_in_force(p_model, p_now) p
   cross join lateral tollgate._usage_cost(p.effective_from, p.input_usd_per_mtok, p.output_usd_per_mtok,
                                           p.cached_input_usd_per_mtok, p.cache_write_usd_per_mtok,
                                           p.credits_per_usd, p_input_tokens, p_output_tokens, p_cached_input_tokens,
                                           p_charge_credits or p_hold_id is not null, p_cache_write_tokens) c;
  if p_hold_id is not null then
    -- The charge comes from the hold first, the rest of it is released; the debit below takes the whole charge,
    -- so what exceeds the hold is post-paid.
    v_hold := tollgate._settle_hold(p_account_id, p_hold_id, v_cost.credits, p_request_id, p_now);
    v_account.held := v_account.held - coalesce(v_hold.charged + v_hold.released, 0);
  end if;
  if v_account.kind = 'team' and v_actor is not null then
    -- Post-paid: counted toward the member's cap, never refused by it; what the hold covered was counted when held.
    perform tollgate._take_member_credits(v_account, v_actor, v_cost.credits - coalesce(v_hold.charged, 0), true,
                                          p_now);
  end if;
  if v_cost.credits > 0 then
    v_entry := tollgate._debit(p_account_id, v_cost.credits, true, 'usage', p_request_id,
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
    p_cached_input_tokens, p_cache_write_tokens, p_latency_ms, p_status, p_error_code, v_cost.cost_usd,
    v_cost.unpriced, v_cost.price_effective_from, v_cost.credits, v_prompt_sha, length(p_prompt), v_response_sha,
    length(p_response), case when v_store_full_text then p_prompt end,
    case when v_store_full_text then p_response end, coalesce(p_metadata, '{}'::jsonb), v_consume_id, v_entry.id,
    v_hold.id, p_now);

  perform tollgate._count_usage(p_now, array[p_account_id], array[p_feature], array[p_input_tokens],
                                array[p_output_tokens], array[p_cached_input_tokens], array[p_cache_write_tokens],
                                array[v_cost.cost_usd]);

  v_response := tollgate._usage_answer(v_usage_id, v_cost.cost_usd, v_cost.credits,
                                       coalesce(v_entry.balance_after, v_account.balance) - v_account.held,
                                       coalesce(v_hold.released, 0), v_cost.unpriced);
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

-- Batch ingest: up to 1,000 events recorded as if each were sent alone, in set-based statements.

do $$
begin
  create type tollgate.usage_event as (
    request_id text, model text, provider text, feature text, input_tokens bigint, output_tokens bigint,
    cached_input_tokens bigint, latency_ms integer, status text, error_code text, charge_credits boolean,
    prompt text, response text, metadata jsonb, account_id uuid, user_id uuid, cache_write_tokens bigint,
    hold_id uuid
  );
exception when duplicate_object then null;
end
$$;
comment on type tollgate.usage_event is
  'Tollgate: one event of a log_ai_usage_batch, as the HTTP body of log-ai-usage names its fields.';

create or replace function tollgate._usage_event(p_event jsonb) returns setof tollgate.usage_event
language sql stable rows 1
as $$
  -- log_ai_usage's defaults for what the event leaves out.
  select e.request_id, e.model, e.provider, coalesce(e.feature, 'default'), e.input_tokens, e.output_tokens,
         coalesce(e.cached_input_tokens, 0), e.latency_ms, coalesce(e.status, 'success'), e.error_code,
         coalesce(e.charge_credits, false), e.prompt, e.response, e.metadata, e.account_id, e.user_id,
         coalesce(e.cache_write_tokens, 0), e.hold_id
    from pg_catalog.jsonb_populate_record(null::tollgate.usage_event,
                                          case pg_catalog.jsonb_typeof(p_event) when 'object' then p_event
                                                                                else '{}' end) e
$$;
comment on function tollgate._usage_event(jsonb) is
  'Tollgate: a batch event''s JSON as typed fields with log_ai_usage''s defaults (a value of the wrong type raises '
  'here; anything but an object reads as an empty event, which _usage_problem refuses). One row; a set-returning '
  'SQL function so that a batch''s query inlines it.';
revoke execute on function tollgate._usage_event(jsonb) from public, anon, authenticated, service_role;

do $$
begin
  create type tollgate.usage_plan as (
    ord integer, kind text, account_id uuid, actor uuid, request_id text, model text, provider text, feature text,
    input_tokens bigint, output_tokens bigint, cached_input_tokens bigint, latency_ms integer, status text,
    error_code text, charge_credits boolean, prompt text, response text, metadata jsonb, prompt_sha256 text,
    response_sha256 text, hash text, cost_usd numeric(20, 10), unpriced boolean, price_effective_from timestamptz,
    credits bigint, usage_id uuid, stored jsonb, cache_write_tokens bigint, hold_id uuid
  );
exception when duplicate_object then null;
end
$$;
comment on type tollgate.usage_plan is
  'Tollgate: one event of a log_ai_usage_batch as planned: who acts for which account, its fields, replay hash, '
  'price and credits, and how it is recorded (kind: new, replay, repeat or single; stored: the answer replayed).';

create or replace function tollgate._plan_usage_events(p_events jsonb, p_first integer, p_now timestamptz)
returns setof tollgate.usage_plan
language sql
security definer
set search_path = ''
as $$
  with ev as materialized (
    -- _valid_metadata passes null through: not called for it (a PL/pgSQL call per event).
    select (j.o - 1 + p_first)::integer as ord, x.*,
           case when x.metadata is not null then tollgate._valid_metadata(x.metadata) end as valid_metadata,
           coalesce(x.account_id::text, '-') || ' ' || coalesce(x.user_id::text, '-') as asked
      from pg_catalog.jsonb_array_elements(p_events) with ordinality j (e, o)
     cross join lateral tollgate._usage_event(j.e) x
  ), acting as materialized (
    -- Once per distinct account and user named (materialized, so the planner cannot call it per event).
    select a.asked, m.account_id, m.user_id
      from (select distinct ev.asked, ev.account_id, ev.user_id from ev) a
     cross join lateral tollgate._acting_member(a.account_id, a.user_id) m
  ), priced as materialized (
    -- The price in force once per distinct model.
    select d.model, pr.*
      from (select distinct ev.model from ev) d
     cross join lateral tollgate._price_in_force(d.model, p_now) pr
  ), planned as (
    select ev.*, m.account_id as acting_account, m.user_id as actor,
           tollgate._usage_problem(ev.request_id, ev.model, ev.input_tokens, ev.output_tokens, ev.provider,
                                   ev.feature, ev.cached_input_tokens, ev.latency_ms, ev.status, ev.error_code,
                                   ev.charge_credits, ev.prompt, ev.response, ev.valid_metadata,
                                   ev.cache_write_tokens) as problem,
           pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(ev.prompt, 'UTF8')), 'hex') as prompt_sha,
           pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(ev.response, 'UTF8')), 'hex') as response_sha
      from ev
      -- One equality (a hash join), where a null id, unlike any uuid, reads as '-'.
      join acting m on m.asked = ev.asked
  )
  select p.ord, case when p.problem is not null or p.hold_id is not null then 'single' end, p.acting_account,
         p.actor, p.request_id, p.model, p.provider, p.feature, p.input_tokens, p.output_tokens,
         p.cached_input_tokens, p.latency_ms, p.status, p.error_code, p.charge_credits, p.prompt, p.response,
         p.metadata, p.prompt_sha, p.response_sha,
         tollgate._usage_hash(p.actor, p.model, p.provider, p.feature, p.input_tokens, p.output_tokens,
                              p.cached_input_tokens, p.latency_ms, p.status, p.error_code, p.charge_credits,
                              p.prompt_sha, p.response_sha, p.metadata, p.cache_write_tokens, p.hold_id),
         c.cost_usd, c.unpriced, c.price_effective_from, c.credits, null::uuid, null::jsonb, p.cache_write_tokens,
         p.hold_id
    from planned p
    left join priced pr on pr.model = p.model
    left join lateral tollgate._usage_cost(pr.effective_from, pr.input_usd_per_mtok, pr.output_usd_per_mtok,
                                           pr.cached_input_usd_per_mtok, pr.cache_write_usd_per_mtok,
                                           pr.credits_per_usd, p.input_tokens, p.output_tokens,
                                           p.cached_input_tokens, p.charge_credits, p.cache_write_tokens) c
      on p.problem is null
$$;
comment on function tollgate._plan_usage_events(jsonb, integer, timestamptz) is
  'Tollgate: what a batch''s events are before anything is locked or written: who acts for which account '
  '(_acting_member, once per distinct account and user named), whether each is valid (kind single if not, or if '
  'it settles a hold), its replay hash, its price (looked up once per model) and credits. Raises when an event '
  'names an account or member the caller may not act for, or holds a value of the wrong type: the batch then '
  'plans each event alone. p_first is the ordinal of the first event.';
revoke execute on function tollgate._plan_usage_events(jsonb, integer, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._log_ai_usage_batch(p_events jsonb, p_now timestamptz) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_count integer := case pg_catalog.jsonb_typeof(p_events) when 'array' then pg_catalog.jsonb_array_length(p_events)
                        else 0 end;
  v_plan tollgate.usage_plan[];
  v_unplanned tollgate.usage_plan;
  v_accounts uuid[];
  v_teams uuid[];
  v_before jsonb;
  v_held jsonb;
  v_charged_ords integer[];
  v_charge_accounts uuid[];
  v_amounts bigint[];
  v_keys text[];
  v_charge_metadata jsonb[];
  v_actors uuid[];
  v_entry_ids uuid[];
  v_balances bigint[];
  v_results jsonb[];
  v_ord integer;
  v_event tollgate.usage_event;
  v_answer jsonb;
  v_state text;
  v_message text;
  v_detail text;
begin
  if v_count not between 1 and 1000 then
    raise exception 'Invalid events: must be an array of 1 to 1000 usage events' using errcode = 'TG400';
  end if;

  begin
    v_plan := array(select p from tollgate._plan_usage_events(p_events, 0, p_now) p);
  exception when sqlstate 'TG400' or sqlstate 'TG403' or sqlstate 'TG404' or data_exception then
    -- Some event cannot be planned: plan each alone; those that fail take the per-event path, which raises (and
    -- answers) their own error.
    v_plan := '{}'::tollgate.usage_plan[];
    for i in 0 .. v_count - 1 loop
      begin
        v_plan := v_plan || array(select p from tollgate._plan_usage_events(pg_catalog.jsonb_build_array(p_events -> i),
                                                                            i, p_now) p);
      exception when sqlstate 'TG400' or sqlstate 'TG403' or sqlstate 'TG404' or data_exception then
        v_unplanned.ord := i;
        v_unplanned.kind := 'single';
        v_plan := v_plan || v_unplanned;
      end;
    end loop;
  end;

  -- Every account of the batch locked at once, in id order: two batches on the same accounts never deadlock, and
  -- the per-event path below finds its lock already held. Then each is settled if due, as one call would be.
  select pg_catalog.array_agg(l.id order by l.id), pg_catalog.array_agg(l.id) filter (where l.kind = 'team')
    into v_accounts, v_teams
    from (select a.id, a.kind from tollgate.accounts a
           where a.id in (select p.account_id from unnest(v_plan) p)
           order by a.id
             for update) l;
  perform tollgate._settle_if_due(a, p_now) from tollgate.accounts a where a.id = any(v_accounts) order by a.id;
  select pg_catalog.jsonb_object_agg(a.id, a.balance), pg_catalog.jsonb_object_agg(a.id, a.held)
    into v_before, v_held
    from tollgate.accounts a where a.id = any(v_accounts);

  -- Under the locks, each event is new, a replay of a stored answer, a repeat of an earlier event of the batch
  -- with the same key and body, or takes the per-event path: invalid, unplannable, no such account, or a
  -- conflict (one call raises its error). A key with any per-event event takes that path for all its events.
  v_plan := array(
    select row(g.ord,
               case when g.group_single or g.hash <> g.first_hash then 'single'
                    when k.request_hash is null then case when g.nth = 1 then 'new' else 'repeat' end
                    when k.request_hash = g.first_hash then 'replay'
                    else 'single' end,
               g.account_id, g.actor, g.request_id, g.model, g.provider, g.feature, g.input_tokens, g.output_tokens,
               g.cached_input_tokens, g.latency_ms, g.status, g.error_code, g.charge_credits, g.prompt, g.response,
               g.metadata, g.prompt_sha256, g.response_sha256, g.hash, g.cost_usd, g.unpriced,
               g.price_effective_from, g.credits, gen_random_uuid(), k.response, g.cache_write_tokens,
               g.hold_id)::tollgate.usage_plan
      from (select p.*, pg_catalog.first_value(p.hash) over w as first_hash, pg_catalog.row_number() over w as nth,
                   pg_catalog.bool_or(p.kind = 'single' or not coalesce(p.account_id = any(v_accounts), false))
                     over (partition by p.account_id, p.request_id) as group_single
              from unnest(v_plan) p
            window w as (partition by p.account_id, p.request_id order by p.ord)) g
      left join tollgate.idempotency_keys k
        on k.account_id = g.account_id and k.scope = 'usage' and k.key = g.request_id
     order by g.ord);

  -- The charges, set-based (_debit_batch), in the batch's order (the ledger numbers each account's rows so).
  select pg_catalog.array_agg(p.ord order by p.ord), pg_catalog.array_agg(p.account_id order by p.ord),
         pg_catalog.array_agg(p.credits order by p.ord), pg_catalog.array_agg(p.request_id order by p.ord),
         pg_catalog.array_agg(pg_catalog.jsonb_build_object('feature', p.feature, 'model', p.model,
                                                            'usage_id', p.usage_id) order by p.ord),
         pg_catalog.array_agg(p.actor order by p.ord)
    into v_charged_ords, v_charge_accounts, v_amounts, v_keys, v_charge_metadata, v_actors
    from unnest(v_plan) p
   where p.kind = 'new' and p.credits > 0;
  if v_charged_ords is not null then
    select pg_catalog.array_agg(d.id order by d.ordinality),
           pg_catalog.array_agg(d.balance_after order by d.ordinality)
      into v_entry_ids, v_balances
      from tollgate._debit_batch(v_charge_accounts, v_amounts, 'usage', v_keys, v_charge_metadata, p_now, v_actors)
             with ordinality d;
  end if;

  -- A team member's credits once per member, the counters once per (account, feature), with the batch's sums.
  if v_teams is not null then
    perform tollgate._take_member_credits(a, m.actor, m.credits, true, p_now)
       from (select p.account_id, p.actor, pg_catalog.sum(p.credits)::bigint as credits
               from unnest(v_plan) p
              where p.kind = 'new' and p.actor is not null and p.account_id = any(v_teams)
              group by 1, 2) m
       join tollgate.accounts a on a.id = m.account_id
      order by m.account_id, m.actor;
  end if;
  perform tollgate._count_usage(p_now, pg_catalog.array_agg(f.account_id), pg_catalog.array_agg(f.feature),
                                pg_catalog.array_agg(f.input_tokens), pg_catalog.array_agg(f.output_tokens),
                                pg_catalog.array_agg(f.cached_input_tokens), pg_catalog.array_agg(f.cache_write_tokens),
                                pg_catalog.array_agg(f.cost_usd))
     from (select p.account_id, p.feature, pg_catalog.sum(p.input_tokens)::bigint as input_tokens,
                  pg_catalog.sum(p.output_tokens)::bigint as output_tokens,
                  pg_catalog.sum(p.cached_input_tokens)::bigint as cached_input_tokens,
                  pg_catalog.sum(p.cache_write_tokens)::bigint as cache_write_tokens,
                  pg_catalog.sum(p.cost_usd) as cost_usd
             from unnest(v_plan) p
            where p.kind = 'new'
            group by 1, 2) f
   having pg_catalog.count(*) > 0;

  -- The rows and answers of the new events, all at once; each answer's balance is its account's after the
  -- charges up to it in the batch's order.
  with charged as (
    select p.*, c.entry_id, c.balance,
           pg_catalog.count(c.entry_id) over (partition by p.account_id order by p.ord) as charges_so_far
      from unnest(v_plan) p
      left join unnest(v_charged_ords, v_entry_ids, v_balances) c (ord, entry_id, balance) on c.ord = p.ord
     where p.kind = 'new'
  ), answered as (
    select c.*, tollgate._usage_answer(
             c.usage_id, c.cost_usd, c.credits,
             coalesce(pg_catalog.first_value(c.balance) over (partition by c.account_id, c.charges_so_far
                                                              order by c.ord),
                      (v_before ->> c.account_id::text)::bigint) - (v_held ->> c.account_id::text)::bigint,
             0, c.unpriced) as answer
      from charged c
  ), recorded as (
    insert into tollgate.ai_usage (
      id, account_id, user_id, request_id, model, provider, feature, input_tokens, output_tokens,
      cached_input_tokens, cache_write_tokens, latency_ms, status, error_code, cost_usd, unpriced, price_effective_from,
      credits_charged, prompt_sha256, prompt_length, response_sha256, response_length, prompt, response, metadata,
      consume_entry_id, charge_entry_id, created_at)
    select n.usage_id, n.account_id, n.actor, n.request_id, n.model, n.provider, n.feature, n.input_tokens,
           n.output_tokens, n.cached_input_tokens, n.cache_write_tokens, n.latency_ms, n.status, n.error_code,
           n.cost_usd, n.unpriced, n.price_effective_from, n.credits, n.prompt_sha256, pg_catalog.length(n.prompt),
           n.response_sha256,
           pg_catalog.length(n.response), case when s.store_full_text then n.prompt end,
           case when s.store_full_text then n.response end, coalesce(n.metadata, '{}'), l.id, n.entry_id, p_now
      from answered n
      left join tollgate.usage_settings s on s.id
      left join tollgate.credit_ledger l
        on l.account_id = n.account_id and l.reason = 'consume' and l.idempotency_key = n.request_id
  ), keyed as (
    insert into tollgate.idempotency_keys (account_id, scope, key, request_hash, response, created_at)
    select n.account_id, 'usage', n.request_id, n.hash, n.answer, p_now from answered n
  )
  select pg_catalog.array_agg(r.answer order by r.ord) into v_results
    from (select p.ord,
                 case p.kind
                   when 'new' then a.answer
                   when 'replay' then p.stored || '{"replayed": true}'
                   -- The answer of the key's first event, which is new.
                   when 'repeat' then pg_catalog.first_value(a.answer) over (partition by p.account_id, p.request_id
                                                                             order by p.ord) || '{"replayed": true}'
                 end as answer
            from unnest(v_plan) p
            left join answered a on a.ord = p.ord) r;

  -- The per-event path, in the batch's order: one call each, in its own subtransaction, so an event that fails
  -- answers its own error and rolls back alone.
  for v_ord in select p.ord from unnest(v_plan) p where p.kind = 'single' order by 1 loop
    begin
      select * into v_event from tollgate._usage_event(p_events -> v_ord);
      select tollgate._log_ai_usage(m.account_id, v_event.request_id, v_event.model, v_event.input_tokens,
                                    v_event.output_tokens, v_event.provider, v_event.feature,
                                    v_event.cached_input_tokens, v_event.latency_ms, v_event.status,
                                    v_event.error_code, v_event.charge_credits, v_event.prompt, v_event.response,
                                    tollgate._valid_metadata(v_event.metadata), p_now, m.user_id,
                                    v_event.cache_write_tokens, v_event.hold_id)
        into v_answer
        from tollgate._acting_member(v_event.account_id, v_event.user_id) m;
    exception when others then
      get stacked diagnostics v_state = returned_sqlstate, v_message = message_text, v_detail = pg_exception_detail;
      -- Business errors and refused values answer the event; anything else (a deadlock, a cancel) fails the batch.
      if pg_catalog.left(v_state, 2) not in ('TG', '22', '54') then
        raise;
      end if;
      v_answer := pg_catalog.jsonb_build_object('error', pg_catalog.jsonb_build_object(
        'sqlstate', v_state, 'message', v_message, 'detail', nullif(v_detail, '')));
    end;
    v_results[v_ord + 1] := v_answer;
  end loop;
  return pg_catalog.to_jsonb(v_results);
end
$$;
comment on function tollgate._log_ai_usage_batch(jsonb, timestamptz) is
  'Tollgate: the meter for a batch of up to 1000 events at a given time (pgTAP pins it): each recorded as if sent '
  'alone to _log_ai_usage (idempotent by its own request_id, all or nothing per event), answering a JSON array of '
  'the answers in order, an event that fails answering {"error": {sqlstate, message, detail}}. Set-based: planned '
  'in one query, every account locked at once in id order (two batches never deadlock), counters summed per '
  'account and feature, rows and replay records inserted at once, the charges booked at once by _debit_batch in '
  'the batch''s order. '
  'Events that settle a hold (hold_id), are invalid, name an account or member the caller may not act for, or '
  'conflict with an earlier use of their request_id (and every event sharing their key) take the per-event path '
  'after the others: one _log_ai_usage each, in its own subtransaction.';
revoke execute on function tollgate._log_ai_usage_batch(jsonb, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate.log_ai_usage_batch(p_events jsonb) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- Who acts is resolved per event (tollgate._acting_member, in _plan_usage_events and on the per-event path); a
  -- request with neither a user nor the service role is refused before anything is read.
  if auth.role() is distinct from 'service_role' and auth.uid() is null then
    raise exception 'Not authenticated: no user in the request' using errcode = 'TG401';
  end if;
  return tollgate._log_ai_usage_batch(p_events, now());
end
$$;
comment on function tollgate.log_ai_usage_batch(jsonb) is
  'Tollgate: the meter for up to 1000 calls at once (log-ai-usage with "events"): each event is a body of '
  'log-ai-usage (request_id, model, tokens, ..., account_id, user_id), acting as log_ai_usage would for it. '
  'Returns the answers in order: each as log_ai_usage returns it, or {"error": {sqlstate, message, detail}}.';
revoke execute on function tollgate.log_ai_usage_batch(jsonb) from public, anon, authenticated, service_role;
grant execute on function tollgate.log_ai_usage_batch(jsonb) to authenticated, service_role;

create or replace function tollgate.get_usage_breakdown(
  p_from timestamptz, p_to timestamptz, p_user_id uuid default null, p_account_id uuid default null
)
returns table (day date, feature text, model text, calls bigint, errors bigint, input_tokens bigint,
               output_tokens bigint, cached_input_tokens bigint, cache_write_tokens bigint, cost_usd numeric,
               credits bigint)
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
           sum(u.cached_input_tokens)::bigint, sum(u.cache_write_tokens)::bigint, sum(u.cost_usd),
           sum(u.credits_charged)::bigint
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
