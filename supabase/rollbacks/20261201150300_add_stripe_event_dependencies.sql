-- Rollback of 20261201150300_add_stripe_event_dependencies.sql.
alter table if exists public.stripe_subscriptions drop column if exists retrieved_at;
drop index if exists public.stripe_events_waiting_idx;
do $$ begin
  update public.stripe_events set status = 'failed' where status = 'refused';
  alter table public.stripe_events drop constraint if exists stripe_events_status_check;
  alter table public.stripe_events add constraint stripe_events_status_check
    check (status in ('received', 'processed', 'ignored', 'pending', 'failed'));
  create index if not exists stripe_events_pending_idx on public.stripe_events (customer_id, created, id)
    where status = 'pending';
exception when undefined_table then null;
end $$;
alter table if exists public.stripe_events drop column if exists waits_for;
