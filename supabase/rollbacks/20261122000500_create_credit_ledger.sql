-- Rollback of 20261122000500_create_credit_ledger.sql: the table (with its triggers, index and policy), then the
-- trigger function.

drop table if exists public.credit_ledger;
drop function if exists public._refuse_ledger_change();
