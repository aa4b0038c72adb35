-- Realtime and the dispatcher's schedule: billing_events is in publication supabase_realtime once, however often
-- the migration runs; its rollback removes only that entry (the publication is the platform's); without pg_net
-- (this local stack) the delivery job is not scheduled and the migration still applies.
begin;
select plan(6);

create function pg_temp.published() returns int language sql as $$
  select count(*)::int from pg_publication_tables
   where pubname = 'supabase_realtime' and schemaname = 'tollgate' and tablename = 'billing_events'
$$;
select is(pg_temp.published(), 1, 'billing_events is published for Realtime');
\i supabase/migrations/20261201170800_create_billing_events.sql
select is(pg_temp.published(), 1, 'applying the migration again leaves one entry');
\i supabase/rollbacks/20261201170800_create_billing_events.sql
select is(array[pg_temp.published(), (select count(*)::int from pg_publication where pubname = 'supabase_realtime')],
  array[0, 1], 'the rollback removes the entry and leaves the publication');
\i supabase/migrations/20261201170800_create_billing_events.sql
select is(pg_temp.published(), 1, 'the migration publishes the table again after a rollback');

\i supabase/migrations/20261201170810_schedule_deliver_billing_events.sql
select is_empty($$ select 1 from cron.job where jobname = 'tollgate-deliver-billing-events' $$,
  'without pg_net the delivery job is not scheduled (the local stack calls the function with a timer)');
\i supabase/rollbacks/20261201170810_schedule_deliver_billing_events.sql
select pass('the schedule''s rollback runs when there is no job');

select * from finish();
rollback;
