-- Rollback of 20261122002000_create_stripe_tables.sql, in reverse order.
drop table if exists public.stripe_payment_failures;
drop table if exists public.stripe_payments;
drop table if exists public.stripe_events;
drop table if exists public.stripe_subscriptions;
drop table if exists public.stripe_customers;
