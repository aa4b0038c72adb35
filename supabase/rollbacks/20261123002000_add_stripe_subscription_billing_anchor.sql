-- Rollback of 20261123002000_add_stripe_subscription_billing_anchor.sql.
alter table if exists public.stripe_subscriptions drop column if exists billing_cycle_anchor;
