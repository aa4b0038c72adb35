-- One billing account per auth user: plan, credit period and the cached balance every consume guards.

create table if not exists public.accounts (
  user_id uuid primary key references auth.users (id) on delete cascade,
  plan_id text not null references public.plans (id) on update cascade,
  -- Credit periods are whole months counted from the anchor (signup, or the subscription's billing anchor).
  period_anchor timestamptz not null,
  period_start timestamptz not null,
  period_end timestamptz not null,
  -- Invariant: balance = sum(credit_lots.remaining) - overdraft = sum(credit_ledger.delta).
  balance bigint not null default 0,
  -- Credits used post-paid beyond the lots; repaid first by the next grant.
  overdraft bigint not null default 0 check (overdraft >= 0),
  -- A lower bound on the earliest expiry among lots with credits left (null: none expire).
  next_expiry_at timestamptz,
  -- When the account next needs settling (period roll or lot expiry); consumes compare it with now().
  settle_at timestamptz generated always as (least(period_end, next_expiry_at)) stored,
  ledger_seq bigint not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (period_start < period_end)
);
comment on table public.accounts is 'Tollgate: one billing account per auth user; written only by Tollgate functions.';

create index if not exists accounts_plan_id_idx on public.accounts (plan_id);
create index if not exists accounts_settle_at_idx on public.accounts (settle_at);

alter table public.accounts enable row level security;
revoke all on table public.accounts from anon, authenticated, service_role;
grant select on table public.accounts to authenticated, service_role;

drop policy if exists accounts_select_own on public.accounts;
create policy accounts_select_own on public.accounts for select to authenticated
  using (user_id = (select auth.uid()));
