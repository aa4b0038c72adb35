-- Rollback of 20261201150100_add_plans_trial_credits.sql.
alter table if exists public.plans drop column if exists trial_credits;
