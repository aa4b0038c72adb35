-- The plan catalogue: plans, their request limits and the credit packs are data, not CHECK constraints, because
-- every app names its tiers differently. A public catalogue: anyone reads it; operators edit it with SQL (service
-- role or SQL editor).

create table if not exists tollgate.plans (
  id text primary key check (id ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  name text not null,
  monthly_credits bigint not null default 0 check (monthly_credits >= 0),
  stripe_price_ids text[] not null default '{}',
  features jsonb not null default '{}'::jsonb,
  is_default boolean not null default false,
  sort_order integer not null default 0,
  trial_credits bigint not null default 0 check (trial_credits >= 0),
  trial_days integer not null default 0 check (trial_days between 0 and 730),
  credits_per_seat boolean not null default false,
  low_balance_threshold bigint check (low_balance_threshold >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table tollgate.plans is
  'Tollgate: plan catalogue. monthly_credits is granted at the start of every credit period; exactly one plan is the '
  'default (new accounts, canceled subscriptions).';
comment on column tollgate.plans.monthly_credits is
  'The allowance granted once per credit period (also on yearly prices); it expires with the period.';
comment on column tollgate.plans.trial_credits is
  'Credits a trialing subscription of this plan grants, once per account ever (a trial grants no allowance); they '
  'end with the trial.';
comment on column tollgate.plans.trial_days is
  'Days of free trial a subscription checkout of this plan offers (subscription_data.trial_period_days), only to an '
  'account that never had a trial; 0: none.';
comment on column tollgate.plans.credits_per_seat is
  'On: the allowance is monthly_credits per seat, times the quantity of the subscription that puts an account on '
  'the plan. A quantity change takes effect at the next grant (docs/stripe.md, "Seats").';
comment on column tollgate.plans.low_balance_threshold is
  'Below this available balance an account on the plan is low on credits (a balance.low event), unless the '
  'account sets its own (accounts.low_balance_threshold); null: no threshold.';
comment on column tollgate.plans.stripe_price_ids is
  'Stripe prices that put a subscriber on this plan; with several matches the highest sort_order wins.';

-- Exactly one plan can be the default.
create unique index if not exists plans_one_default_idx on tollgate.plans (is_default) where is_default;

do $$ begin
  create type tollgate.quota_period as enum ('day', 'month');
exception when duplicate_object then null;
end $$;
comment on type tollgate.quota_period is 'Tollgate: a quota window: day = 24 UTC hours from UTC midnight, month = the credit period.';

create table if not exists tollgate.plan_limits (
  plan_id text not null references tollgate.plans (id) on delete cascade on update cascade,
  feature text not null check (length(feature) between 1 and 64),
  period tollgate.quota_period not null,
  request_limit bigint not null check (request_limit >= 0),
  primary key (plan_id, feature, period)
);
comment on table tollgate.plan_limits is
  'Tollgate: request limits per plan, feature and period (day = UTC day, month = credit period). Feature ''*'' '
  'limits every request of the plan, whatever its feature, in one window per period (counted under feature ''*''), '
  'beside the named feature''s own limits. A feature with no row, on a plan with no ''*'' row, is unlimited.';

-- Credit packs are data too: the webhook grants what the catalogue says a pack buys, never a number a client or an
-- app passed through a session's metadata.
create table if not exists tollgate.credit_packs (
  id text primary key check (id ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  name text not null check (length(name) between 1 and 100),
  credits bigint not null check (credits between 1 and 1000000000),
  stripe_price_id text not null unique check (stripe_price_id ~ '^price_'),
  expires_after_days integer check (expires_after_days between 1 and 36500),
  active boolean not null default true,
  sort_order integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table tollgate.credit_packs is
  'Tollgate: credit pack catalogue. A paid one-time checkout of stripe_price_id grants credits (a top-up lot, '
  'expiring expires_after_days after the payment; null: never). Anyone reads the active packs; only active ones '
  'can be bought; a session paid after its pack was deactivated still grants it.';

alter table tollgate.plans enable row level security;
alter table tollgate.plan_limits enable row level security;
alter table tollgate.credit_packs enable row level security;

revoke all on table tollgate.plans, tollgate.plan_limits, tollgate.credit_packs
  from anon, authenticated, service_role;
grant select on table tollgate.plans, tollgate.plan_limits, tollgate.credit_packs to anon, authenticated;
grant select, insert, update, delete on table tollgate.plans, tollgate.plan_limits, tollgate.credit_packs
  to service_role;

drop policy if exists plans_public_read on tollgate.plans;
create policy plans_public_read on tollgate.plans for select to anon, authenticated using (true);
drop policy if exists plan_limits_public_read on tollgate.plan_limits;
create policy plan_limits_public_read on tollgate.plan_limits for select to anon, authenticated using (true);
drop policy if exists credit_packs_public_read on tollgate.credit_packs;
create policy credit_packs_public_read on tollgate.credit_packs for select to anon, authenticated using (active);

-- The tiers a fresh deployment needs (db push never runs seed.sql); on conflict do nothing keeps operators' edits.
insert into tollgate.plans (id, name, monthly_credits, is_default, sort_order) values
  ('free', 'Free', 3, true, 0),
  ('starter', 'Starter', 100, false, 10),
  ('pro', 'Pro', 500, false, 20),
  ('business', 'Business', 2500, false, 30)
on conflict (id) do nothing;

-- Request limits on feature 'default', so an app that never names a feature gets them.
insert into tollgate.plan_limits (plan_id, feature, period, request_limit) values
  ('free', 'default', 'month', 5),
  ('free', 'default', 'day', 2),
  ('starter', 'default', 'month', 50),
  ('starter', 'default', 'day', 10),
  ('pro', 'default', 'month', 200),
  ('pro', 'default', 'day', 50),
  ('business', 'default', 'month', 1000)
on conflict (plan_id, feature, period) do nothing;
