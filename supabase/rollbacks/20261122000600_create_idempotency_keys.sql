-- Rollback of 20261122000600_create_idempotency_keys.sql.

drop table if exists public.idempotency_keys;
