-- Disputes (chargebacks) take a payment's credits back like a refund, and a won dispute gives them back, each
-- once: one row per dispute holds the state its events add up to, in whatever order they arrive. A payment
-- remembers how much it has taken back and from where, so giving back returns credits where they came from.

create table if not exists public.stripe_disputes (
  dispute_id text primary key check (dispute_id ~ '^(du|dp)_'),
  payment_id text not null references public.stripe_payments (id) on delete cascade,
  user_id uuid not null references public.accounts (user_id) on delete cascade,
  charge_id text,
  amount bigint not null check (amount >= 0),
  currency text not null,
  status text not null check (status in ('warning_needs_response', 'warning_under_review', 'warning_closed',
    'needs_response', 'under_review', 'won', 'lost', 'prevented')),
  funds_withdrawn boolean not null default false,
  funds_reinstated boolean not null default false,
  last_event_id text not null,
  updated_at timestamptz not null default now()
);
comment on table public.stripe_disputes is
  'Tollgate: disputes of payments; while the funds are withdrawn the credits are taken back. Users read their own.';
create index if not exists stripe_disputes_payment_idx on public.stripe_disputes (payment_id);
create index if not exists stripe_disputes_user_idx on public.stripe_disputes (user_id);

alter table public.stripe_disputes enable row level security;
revoke all on table public.stripe_disputes from anon, authenticated, service_role;
grant select on table public.stripe_disputes to authenticated, service_role;
drop policy if exists stripe_disputes_select_own on public.stripe_disputes;
create policy stripe_disputes_select_own on public.stripe_disputes for select to authenticated
  using (user_id = (select auth.uid()));

alter table public.stripe_payments add column if not exists taken_back bigint not null default 0
  check (taken_back >= 0);
comment on column public.stripe_payments.taken_back is
  'Tollgate: credits refunds and disputes currently take back from this payment''s grant.';
alter table public.stripe_payments add column if not exists taken_from jsonb not null default '{}'::jsonb;
comment on column public.stripe_payments.taken_from is
  'Tollgate: where taken_back came from: lot id -> credits, "overdraft" -> credits spent before; "expired" -> credits '
  'given back after the pack expired (they would have expired).';
update public.stripe_payments set taken_back = refunded_credits where taken_back = 0 and refunded_credits > 0;

-- A dispute's movements are their own ledger reason.
alter table public.credit_ledger drop constraint if exists credit_ledger_reason_check;
alter table public.credit_ledger add constraint credit_ledger_reason_check
  check (reason in ('consume', 'usage', 'grant', 'expire', 'refund', 'dispute', 'adjustment'));
