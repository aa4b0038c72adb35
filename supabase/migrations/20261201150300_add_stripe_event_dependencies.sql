-- A dependent event waits, as pending, for what it depends on by name (customer:<id> for a customer link,
-- payment:<id> for the payment a refund or dispute is about), and is applied when that arrives. Events of the
-- other mode (livemode) are kept, visibly refused, and never applied.
alter table public.stripe_events add column if not exists waits_for text;
comment on column public.stripe_events.waits_for is
  'Tollgate: what a pending event waits for: customer:<cus_...> (its link to a user) or payment:<pi_...> (its payment).';
update public.stripe_events set waits_for = 'customer:' || customer_id
 where status = 'pending' and waits_for is null and customer_id is not null;

alter table public.stripe_events drop constraint if exists stripe_events_status_check;
alter table public.stripe_events add constraint stripe_events_status_check
  check (status in ('received', 'processed', 'ignored', 'pending', 'failed', 'refused'));

drop index if exists public.stripe_events_pending_idx;
create index if not exists stripe_events_waiting_idx on public.stripe_events (waits_for, created, id)
  where status = 'pending';

-- A subscription state retrieved from the Stripe API (to settle a tie) is as of its retrieval, not of an event.
alter table public.stripe_subscriptions add column if not exists retrieved_at timestamptz;
comment on column public.stripe_subscriptions.retrieved_at is
  'Tollgate: when the mirrored state was retrieved from the Stripe API (null: it came from event last_event_id).';
