-- Unschedules the hourly reset. The pg_cron extension stays: other jobs may use it.
do $$
begin
  if pg_catalog.to_regclass('cron.job') is not null
     and exists (select 1 from cron.job where jobname = 'tollgate-reset-monthly-quotas') then
    perform cron.unschedule('tollgate-reset-monthly-quotas');
  end if;
end
$$;
