-- Rollback of 20261201150700_replace_handle_stripe_event.sql: drops the new webhook functions and restores
-- those 20261123002200 defined.
drop function if exists public.handle_stripe_event(jsonb, boolean, jsonb);
drop function if exists public._handle_stripe_event(jsonb, boolean, jsonb, timestamptz);
drop function if exists public._apply_waiting_stripe_events(text[], jsonb, timestamptz);
drop function if exists public._apply_stripe_event(jsonb, jsonb, timestamptz);
drop function if exists public._apply_stripe_subscription(jsonb, jsonb, timestamptz);
drop function if exists public._stripe_event_keys(jsonb);
drop function if exists public._stripe_wait_for_payment(text, text, text);
drop function if exists public._stripe_outcome(text, text, text);

-- Links a Stripe customer to a user, once; a customer already linked elsewhere, or a user already linked to
-- another customer, is TGS04 (one customer per user: pass `customer` when creating later Checkout Sessions).
create or replace function public._link_stripe_customer(p_customer_id text, p_user_id uuid, p_now timestamptz)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_existing public.stripe_customers;
begin
  insert into public.stripe_customers (customer_id, user_id, created_at)
  values (p_customer_id, p_user_id, p_now)
  on conflict do nothing;
  if found then
    return;
  end if;
  select * into v_existing from public.stripe_customers
   where customer_id = p_customer_id or user_id = p_user_id
   order by (customer_id = p_customer_id) desc
   limit 1;
  if v_existing.customer_id = p_customer_id and v_existing.user_id = p_user_id then
    return;
  end if;
  raise exception 'Cannot link customer % to user %: % is already linked to %', p_customer_id, p_user_id,
    case when v_existing.customer_id = p_customer_id then 'the customer' else 'the user' end,
    case when v_existing.customer_id = p_customer_id then v_existing.user_id::text else v_existing.customer_id end
    using errcode = 'TGS04', detail = jsonb_build_object('customer_id', v_existing.customer_id,
                                                         'user_id', v_existing.user_id)::text;
end
$$;
revoke execute on function public._link_stripe_customer(text, uuid, timestamptz)
  from public, anon, authenticated, service_role;

-- The result of applying an event: its status (processed, ignored, pending, failed) and why.
create or replace function public._stripe_outcome(p_status text, p_reason text default null) returns jsonb
language sql immutable parallel safe
set search_path = ''
as $$ select jsonb_strip_nulls(jsonb_build_object('status', p_status, 'reason', p_reason)) $$;
revoke execute on function public._stripe_outcome(text, text) from public, anon, authenticated, service_role;

-- checkout.session.completed / async_payment_succeeded: links client_reference_id to the customer and, for a
-- paid payment-mode session with metadata.credits, grants a top-up lot once per session and records the payment.
create or replace function public._apply_stripe_checkout(p_event jsonb, p_now timestamptz) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_session jsonb := p_event #> '{data,object}';
  v_session_id text := v_session ->> 'id';
  v_customer text := public._stripe_id(v_session -> 'customer');
  v_reference text := v_session ->> 'client_reference_id';
  v_metadata jsonb := coalesce(v_session -> 'metadata', '{}'::jsonb);
  v_user uuid;
  v_credits bigint;
  v_days bigint;
  v_grant jsonb;
begin
  if v_reference is not null then
    if v_reference !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
       or not exists (select 1 from public.accounts a where a.user_id = v_reference::uuid) then
      raise exception 'Cannot apply checkout %: client_reference_id % is not a Tollgate user', v_session_id,
        v_reference using errcode = 'TGS03';
    end if;
    v_user := v_reference::uuid;
    if v_customer is not null then
      perform public._link_stripe_customer(v_customer, v_user, p_now);
    end if;
  elsif v_customer is not null then
    select c.user_id into v_user from public.stripe_customers c where c.customer_id = v_customer;
    if v_user is null then
      return public._stripe_outcome('pending', format('Customer %s is not linked to a user yet', v_customer));
    end if;
  elsif v_metadata ? 'credits' then
    raise exception 'Cannot apply checkout %: no client_reference_id and no customer name the user to credit',
      v_session_id using errcode = 'TGS03';
  else
    return public._stripe_outcome('ignored', 'No client_reference_id and no customer: nothing to link');
  end if;

  if v_session ->> 'mode' is distinct from 'payment' or not v_metadata ? 'credits' then
    return public._stripe_outcome('processed');
  end if;
  v_credits := public._stripe_metadata_count(v_metadata, 'credits', 1000000000);
  v_days := public._stripe_metadata_count(v_metadata, 'credits_expire_days', 36500);
  if v_session ->> 'payment_status' is distinct from 'paid' then
    return public._stripe_outcome('ignored', format(
      'Payment status is %s: the credits are granted when checkout.session.async_payment_succeeded arrives',
      coalesce(v_session ->> 'payment_status', 'missing')));
  end if;
  v_grant := public._grant_lot(
    v_user, 'top_up', v_credits, p_now + make_interval(days => v_days::int), 50, 'top_up:stripe:' || v_session_id,
    jsonb_build_object('checkout_session_id', v_session_id,
                       'payment_intent_id', public._stripe_id(v_session -> 'payment_intent')),
    p_now);
  insert into public.stripe_payments (id, user_id, kind, amount, currency, lot_id, credits, payment_intent_id,
                                      event_id, created_at)
  values (v_session_id, v_user, 'checkout', coalesce((v_session ->> 'amount_total')::bigint, 0),
          coalesce(v_session ->> 'currency', ''), (v_grant ->> 'lot_id')::uuid, v_credits,
          public._stripe_id(v_session -> 'payment_intent'), p_event ->> 'id', p_now)
  on conflict (id) do nothing;
  return public._stripe_outcome('processed');
end
$$;
revoke execute on function public._apply_stripe_checkout(jsonb, timestamptz)
  from public, anon, authenticated, service_role;

-- customer.subscription.created / updated / deleted: upserts the mirror row unless the event is older than the
-- last one applied (same second: created, then updated, then deleted), or would bring an ended subscription back; then the account follows the user's best live
-- subscription (active, trialing, past_due as grace), or falls back to the default plan.
create or replace function public._apply_stripe_subscription(p_event jsonb, p_now timestamptz) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_object jsonb := p_event #> '{data,object}';
  v_subscription_id text := v_object ->> 'id';
  v_created timestamptz := public._stripe_time(p_event -> 'created');
  v_customer text := public._stripe_id(v_object -> 'customer');
  v_fields record;
  v_user uuid;
  v_existing public.stripe_subscriptions;
  v_plan_id text;
  v_target_plan text;
  v_target_anchor timestamptz;
  v_target_subscription text;
  v_last_type text;
  v_order constant text[] := array['customer.subscription.created', 'customer.subscription.updated',
                                   'customer.subscription.deleted'];
begin
  select c.user_id into v_user from public.stripe_customers c where c.customer_id = v_customer;
  if v_user is null then
    return public._stripe_outcome('pending', format('Customer %s is not linked to a user yet',
                                                    coalesce(v_customer, '(none)')));
  end if;
  select * into v_fields from public._stripe_subscription_fields(v_object);
  if v_subscription_id is null or v_subscription_id !~ '^sub_' or v_fields.status is null
     or v_fields.status not in ('incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'canceled',
                                'unpaid', 'paused') then
    raise exception 'Cannot apply subscription %: status % is not one Tollgate knows', v_subscription_id,
      v_fields.status using errcode = 'TGS05';
  end if;

  select * into v_existing from public.stripe_subscriptions s where s.subscription_id = v_subscription_id for update;
  if found then
    -- Stripe stamps events in whole seconds: within one second, created < updated < deleted.
    select e.type into v_last_type from public.stripe_events e where e.id = v_existing.last_event_id;
    if v_created < v_existing.last_event_created
       or (v_created = v_existing.last_event_created
           and array_position(v_order, p_event ->> 'type') < array_position(v_order, v_last_type)) then
      return public._stripe_outcome('ignored', format('Older than event %s, already applied to subscription %s',
                                                      v_existing.last_event_id, v_subscription_id));
    end if;
    if v_existing.status in ('canceled', 'incomplete_expired')
       and v_fields.status not in ('canceled', 'incomplete_expired') then
      return public._stripe_outcome('ignored', format('Subscription %s has ended (%s): a late %s cannot revive it',
                                                      v_subscription_id, v_existing.status, v_fields.status));
    end if;
  end if;

  select p.id into v_plan_id from public.plans p
   where p.stripe_price_ids && v_fields.price_ids order by p.sort_order desc, p.id limit 1;
  if v_plan_id is null and v_fields.status in ('active', 'trialing', 'past_due') then
    raise exception 'Unknown price %: no plan lists it in plans.stripe_price_ids, so subscription % keeps its plan',
      array_to_string(v_fields.price_ids, ', '), v_subscription_id
      using errcode = 'TGS01', detail = jsonb_build_object('price_ids', v_fields.price_ids)::text;
  end if;

  insert into public.stripe_subscriptions as s (
    subscription_id, user_id, customer_id, status, plan_id, price_id, current_period_start, current_period_end,
    cancel_at_period_end, trial_end, billing_cycle_anchor, last_event_created, last_event_id, updated_at)
  values (v_subscription_id, v_user, v_customer, v_fields.status, v_plan_id, v_fields.price_ids[1],
          v_fields.current_period_start, v_fields.current_period_end, v_fields.cancel_at_period_end,
          v_fields.trial_end, v_fields.billing_cycle_anchor, v_created, p_event ->> 'id', p_now)
  on conflict (subscription_id) do update
    set user_id = excluded.user_id, customer_id = excluded.customer_id, status = excluded.status,
        plan_id = excluded.plan_id, price_id = excluded.price_id,
        current_period_start = excluded.current_period_start, current_period_end = excluded.current_period_end,
        cancel_at_period_end = excluded.cancel_at_period_end, trial_end = excluded.trial_end,
        billing_cycle_anchor = excluded.billing_cycle_anchor, last_event_created = excluded.last_event_created,
        last_event_id = excluded.last_event_id, updated_at = excluded.updated_at;

  select s.plan_id, s.billing_cycle_anchor, s.subscription_id
    into v_target_plan, v_target_anchor, v_target_subscription
    from public.stripe_subscriptions s join public.plans p on p.id = s.plan_id
   where s.user_id = v_user and s.status in ('active', 'trialing', 'past_due')
   order by p.sort_order desc, s.last_event_created desc, s.subscription_id
   limit 1;
  if v_target_plan is null then
    select p.id into v_target_plan from public.plans p where p.is_default;
    v_target_anchor := v_fields.billing_cycle_anchor;
    v_target_subscription := v_subscription_id;
  end if;
  if v_target_plan is not null then
    perform public._switch_account_plan(v_user, v_target_plan, coalesce(v_target_anchor, p_now),
                                        v_target_subscription, p_now);
  end if;
  return public._stripe_outcome('processed');
end
$$;
revoke execute on function public._apply_stripe_subscription(jsonb, timestamptz)
  from public, anon, authenticated, service_role;

-- invoice.paid -> a payment row; invoice.payment_failed -> a failure row per (invoice, attempt). Both once.
create or replace function public._apply_stripe_invoice(p_event jsonb, p_now timestamptz) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_invoice jsonb := p_event #> '{data,object}';
  v_customer text := public._stripe_id(v_invoice -> 'customer');
  v_user uuid;
begin
  select c.user_id into v_user from public.stripe_customers c where c.customer_id = v_customer;
  if v_user is null then
    if v_customer is null then
      return public._stripe_outcome('ignored', 'The invoice has no customer');
    end if;
    return public._stripe_outcome('pending', format('Customer %s is not linked to a user yet', v_customer));
  end if;
  if p_event ->> 'type' = 'invoice.paid' then
    insert into public.stripe_payments (id, user_id, kind, amount, currency, payment_intent_id, event_id, created_at)
    values (v_invoice ->> 'id', v_user, 'invoice', coalesce((v_invoice ->> 'amount_paid')::bigint, 0),
            coalesce(v_invoice ->> 'currency', ''), public._stripe_invoice_payment_intent(v_invoice),
            p_event ->> 'id', p_now)
    on conflict (id) do nothing;
  else
    insert into public.stripe_payment_failures (id, user_id, invoice_id, amount, currency, attempt_count,
                                                next_payment_attempt, event_id, created_at)
    values ((v_invoice ->> 'id') || ':' || coalesce(v_invoice ->> 'attempt_count', '0'), v_user, v_invoice ->> 'id',
            coalesce((v_invoice ->> 'amount_due')::bigint, 0), coalesce(v_invoice ->> 'currency', ''),
            (v_invoice ->> 'attempt_count')::integer, public._stripe_time(v_invoice -> 'next_payment_attempt'),
            p_event ->> 'id', p_now)
    on conflict (id) do nothing;
  end if;
  if not found then
    return public._stripe_outcome('ignored', format('Invoice %s is already recorded', v_invoice ->> 'id'));
  end if;
  return public._stripe_outcome('processed');
end
$$;
revoke execute on function public._apply_stripe_invoice(jsonb, timestamptz)
  from public, anon, authenticated, service_role;

-- Applies one stored event by type. Business errors mark it failed with their message and roll back its
-- effects only (the event itself stays stored); anything unexpected aborts the whole transaction.
create or replace function public._apply_stripe_event(p_event jsonb, p_now timestamptz) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  return case p_event ->> 'type'
    when 'checkout.session.completed' then public._apply_stripe_checkout(p_event, p_now)
    when 'checkout.session.async_payment_succeeded' then public._apply_stripe_checkout(p_event, p_now)
    when 'customer.subscription.created' then public._apply_stripe_subscription(p_event, p_now)
    when 'customer.subscription.updated' then public._apply_stripe_subscription(p_event, p_now)
    when 'customer.subscription.deleted' then public._apply_stripe_subscription(p_event, p_now)
    when 'invoice.paid' then public._apply_stripe_invoice(p_event, p_now)
    when 'invoice.payment_failed' then public._apply_stripe_invoice(p_event, p_now)
    when 'charge.refunded' then public._apply_stripe_refund(p_event, p_now)
    else public._stripe_outcome('ignored', format('Event type %s is not handled', p_event ->> 'type'))
  end;
exception
  when sqlstate 'TGS01' or sqlstate 'TGS03' or sqlstate 'TGS04' or sqlstate 'TGS05' or sqlstate 'TG404' then
    return public._stripe_outcome('failed', sqlerrm);
end
$$;
revoke execute on function public._apply_stripe_event(jsonb, timestamptz)
  from public, anon, authenticated, service_role;

-- Records an applied event's outcome.
create or replace function public._record_stripe_outcome(p_event_id text, p_outcome jsonb, p_now timestamptz)
returns void
language sql
security definer
set search_path = ''
as $$
  update public.stripe_events
     set status = p_outcome ->> 'status', error = p_outcome ->> 'reason',
         processed_at = case when p_outcome ->> 'status' = 'pending' then null else p_now end
   where id = p_event_id
$$;
revoke execute on function public._record_stripe_outcome(text, jsonb, timestamptz)
  from public, anon, authenticated, service_role;

-- The implementation of handle_stripe_event at a given time (pgTAP pins it). One transaction: store once by id
-- (a redelivery of a processed or ignored event only counts the attempt), apply, record the outcome, then apply
-- the customer's pending events oldest first once the customer is linked.
create or replace function public._handle_stripe_event(p_event jsonb, p_now timestamptz) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_id text := p_event ->> 'id';
  v_created timestamptz := public._stripe_time(p_event -> 'created');
  v_customer text;
  v_event public.stripe_events;
  v_outcome jsonb;
  v_pending record;
  v_applied integer := 0;
begin
  if v_id is null or v_id !~ '^evt_' or p_event ->> 'type' is null or v_created is null
     or jsonb_typeof(p_event #> '{data,object}') is distinct from 'object' then
    raise exception 'Invalid Stripe event: id (evt_...), type, created and data.object are required'
      using errcode = 'TGS02';
  end if;
  v_customer := public._stripe_id(p_event #> '{data,object,customer}');
  if v_customer is not null then
    -- Every event of one customer in turn, so a link and the events waiting for it cannot miss each other.
    perform pg_advisory_xact_lock(hashtextextended('tollgate.stripe_customer:' || v_customer, 0));
  end if;

  insert into public.stripe_events (id, type, created, customer_id, payload, received_at)
  values (v_id, p_event ->> 'type', v_created, v_customer, p_event, p_now)
  on conflict (id) do nothing
  returning * into v_event;
  if not found then
    update public.stripe_events e set attempts = e.attempts + 1 where e.id = v_id returning * into v_event;
    if v_event.status in ('processed', 'ignored') then
      return jsonb_build_object('status', 'duplicate', 'event_id', v_id, 'previous_status', v_event.status);
    end if;
  end if;

  -- New, or stored pending or failed before: apply the stored payload.
  v_outcome := public._apply_stripe_event(v_event.payload, p_now);
  perform public._record_stripe_outcome(v_id, v_outcome, p_now);

  if v_customer is not null and exists (select 1 from public.stripe_customers c where c.customer_id = v_customer) then
    for v_pending in
      select e.id, e.payload from public.stripe_events e
       where e.status = 'pending' and e.customer_id = v_customer and e.id <> v_id
       order by e.created, e.id
    loop
      perform public._record_stripe_outcome(v_pending.id, public._apply_stripe_event(v_pending.payload, p_now), p_now);
      v_applied := v_applied + 1;
    end loop;
  end if;
  return v_outcome || jsonb_build_object('event_id', v_id, 'pending_applied', v_applied);
end
$$;
revoke execute on function public._handle_stripe_event(jsonb, timestamptz)
  from public, anon, authenticated, service_role;

-- The webhook's one SQL call: service role only, since it moves money.
create or replace function public.handle_stripe_event(p_event jsonb) returns jsonb
language sql
security definer
set search_path = ''
as $$ select public._handle_stripe_event(p_event, now()) $$;
revoke execute on function public.handle_stripe_event(jsonb) from public, anon, authenticated;
grant execute on function public.handle_stripe_event(jsonb) to service_role;
