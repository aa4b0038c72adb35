-- Usage per window: a new window simply starts a new row, so nothing ever needs zeroing.

create table if not exists public.usage_counters (
  user_id uuid not null references public.accounts (user_id) on delete cascade,
  feature text not null,
  period public.quota_period not null,
  window_start timestamptz not null,
  window_end timestamptz not null,
  requests bigint not null default 0,
  input_tokens bigint not null default 0,
  output_tokens bigint not null default 0,
  cached_input_tokens bigint not null default 0,
  cost_usd numeric(20, 10) not null default 0,
  updated_at timestamptz not null default now(),
  primary key (user_id, feature, period, window_start)
);
comment on table public.usage_counters is
  'Tollgate: requests and tokens per user, feature and window (day = UTC day, month = credit period).';

alter table public.usage_counters enable row level security;
revoke all on table public.usage_counters from anon, authenticated, service_role;
grant select on table public.usage_counters to authenticated, service_role;

drop policy if exists usage_counters_select_own on public.usage_counters;
create policy usage_counters_select_own on public.usage_counters for select to authenticated
  using (user_id = (select auth.uid()));
