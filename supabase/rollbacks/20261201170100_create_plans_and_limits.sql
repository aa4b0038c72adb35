-- Rollback of 20261201170100_create_plans_and_limits.sql: the tables (with their seeded rows, index and policies),
-- then the type.

drop table if exists tollgate.credit_packs;
drop table if exists tollgate.plan_limits;
drop table if exists tollgate.plans;
drop type if exists tollgate.quota_period;
