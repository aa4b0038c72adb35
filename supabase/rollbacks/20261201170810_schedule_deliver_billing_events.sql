-- Unschedules the billing events' delivery. pg_cron and pg_net stay: other jobs may use them.
-- Nested ifs: PL/pgSQL plans the inner query only when cron.job exists (pg_cron lives in one database only).
do $$
begin
  if pg_catalog.to_regclass('cron.job') is not null then
    if exists (select 1 from cron.job where jobname = 'tollgate-deliver-billing-events') then
      perform cron.unschedule('tollgate-deliver-billing-events');
    end if;
  end if;
end
$$;
