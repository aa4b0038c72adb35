-- Rollback of 20261122000700_create_usage_counters.sql (its policy and grants go with the table).

drop table if exists public.usage_counters;
