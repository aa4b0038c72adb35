-- Rollback of 20261123002200_create_handle_stripe_event.sql, in reverse order.
drop function if exists public.handle_stripe_event(jsonb);
drop function if exists public._handle_stripe_event(jsonb, timestamptz);
drop function if exists public._record_stripe_outcome(text, jsonb, timestamptz);
drop function if exists public._apply_stripe_event(jsonb, timestamptz);
drop function if exists public._apply_stripe_refund(jsonb, timestamptz);
drop function if exists public._apply_stripe_invoice(jsonb, timestamptz);
drop function if exists public._apply_stripe_subscription(jsonb, timestamptz);
drop function if exists public._apply_stripe_checkout(jsonb, timestamptz);
drop function if exists public._stripe_outcome(text, text);
drop function if exists public._link_stripe_customer(text, uuid, timestamptz);
drop function if exists public._switch_account_plan(uuid, text, timestamptz, text, timestamptz);
