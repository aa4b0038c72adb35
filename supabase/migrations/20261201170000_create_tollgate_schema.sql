-- Tollgate lives in its own schema so it can enter a project that already has its own `plans`, `accounts` or
-- `usage_counters` in public, and leave it again without touching them. Nothing of Tollgate goes into public.
--
-- A new schema has none of Supabase's default grants: every table and function grants exactly what it needs in
-- the file that creates it, and every function first revokes the execute PostgreSQL gives PUBLIC by default.
-- PostgREST serves the schema once it is listed in [api] schemas of config.toml (hosted: Settings > API > Exposed
-- schemas); supabase-js reads it with supabase.schema('tollgate').

create schema if not exists tollgate;
comment on schema tollgate is
  'Tollgate: credits, usage metering, plan quotas and Stripe subscriptions. Written only by its own functions.';

grant usage on schema tollgate to anon, authenticated, service_role;

-- The one place that knows how Tollgate's pg_cron jobs are created and removed; each schedule migration calls it.
create or replace function tollgate._schedule(p_job text, p_schedule text, p_command text) returns boolean
language plpgsql
set search_path = ''
as $$
begin
  if not exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_cron') then
    raise notice 'pg_cron is not available: % is not scheduled; run `%` on the schedule % by other means',
      p_job, p_command, p_schedule;
    return false;
  end if;
  begin
    -- Into pg_catalog, as Supabase enables it, so nothing of pg_cron lands in public.
    create extension if not exists pg_cron with schema pg_catalog;
  exception when others then
    raise notice 'pg_cron could not be enabled (%): % is not scheduled', sqlerrm, p_job;
    return false;
  end;
  -- Scheduling by name replaces the job of that name, so a migration calling this re-runs cleanly.
  perform cron.schedule(p_job, p_schedule, p_command);
  return true;
end
$$;
comment on function tollgate._schedule(text, text, text) is
  'Tollgate: schedules (or reschedules) the pg_cron job p_job where pg_cron is available, enabling the extension '
  'in pg_catalog; elsewhere prints a notice naming what to run by other means. True when scheduled. Used by the '
  'schedule migrations only.';
revoke execute on function tollgate._schedule(text, text, text) from public, anon, authenticated, service_role;

create or replace function tollgate._unschedule(p_job text) returns void
language plpgsql
set search_path = ''
as $$
begin
  -- Nested: PL/pgSQL plans the inner query only when cron.job exists (pg_cron lives in one database only).
  if pg_catalog.to_regclass('cron.job') is not null then
    if exists (select 1 from cron.job where jobname = p_job) then
      perform cron.unschedule(p_job);
    end if;
  end if;
end
$$;
comment on function tollgate._unschedule(text) is
  'Tollgate: removes the pg_cron job p_job if it exists (the extension stays: other jobs may use it). Used by the '
  'schedule rollbacks only.';
revoke execute on function tollgate._unschedule(text) from public, anon, authenticated, service_role;
