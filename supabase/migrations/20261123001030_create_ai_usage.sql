-- One row per AI call, partitioned by month (range on created_at) so old months can be detached and archived. A
-- DEFAULT partition catches any row whose month has no partition yet, so an insert never fails; the maintenance
-- function creates the next months ahead and moves stray rows out of the default.

create table if not exists public.ai_usage (
  id uuid not null default gen_random_uuid(),
  user_id uuid not null references public.accounts (user_id) on delete cascade,
  request_id text not null check (length(request_id) between 1 and 255),
  model text not null check (length(model) between 1 and 128),
  provider text,
  feature text not null,
  input_tokens bigint not null check (input_tokens >= 0),
  output_tokens bigint not null check (output_tokens >= 0),
  cached_input_tokens bigint not null default 0 check (cached_input_tokens >= 0),
  latency_ms integer check (latency_ms >= 0),
  status text not null check (status in ('success', 'error')),
  error_code text,
  -- Priced when written from the model_prices row in force then (price_effective_from); later prices never change it.
  cost_usd numeric(20, 10) not null,
  unpriced boolean not null,
  price_effective_from timestamptz,
  credits_charged bigint not null default 0 check (credits_charged >= 0),
  prompt_sha256 text,
  prompt_length integer,
  response_sha256 text,
  response_length integer,
  -- Full text only while usage_settings.store_full_text is on.
  prompt text,
  response text,
  metadata jsonb not null default '{}'::jsonb,
  -- The consume-credit ledger entry that used the same key (idempotency_key = request_id), if any.
  consume_entry_id uuid,
  -- The ledger entry of this call's post-paid charge, if any.
  charge_entry_id uuid,
  created_at timestamptz not null default now(),
  primary key (id, created_at)
) partition by range (created_at);
comment on table public.ai_usage is
  'Tollgate: one row per AI call, partitioned by month; cost frozen at write time. Users read their own rows.';

-- Covers the foreign key, the owner's RLS reads and the breakdown by time range.
create index if not exists ai_usage_user_created_idx on public.ai_usage (user_id, created_at);

alter table public.ai_usage enable row level security;
revoke all on table public.ai_usage from anon, authenticated, service_role;
grant select on table public.ai_usage to authenticated, service_role;

drop policy if exists ai_usage_select_own on public.ai_usage;
create policy ai_usage_select_own on public.ai_usage for select to authenticated
  using (user_id = (select auth.uid()));

-- Partitions are tables in public, and Supabase's default privileges grant every new table there to anon and
-- authenticated. Users read through the parent (whose policy applies); the partitions themselves are locked.
create or replace function public._secure_ai_usage_partition(p_table regclass) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  execute format('alter table %s enable row level security', p_table);
  execute format('revoke all on table %s from anon, authenticated, service_role', p_table);
  execute format('grant select on table %s to service_role', p_table);
  execute format('comment on table %s is %L', p_table,
                 'Tollgate: service-only. Partition of public.ai_usage; users read it through the parent''s policy.');
end
$$;
revoke execute on function public._secure_ai_usage_partition(regclass) from public, anon, authenticated, service_role;

create table if not exists public.ai_usage_default partition of public.ai_usage default;
select public._secure_ai_usage_partition('public.ai_usage_default');

-- Creates the monthly partitions from p_now's month to p_months_ahead months later, and one for every month that
-- has rows in the DEFAULT partition, moving those rows into it. Each partition is built beside the table and then
-- attached, so concurrent inserts into other months are not blocked. Re-runnable; concurrent runs serialize.
create or replace function public.maintain_ai_usage_partitions(
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
      select distinct pg_catalog.date_trunc('month', d.created_at, 'UTC') as m from public.ai_usage_default d
      union
      select (pg_catalog.date_trunc('month', p_now, 'UTC') at time zone 'UTC' + pg_catalog.make_interval(months => n))
             at time zone 'UTC'
        from pg_catalog.generate_series(0, p_months_ahead) n
    ) months
    order by m
  loop
    v_name := 'ai_usage_' || pg_catalog.to_char(v_month at time zone 'UTC', 'YYYY_MM');
    continue when pg_catalog.to_regclass('public.' || v_name) is not null;
    v_end := ((v_month at time zone 'UTC') + interval '1 month') at time zone 'UTC';
    execute format('create table public.%I (like public.ai_usage including defaults including constraints)', v_name);
    perform public._secure_ai_usage_partition(('public.' || pg_catalog.quote_ident(v_name))::regclass);
    execute format('with moved as (delete from public.ai_usage_default where created_at >= $1 and created_at < $2 '
                   'returning *) insert into public.%I select * from moved', v_name)
      using v_month, v_end;
    get diagnostics v_moved = row_count;
    execute format('alter table public.ai_usage attach partition public.%I for values from (%L) to (%L)',
                   v_name, v_month, v_end);
    partitions_created := partitions_created + 1;
    rows_moved := rows_moved + v_moved;
  end loop;
end
$$;
revoke execute on function public.maintain_ai_usage_partitions(integer, timestamptz)
  from public, anon, authenticated, service_role;
grant execute on function public.maintain_ai_usage_partitions(integer, timestamptz) to service_role;

-- This month and the next three exist from the start.
select * from public.maintain_ai_usage_partitions();
