-- Runs tollgate.release_expired_holds every minute with pg_cron, where pg_cron is available (it is on Supabase;
-- enable it under Database > Extensions if this migration only printed a notice), so an expired hold's credits come
-- back without waiting for the account's next call. Scheduling by name replaces the job of the same name, so this
-- file re-runs cleanly. Without pg_cron, holds still expire on the account's next consume or usage call; run
-- `select tollgate.release_expired_holds()` from any scheduler to release them sooner.
-- pg_cron goes into pg_catalog, as Supabase enables it, so nothing of it lands in public.
do $$
begin
  if not exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_cron') then
    raise notice 'pg_cron is not available: release_expired_holds is not scheduled; holds expire on the next call';
    return;
  end if;
  begin
    create extension if not exists pg_cron with schema pg_catalog;
  exception when others then
    raise notice 'pg_cron could not be enabled (%): release_expired_holds is not scheduled', sqlerrm;
    return;
  end;
  perform cron.schedule('tollgate-release-expired-holds', '* * * * *', 'select tollgate.release_expired_holds()');
end
$$;
