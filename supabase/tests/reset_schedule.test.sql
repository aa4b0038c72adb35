-- The hourly pg_cron job that runs the reset in batches; its migration re-runs and its rollback unschedules.
begin;
select plan(8);

select has_extension('pg_cron', 'pg_cron is enabled');
select results_eq($$ select schedule, command, active from cron.job where jobname = 'tollgate-reset-monthly-quotas' $$,
  $$ values ('0 * * * *'::text, 'call tollgate.reset_monthly_quotas_in_batches()'::text, true) $$,
  'the reset runs every hour at minute 0');
select is((select count(*) from cron.job where jobname = 'tollgate-reset-monthly-quotas')::int, 1,
  'the reset is scheduled exactly once');
select is((select database::text from cron.job where jobname = 'tollgate-reset-monthly-quotas'),
  current_database()::text, 'the job runs in this database');

-- Applying the migration again (as psql does) replaces the job instead of adding one.
\i supabase/migrations/20261201170310_schedule_reset_monthly_quotas.sql
select is((select count(*) from cron.job where jobname = 'tollgate-reset-monthly-quotas')::int, 1,
  'applying the migration twice still leaves one job');

\i supabase/rollbacks/20261201170310_schedule_reset_monthly_quotas.sql
select is_empty($$ select 1 from cron.job where jobname = 'tollgate-reset-monthly-quotas' $$,
  'the rollback unschedules the job');
\i supabase/rollbacks/20261201170310_schedule_reset_monthly_quotas.sql
select pass('the rollback re-runs when the job is already gone');

\i supabase/migrations/20261201170310_schedule_reset_monthly_quotas.sql
select results_eq($$ select schedule, command from cron.job where jobname = 'tollgate-reset-monthly-quotas' $$,
  $$ values ('0 * * * *'::text, 'call tollgate.reset_monthly_quotas_in_batches()'::text) $$,
  'the migration schedules the job again after a rollback');

select * from finish();
rollback;
