-- Plans and their request limits are data, not CHECK constraints: every app names its tiers differently.

create table if not exists public.plans (
  id text primary key check (id ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  name text not null,
  monthly_credits bigint not null default 0 check (monthly_credits >= 0),
  stripe_price_ids text[] not null default '{}',
  features jsonb not null default '{}'::jsonb,
  is_default boolean not null default false,
  sort_order integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.plans is 'Tollgate: plan catalogue. monthly_credits is granted at the start of every credit period.';

-- Exactly one plan can be the default (the plan of new accounts and of canceled subscriptions).
create unique index if not exists plans_one_default_idx on public.plans (is_default) where is_default;

do $$ begin
  create type public.quota_period as enum ('day', 'month');
exception when duplicate_object then null;
end $$;

create table if not exists public.plan_limits (
  plan_id text not null references public.plans (id) on delete cascade on update cascade,
  feature text not null check (length(feature) between 1 and 64),
  period public.quota_period not null,
  request_limit bigint not null check (request_limit >= 0),
  primary key (plan_id, feature, period)
);
comment on table public.plan_limits is
  'Tollgate: request limits per plan, feature and period (day = UTC day, month = credit period). Absent = unlimited.';

alter table public.plans enable row level security;
alter table public.plan_limits enable row level security;

-- A public catalogue: anyone may read it; operators edit it with the service role or in the SQL editor.
revoke all on table public.plans, public.plan_limits from anon, authenticated, service_role;
grant select on table public.plans, public.plan_limits to anon, authenticated;
grant select, insert, update, delete on table public.plans, public.plan_limits to service_role;

drop policy if exists plans_public_read on public.plans;
create policy plans_public_read on public.plans for select to anon, authenticated using (true);
drop policy if exists plan_limits_public_read on public.plan_limits;
create policy plan_limits_public_read on public.plan_limits for select to anon, authenticated using (true);
