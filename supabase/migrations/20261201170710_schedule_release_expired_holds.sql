-- Runs tollgate.release_expired_holds every minute with pg_cron, where pg_cron is available (it is on Supabase;
-- enable it under Database > Extensions if this migration only printed a notice), so an expired hold's credits come
-- back without waiting for the account's next call. Re-runs cleanly. Without pg_cron, holds still expire at the
-- account's next consume or usage call; run `select tollgate.release_expired_holds()` from any scheduler to release
-- them sooner.
select tollgate._schedule('tollgate-release-expired-holds', '* * * * *', 'select tollgate.release_expired_holds()');
