-- The append-only ledger: one row per credit movement, numbered per account, never changed or removed.

create table if not exists public.credit_ledger (
  id uuid primary key default gen_random_uuid(),
  -- No foreign key: accounting records outlive a deleted user.
  user_id uuid not null,
  seq bigint not null check (seq > 0),
  delta bigint not null,
  balance_after bigint not null,
  reason text not null check (reason in ('consume', 'usage', 'grant', 'expire', 'refund', 'adjustment')),
  idempotency_key text,
  lot_id uuid,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  unique (user_id, seq)
);
comment on table public.credit_ledger is 'Tollgate: append-only credit ledger; sum(delta) per user = accounts.balance.';

-- A movement happens once per key and reason, whatever the retries.
create unique index if not exists credit_ledger_idempotency_idx
  on public.credit_ledger (user_id, reason, idempotency_key) where idempotency_key is not null;

create or replace function public._refuse_ledger_change() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'credit_ledger is append-only: % is not allowed', tg_op
    using errcode = 'TGLOG', hint = 'Correct a movement with a new adjustment entry.';
end
$$;
revoke execute on function public._refuse_ledger_change() from public, anon, authenticated, service_role;

drop trigger if exists credit_ledger_append_only on public.credit_ledger;
create trigger credit_ledger_append_only before update or delete on public.credit_ledger
  for each row execute function public._refuse_ledger_change();
drop trigger if exists credit_ledger_no_truncate on public.credit_ledger;
create trigger credit_ledger_no_truncate before truncate on public.credit_ledger
  for each statement execute function public._refuse_ledger_change();

alter table public.credit_ledger enable row level security;
revoke all on table public.credit_ledger from anon, authenticated, service_role;
grant select on table public.credit_ledger to authenticated, service_role;

drop policy if exists credit_ledger_select_own on public.credit_ledger;
create policy credit_ledger_select_own on public.credit_ledger for select to authenticated
  using (user_id = (select auth.uid()));
