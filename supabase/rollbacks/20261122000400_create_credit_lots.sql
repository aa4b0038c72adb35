-- Rollback of 20261122000400_create_credit_lots.sql: the table, then its enum type.

drop table if exists public.credit_lots;
drop type if exists public.credit_source;
