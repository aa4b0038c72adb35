-- Unschedules the every-minute hold sweeper. The pg_cron extension stays: other jobs may use it.
-- Nested ifs: PL/pgSQL plans the inner query only when cron.job exists (pg_cron lives in one database only).
do $$
begin
  if pg_catalog.to_regclass('cron.job') is not null then
    if exists (select 1 from cron.job where jobname = 'tollgate-release-expired-holds') then
      perform cron.unschedule('tollgate-release-expired-holds');
    end if;
  end if;
end
$$;
