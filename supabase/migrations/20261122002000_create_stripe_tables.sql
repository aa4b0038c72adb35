-- Stripe mirror tables: written only by handle_stripe_event (service_role); users read their own billing rows.

create table if not exists public.stripe_customers (
  customer_id text primary key check (customer_id ~ '^cus_'),
  user_id uuid not null unique references public.accounts (user_id) on delete cascade,
  created_at timestamptz not null default now()
);
comment on table public.stripe_customers is 'Tollgate: service-only. Stripe customer linked to a user by checkout client_reference_id.';

create table if not exists public.stripe_subscriptions (
  subscription_id text primary key check (subscription_id ~ '^sub_'),
  user_id uuid not null references public.accounts (user_id) on delete cascade,
  customer_id text not null references public.stripe_customers (customer_id) on delete cascade,
  status text not null check (status in ('incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due',
    'canceled', 'unpaid', 'paused')),
  plan_id text references public.plans (id) on update cascade on delete set null,
  price_id text,
  current_period_start timestamptz,
  current_period_end timestamptz,
  cancel_at_period_end boolean not null default false,
  trial_end timestamptz,
  last_event_created timestamptz not null,
  last_event_id text not null,
  updated_at timestamptz not null default now()
);
comment on table public.stripe_subscriptions is 'Tollgate: Stripe subscriptions of users; users read their own.';
create index if not exists stripe_subscriptions_user_idx on public.stripe_subscriptions (user_id);
create index if not exists stripe_subscriptions_customer_idx on public.stripe_subscriptions (customer_id);
create index if not exists stripe_subscriptions_plan_idx on public.stripe_subscriptions (plan_id);

create table if not exists public.stripe_events (
  id text primary key check (id ~ '^evt_'),
  type text not null,
  created timestamptz not null,
  status text not null default 'received' check (status in ('received', 'processed', 'ignored', 'pending', 'failed')),
  customer_id text,
  payload jsonb not null,
  error text,
  attempts integer not null default 1 check (attempts >= 1),
  received_at timestamptz not null default now(),
  processed_at timestamptz
);
comment on table public.stripe_events is 'Tollgate: service-only. Every verified Stripe event, stored once by id.';
create index if not exists stripe_events_pending_idx on public.stripe_events (customer_id, created, id)
  where status = 'pending';

create table if not exists public.stripe_payments (
  id text primary key,
  user_id uuid not null references public.accounts (user_id) on delete cascade,
  kind text not null check (kind in ('invoice', 'checkout')),
  amount bigint not null check (amount >= 0),
  currency text not null,
  lot_id uuid references public.credit_lots (id) on delete set null,
  credits bigint not null default 0 check (credits >= 0),
  payment_intent_id text,
  charge_id text,
  refunded_credits bigint not null default 0 check (refunded_credits >= 0),
  refund_ids text[] not null default '{}',
  event_id text not null,
  created_at timestamptz not null default now()
);
comment on table public.stripe_payments is 'Tollgate: paid invoices and credit-pack checkouts; users read their own.';
create index if not exists stripe_payments_user_idx on public.stripe_payments (user_id);
create index if not exists stripe_payments_lot_idx on public.stripe_payments (lot_id);
create index if not exists stripe_payments_payment_intent_idx on public.stripe_payments (payment_intent_id);
create index if not exists stripe_payments_charge_idx on public.stripe_payments (charge_id);

create table if not exists public.stripe_payment_failures (
  id text primary key,
  user_id uuid not null references public.accounts (user_id) on delete cascade,
  invoice_id text not null,
  amount bigint not null check (amount >= 0),
  currency text not null,
  attempt_count integer,
  next_payment_attempt timestamptz,
  event_id text not null,
  created_at timestamptz not null default now()
);
comment on table public.stripe_payment_failures is 'Tollgate: failed invoice payments; users read their own.';
create index if not exists stripe_payment_failures_user_idx on public.stripe_payment_failures (user_id);

alter table public.stripe_customers enable row level security;
alter table public.stripe_subscriptions enable row level security;
alter table public.stripe_events enable row level security;
alter table public.stripe_payments enable row level security;
alter table public.stripe_payment_failures enable row level security;

revoke all on table public.stripe_customers, public.stripe_subscriptions, public.stripe_events,
  public.stripe_payments, public.stripe_payment_failures from anon, authenticated, service_role;
grant select on table public.stripe_customers, public.stripe_subscriptions, public.stripe_events,
  public.stripe_payments, public.stripe_payment_failures to service_role;
grant select on table public.stripe_subscriptions, public.stripe_payments, public.stripe_payment_failures
  to authenticated;

drop policy if exists stripe_subscriptions_select_own on public.stripe_subscriptions;
create policy stripe_subscriptions_select_own on public.stripe_subscriptions for select to authenticated
  using (user_id = (select auth.uid()));
drop policy if exists stripe_payments_select_own on public.stripe_payments;
create policy stripe_payments_select_own on public.stripe_payments for select to authenticated
  using (user_id = (select auth.uid()));
drop policy if exists stripe_payment_failures_select_own on public.stripe_payment_failures;
create policy stripe_payment_failures_select_own on public.stripe_payment_failures for select to authenticated
  using (user_id = (select auth.uid()));
