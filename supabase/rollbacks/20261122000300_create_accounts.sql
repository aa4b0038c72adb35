-- Rollback of 20261122000300_create_accounts.sql (its indexes and policy go with the table).

drop table if exists public.accounts;
