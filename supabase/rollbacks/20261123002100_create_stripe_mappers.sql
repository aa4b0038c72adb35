-- Rollback of 20261123002100_create_stripe_mappers.sql.
drop function if exists public._stripe_metadata_count(jsonb, text, bigint);
drop function if exists public._stripe_invoice_subscription(jsonb);
drop function if exists public._stripe_invoice_payment_intent(jsonb);
drop function if exists public._stripe_subscription_fields(jsonb);
drop function if exists public._stripe_time(jsonb);
drop function if exists public._stripe_id(jsonb);
