-- The every-minute pg_cron job that runs tollgate.release_expired_holds; its migration re-runs and its rollback
-- unschedules. The sweeper itself is the service role's only.
begin;
select plan(7);

select results_eq($$ select schedule, command, active from cron.job where jobname = 'tollgate-release-expired-holds' $$,
  $$ values ('* * * * *'::text, 'select tollgate.release_expired_holds()'::text, true) $$,
  'the sweeper runs every minute');
select is((select database::text from cron.job where jobname = 'tollgate-release-expired-holds'),
  current_database()::text, 'the job runs in this database');

\i supabase/migrations/20261201170710_schedule_release_expired_holds.sql
select is((select count(*) from cron.job where jobname = 'tollgate-release-expired-holds')::int, 1,
  'applying the migration twice still leaves one job');

\i supabase/rollbacks/20261201170710_schedule_release_expired_holds.sql
select is_empty($$ select 1 from cron.job where jobname = 'tollgate-release-expired-holds' $$,
  'the rollback unschedules the job');
\i supabase/migrations/20261201170710_schedule_release_expired_holds.sql
select is((select count(*) from cron.job where jobname = 'tollgate-release-expired-holds')::int, 1,
  'the migration schedules the job again after a rollback');

select is((has_function_privilege('anon', 'tollgate.release_expired_holds(timestamptz,integer)', 'execute'),
           has_function_privilege('authenticated', 'tollgate.release_expired_holds(timestamptz,integer)', 'execute'),
           has_function_privilege('service_role', 'tollgate.release_expired_holds(timestamptz,integer)', 'execute')),
  (false, false, true), 'only the service role runs the sweeper');
select throws_ok($$ select tollgate.release_expired_holds(now(), 0) $$, 'TG400', null,
  'a batch of no holds is refused');

select * from finish();
rollback;
