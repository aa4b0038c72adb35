-- Runs the reset every hour at minute 0 with pg_cron, where pg_cron is available (it is on Supabase; enable it
-- under Database > Extensions if this migration only printed a notice): a procedure that commits batch by batch, so
-- no consume waits for the whole reset (the job's command is the CALL alone: pg_cron runs it outside a transaction
-- block only then). Scheduling by name replaces the job of the same name, so this file re-runs cleanly. Without
-- pg_cron, call the reset-monthly-quotas Edge Function (or `call tollgate.reset_monthly_quotas_in_batches()`) from
-- any scheduler instead.
-- pg_cron goes into pg_catalog, as Supabase enables it, so nothing of it lands in public.
do $$
begin
  if not exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_cron') then
    raise notice 'pg_cron is not available: reset_monthly_quotas is not scheduled; run it hourly by other means';
    return;
  end if;
  begin
    create extension if not exists pg_cron with schema pg_catalog;
  exception when others then
    raise notice 'pg_cron could not be enabled (%): reset_monthly_quotas is not scheduled', sqlerrm;
    return;
  end;
  perform cron.schedule('tollgate-reset-monthly-quotas', '0 * * * *',
                        'call tollgate.reset_monthly_quotas_in_batches()');
end
$$;
