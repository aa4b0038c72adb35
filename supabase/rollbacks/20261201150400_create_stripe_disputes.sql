-- Rollback of 20261201150400_create_stripe_disputes.sql (fails while the ledger holds dispute entries: the
-- ledger is append-only, so those stay and so does the reason).
do $$ begin
  alter table public.credit_ledger drop constraint if exists credit_ledger_reason_check;
  alter table public.credit_ledger add constraint credit_ledger_reason_check
    check (reason in ('consume', 'usage', 'grant', 'expire', 'refund', 'adjustment'));
exception when undefined_table then null;
end $$;
alter table if exists public.stripe_payments drop column if exists taken_from;
alter table if exists public.stripe_payments drop column if exists taken_back;
drop table if exists public.stripe_disputes;
