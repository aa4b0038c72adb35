-- ai_usage partitions: an insert for a month without a partition never fails (DEFAULT partition), the maintenance
-- function creates months ahead and moves stray rows out of the default, every partition is locked like the
-- parent's users expect, the daily pg_cron job, and the rollback leaves no partition behind.
begin;
select plan(22);

insert into auth.users (id, email) values ('77777777-0000-4000-8000-000000000001', 'parts@example.com');

-- The partitions of tollgate.ai_usage with their bounds.
create temp view parts as
  select c.relname::text collate "default" as name, pg_get_expr(c.relpartbound, c.oid) collate "default" as bound, c.oid
    from pg_inherits i join pg_class c on c.oid = i.inhrelid
   where i.inhparent = to_regclass('tollgate.ai_usage');

select is((select bound from parts where name = 'ai_usage_default'), 'DEFAULT', 'a DEFAULT partition exists');
select ok((select count(*) from parts where name = 'ai_usage_' || to_char(now() at time zone 'UTC', 'YYYY_MM')) = 1,
  'the migration created this month''s partition');
select ok((select count(*) from parts where name = 'ai_usage_' ||
  to_char((now() at time zone 'UTC') + interval '3 months', 'YYYY_MM')) = 1,
  'and the next three months''');

-- a month years ahead
select lives_ok($$ select tollgate._log_ai_usage('77777777-0000-4000-8000-000000000001', 'far', 'gpt-4o', 1, 1, null,
  'default', 0, null, 'success', null, false, null, null, null, '2035-06-15 12:00Z') $$,
  'a call dated years ahead of every partition is recorded');
select is((select tableoid::regclass::text from tollgate.ai_usage where request_id = 'far'
            and user_id = '77777777-0000-4000-8000-000000000001'), 'tollgate.ai_usage_default',
  'it waits in the DEFAULT partition');
select results_eq($$ select partitions_created, rows_moved
  from tollgate.maintain_ai_usage_partitions(0, '2035-06-01 00:00Z') $$, $$ values (1, 1::bigint) $$,
  'the maintenance creates that month''s partition and moves the stray row into it');
select is((select tableoid::regclass::text from tollgate.ai_usage where request_id = 'far'
            and user_id = '77777777-0000-4000-8000-000000000001'), 'tollgate.ai_usage_2035_06',
  'the row now lives in its month''s partition');
select is((select bound from parts where name = 'ai_usage_2035_06'),
  'FOR VALUES FROM (''2035-06-01 00:00:00+00'') TO (''2035-07-01 00:00:00+00'')',
  'the partition spans the UTC calendar month');
select is_empty($$ select 1 from tollgate.ai_usage_default where created_at >= '2035-06-01 00:00Z' $$,
  'the DEFAULT partition holds no row of that month any more');
select results_eq($$ select partitions_created, rows_moved
  from tollgate.maintain_ai_usage_partitions(0, '2035-06-01 00:00Z') $$, $$ values (0, 0::bigint) $$,
  'running it again changes nothing');

-- months ahead, from a session outside UTC
set local timezone = 'America/Los_Angeles';
select results_eq($$ select partitions_created from tollgate.maintain_ai_usage_partitions(2, '2040-01-15 12:00Z') $$,
  $$ values (3) $$, 'p_months_ahead = 2 creates the month of p_now and the next two');
reset timezone;
select results_eq($$ select name, bound from parts where name like 'ai_usage_2040%' order by name $$,
  $$ values ('ai_usage_2040_01', 'FOR VALUES FROM (''2040-01-01 00:00:00+00'') TO (''2040-02-01 00:00:00+00'')'),
            ('ai_usage_2040_02', 'FOR VALUES FROM (''2040-02-01 00:00:00+00'') TO (''2040-03-01 00:00:00+00'')'),
            ('ai_usage_2040_03', 'FOR VALUES FROM (''2040-03-01 00:00:00+00'') TO (''2040-04-01 00:00:00+00'')') $$,
  'bounds are UTC month starts even when the function ran in a session outside UTC');
select throws_ok($$ select * from tollgate.maintain_ai_usage_partitions(-1) $$, 'TG400', null,
  'a negative number of months is refused');

-- every partition, also the ones created later by the function, is locked down
select is_empty($$ select name from parts p join pg_class c on c.oid = p.oid where not c.relrowsecurity $$,
  'every partition has row level security on');
select is_empty($$ select name || ' ' || r.role || ' ' || m.priv from parts
   cross join (values ('anon'), ('authenticated')) r(role)
   cross join unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) m(priv)
   where has_table_privilege(r.role, oid, m.priv) $$,
  'anon and authenticated hold no privilege on any partition (Supabase''s default grants are revoked)');
select is_empty($$ select name from parts where coalesce(obj_description(oid, 'pg_class'), '')
   not like 'Tollgate: service-only%' $$, 'every partition is commented Tollgate: service-only');
select is_empty($$ select name from parts where not exists (select 1 from pg_index i
   where i.indrelid = parts.oid and i.indkey[0] = (select attnum from pg_attribute
     where attrelid = parts.oid and attname = 'account_id')) $$,
  'every partition has the account_id index that covers its foreign key');

-- the daily pg_cron job
select results_eq($$ select schedule, command from cron.job where jobname = 'tollgate-ai-usage-partitions' $$,
  $$ values ('17 3 * * *'::text, 'select tollgate.maintain_ai_usage_partitions()'::text) $$,
  'pg_cron runs the maintenance daily at 03:17');
\i supabase/migrations/20261201170510_schedule_ai_usage_partitions.sql
select is((select count(*) from cron.job where jobname = 'tollgate-ai-usage-partitions')::int, 1,
  'applying the schedule migration twice still leaves one job');
\i supabase/rollbacks/20261201170510_schedule_ai_usage_partitions.sql
select is_empty($$ select 1 from cron.job where jobname = 'tollgate-ai-usage-partitions' $$,
  'its rollback unschedules the job');
\i supabase/migrations/20261201170510_schedule_ai_usage_partitions.sql

-- the rollback drops the partitions with the table
\i supabase/rollbacks/20261201170500_create_ai_usage.sql
select is_empty($$ select relname from pg_class where relnamespace = 'tollgate'::regnamespace
   and relname like 'ai\_usage%' $$, 'the ai_usage rollback leaves no partition or index behind');
\i supabase/migrations/20261201170500_create_ai_usage.sql
select ok((select count(*) from parts) >= 5, 'and the migration creates the table and its partitions again');

select * from finish();
rollback;
