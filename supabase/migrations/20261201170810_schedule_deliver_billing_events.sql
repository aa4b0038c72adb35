-- Invokes the deliver-billing-events Edge Function every minute with pg_cron through pg_net, as Supabase schedules
-- Edge Functions, where both are available (hosted: enable pg_cron and pg_net under Database > Extensions; without
-- them this file only prints a notice). The job reads the function's address and the service key from Vault
-- (docs/events.md, "The dispatcher"): secrets tollgate_project_url (https://<ref>.supabase.co) and
-- tollgate_service_key (a secret key or the service_role key); missing, each run fails in cron.job_run_details,
-- naming the null url. Re-runs cleanly. The local stack has no pg_net: npm start and npm test call the function on
-- the same schedule with a timer instead.
do $$
begin
  if not exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_net') then
    raise notice 'pg_net is not available: tollgate-deliver-billing-events is not scheduled; call the '
      'deliver-billing-events function every minute by other means';
    return;
  end if;
  begin
    -- pg_net keeps its functions in schema net; registered in extensions, as Supabase enables it.
    create extension if not exists pg_net with schema extensions;
  exception when others then
    raise notice 'pg_net could not be enabled (%): tollgate-deliver-billing-events is not scheduled', sqlerrm;
    return;
  end;
  perform tollgate._schedule('tollgate-deliver-billing-events', '* * * * *', $job$
    select net.http_post(
      url := (select decrypted_secret from vault.decrypted_secrets where name = 'tollgate_project_url')
             || '/functions/v1/deliver-billing-events',
      headers := jsonb_build_object(
        'Content-Type', 'application/json',
        'Authorization', 'Bearer ' || (select decrypted_secret from vault.decrypted_secrets
                                        where name = 'tollgate_service_key')),
      body := '{}'::jsonb,
      timeout_milliseconds := 55000)
  $job$);
end
$$;
