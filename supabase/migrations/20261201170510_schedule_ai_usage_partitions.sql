-- Creates the ai_usage partitions of the coming months every day at 03:17 UTC with pg_cron, where pg_cron is
-- available (enable it under Database > Extensions if this migration only printed a notice). Inserts never fail
-- without it (the DEFAULT partition takes the rows), but then run `select tollgate.maintain_ai_usage_partitions()`
-- monthly by other means so rows land in their month. Scheduling by name replaces the job, so this re-runs cleanly.
-- pg_cron goes into pg_catalog, as Supabase enables it, so nothing of it lands in public.
do $$
begin
  if not exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_cron') then
    raise notice 'pg_cron is not available: maintain_ai_usage_partitions is not scheduled; run it monthly by other means';
    return;
  end if;
  begin
    create extension if not exists pg_cron with schema pg_catalog;
  exception when others then
    raise notice 'pg_cron could not be enabled (%): maintain_ai_usage_partitions is not scheduled', sqlerrm;
    return;
  end;
  perform cron.schedule('tollgate-ai-usage-partitions', '17 3 * * *',
                        'select tollgate.maintain_ai_usage_partitions()');
end
$$;
