-- Plan switches start credit periods on the subscription's billing anchor, so the mirror keeps that anchor.
alter table public.stripe_subscriptions add column if not exists billing_cycle_anchor timestamptz;
comment on column public.stripe_subscriptions.billing_cycle_anchor is
  'Tollgate: the anchor monthly credit periods count from while this subscription sets the plan.';
