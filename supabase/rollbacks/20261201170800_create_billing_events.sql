-- Rollback of 20261201170800_create_billing_events.sql: the functions, then the table's entry in publication
-- supabase_realtime (the publication itself is the platform's and stays), then the tables.

drop function if exists tollgate.record_billing_event_deliveries(jsonb, timestamptz);
drop function if exists tollgate.claim_billing_events(integer, integer, timestamptz);
drop function if exists tollgate.record_consume_refusal(text, integer, uuid, uuid);
drop function if exists tollgate._record_consume_refusal(uuid, uuid, text, bigint, timestamptz);
drop function if exists tollgate._emit_balance_events(uuid, bigint, bigint, bigint, text, timestamptz);
drop function if exists tollgate._emit_event(uuid, text, jsonb, text, timestamptz);
do $$
begin
  if exists (select 1 from pg_catalog.pg_publication_tables
              where pubname = 'supabase_realtime' and schemaname = 'tollgate' and tablename = 'billing_events') then
    alter publication supabase_realtime drop table tollgate.billing_events;
  end if;
end
$$;
drop table if exists tollgate.billing_event_deliveries;
drop table if exists tollgate.billing_events;
