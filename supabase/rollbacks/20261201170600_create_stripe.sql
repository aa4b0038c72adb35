-- Rollback of 20261201170600_create_stripe.sql, in reverse order: the functions, then the mirror tables (with
-- their indexes and policies).

drop function if exists tollgate.handle_stripe_event(jsonb, boolean, jsonb);
drop function if exists tollgate._handle_stripe_event(jsonb, boolean, jsonb, timestamptz);
drop function if exists tollgate._apply_waiting_stripe_events(text[], jsonb, timestamptz);
drop function if exists tollgate._record_stripe_outcome(text, jsonb, timestamptz);
drop function if exists tollgate._apply_stripe_event(jsonb, jsonb, timestamptz);
drop function if exists tollgate._apply_stripe_invoice(jsonb, timestamptz);
drop function if exists tollgate._apply_stripe_subscription(jsonb, jsonb, timestamptz);
drop function if exists tollgate._mirror_stripe_subscription(uuid, text, jsonb, timestamptz, text, boolean, text,
                                                        timestamptz);
drop function if exists tollgate._stripe_current_subscription(jsonb, text);
drop function if exists tollgate._stripe_subscription_unchanged(jsonb, tollgate.stripe_subscriptions);
drop function if exists tollgate._stripe_clock_skew();
drop function if exists tollgate._apply_stripe_checkout(jsonb, timestamptz);
drop function if exists tollgate._link_stripe_customer(text, uuid, timestamptz);
drop function if exists tollgate._lock_stripe_keys(text[]);
drop function if exists tollgate._stripe_event_keys(jsonb);
drop function if exists tollgate._stripe_wait_for_payment(text, text, text);
drop function if exists tollgate._stripe_outcome(text, text, text);
drop function if exists tollgate._apply_stripe_dispute(jsonb, timestamptz);
drop function if exists tollgate._apply_stripe_refund(jsonb, timestamptz);
drop function if exists tollgate._stripe_payment_of(text, text);
drop function if exists tollgate._settle_stripe_payment(text, text, text, jsonb, timestamptz);
drop function if exists tollgate._sync_account_plan(uuid, timestamptz);
drop function if exists tollgate._set_account_plan(uuid, text, timestamptz, bigint, timestamptz);
drop function if exists tollgate._stripe_metadata_count(jsonb, text, bigint);
drop function if exists tollgate._stripe_invoice_subscription(jsonb);
drop function if exists tollgate._stripe_invoice_payment_intent(jsonb);
drop function if exists tollgate._stripe_subscription_fields(jsonb);
drop function if exists tollgate._stripe_time(jsonb);
drop function if exists tollgate._stripe_id(jsonb);
drop table if exists tollgate.stripe_payment_failures;
drop table if exists tollgate.stripe_disputes;
drop table if exists tollgate.stripe_payments;
drop table if exists tollgate.stripe_events;
drop table if exists tollgate.stripe_subscriptions;
drop table if exists tollgate.stripe_customers;
