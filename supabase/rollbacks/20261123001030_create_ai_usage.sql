-- Rollback of 20261123001030_create_ai_usage.sql: dropping the parent drops every attached partition (the monthly
-- ones and the default) with their policies; then the functions.

drop table if exists public.ai_usage;
drop function if exists public.maintain_ai_usage_partitions(integer, timestamptz);
drop function if exists public._secure_ai_usage_partition(regclass);
