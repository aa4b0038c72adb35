-- Rollback of 20261201100600_create_stripe.sql, in reverse order: the event handling, the mappers, then the
-- mirror tables (with their indexes and policies).

drop function if exists tollgate.handle_stripe_event(jsonb);
drop function if exists tollgate._handle_stripe_event(jsonb, timestamptz);
drop function if exists tollgate._record_stripe_outcome(text, jsonb, timestamptz);
drop function if exists tollgate._apply_stripe_event(jsonb, timestamptz);
drop function if exists tollgate._apply_stripe_refund(jsonb, timestamptz);
drop function if exists tollgate._apply_stripe_invoice(jsonb, timestamptz);
drop function if exists tollgate._apply_stripe_subscription(jsonb, timestamptz);
drop function if exists tollgate._apply_stripe_checkout(jsonb, timestamptz);
drop function if exists tollgate._stripe_outcome(text, text);
drop function if exists tollgate._link_stripe_customer(text, uuid, timestamptz);
drop function if exists tollgate._switch_account_plan(uuid, text, timestamptz, text, timestamptz);
drop function if exists tollgate._stripe_metadata_count(jsonb, text, bigint);
drop function if exists tollgate._stripe_invoice_subscription(jsonb);
drop function if exists tollgate._stripe_invoice_payment_intent(jsonb);
drop function if exists tollgate._stripe_subscription_fields(jsonb);
drop function if exists tollgate._stripe_time(jsonb);
drop function if exists tollgate._stripe_id(jsonb);
drop table if exists tollgate.stripe_payment_failures;
drop table if exists tollgate.stripe_payments;
drop table if exists tollgate.stripe_events;
drop table if exists tollgate.stripe_subscriptions;
drop table if exists tollgate.stripe_customers;
