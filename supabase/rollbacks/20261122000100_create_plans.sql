-- Rollback of 20261122000100_create_plans.sql: the tables (with their index and policies), then the enum type.

drop table if exists public.plan_limits;
drop table if exists public.plans;
drop type if exists public.quota_period;
