-- The webhook's SQL, rebuilt so that every set of events ends with the same books in every delivery order:
-- events that depend on one not seen yet wait as pending for it by name and are applied in the same
-- transaction as its arrival; ties between subscription events are settled with the subscription's current
-- state from the Stripe API; several customers per account; trials, livemode, no_payment_required, disputes.
-- Business errors: TGS01 unknown price, TGS02 malformed event, TGS03 no such user, TGS05 malformed field (TGS02 is
-- refused, nothing stored; the others mark the event failed, nothing applied). TGS06 (internal): the current
-- state of a subscription is needed; the webhook retrieves it and calls again.

drop function if exists public.handle_stripe_event(jsonb);
drop function if exists public._handle_stripe_event(jsonb, timestamptz);
drop function if exists public._apply_stripe_event(jsonb, timestamptz);
drop function if exists public._apply_stripe_subscription(jsonb, timestamptz);
drop function if exists public._stripe_outcome(text, text);

-- The result of applying an event: its status (processed, ignored, pending, failed, refused), why, and for a
-- pending event what it waits for.
create or replace function public._stripe_outcome(
  p_status text, p_reason text default null, p_waits_for text default null
) returns jsonb
language sql immutable parallel safe
set search_path = ''
as $$ select jsonb_strip_nulls(jsonb_build_object('status', p_status, 'reason', p_reason, 'waits_for', p_waits_for)) $$;
revoke execute on function public._stripe_outcome(text, text, text) from public, anon, authenticated, service_role;
comment on function public._stripe_outcome(text, text, text) is 'Tollgate: an applied Stripe event''s status and why.';

-- A refund or dispute of a payment not recorded yet waits for it, by payment intent (or charge, on old charges).
create or replace function public._stripe_wait_for_payment(p_what text, p_payment_intent text, p_charge_id text)
returns jsonb
language sql immutable
set search_path = ''
as $$
  select public._stripe_outcome('pending', format('No payment %s recorded yet: the %s waits for it',
                                                  coalesce(p_payment_intent, p_charge_id), p_what),
                                'payment:' || coalesce(p_payment_intent, p_charge_id))
$$;
revoke execute on function public._stripe_wait_for_payment(text, text, text)
  from public, anon, authenticated, service_role;
comment on function public._stripe_wait_for_payment(text, text, text) is
  'Tollgate: the pending outcome of a refund or dispute whose payment is not recorded yet.';

-- What an event is about, by the names pending events wait for: customer:<id> and payment:<payment intent or
-- charge>. An event locks these names, so it and the events waiting for what it brings cannot miss each other.
create or replace function public._stripe_event_keys(p_event jsonb) returns text[]
language sql immutable parallel safe
set search_path = ''
as $$
  select coalesce(array_agg(distinct k order by k), '{}')
    from (select p_event #> '{data,object}' as o) x
   cross join lateral (values
     ('customer:' || public._stripe_id(o -> 'customer')),
     ('payment:' || coalesce(public._stripe_id(o -> 'payment_intent'),
                             case when o ->> 'object' = 'invoice' then public._stripe_invoice_payment_intent(o) end)),
     ('payment:' || case o ->> 'object' when 'charge' then o ->> 'id'
                                        when 'dispute' then public._stripe_id(o -> 'charge') end)) v(k)
   where k is not null
$$;
revoke execute on function public._stripe_event_keys(jsonb) from public, anon, authenticated, service_role;
comment on function public._stripe_event_keys(jsonb) is
  'Tollgate: the customer:/payment: names a Stripe event is about, which pending events wait for.';

-- Links a Stripe customer to a user, once. A user may have several customers; a customer already linked to
-- another user stays theirs (the caller reads the link to report it).
create or replace function public._link_stripe_customer(p_customer_id text, p_user_id uuid, p_now timestamptz)
returns void
language sql
security definer
set search_path = ''
as $$
  insert into public.stripe_customers (customer_id, user_id, created_at)
  values (p_customer_id, p_user_id, p_now)
  on conflict (customer_id) do nothing
$$;
revoke execute on function public._link_stripe_customer(text, uuid, timestamptz)
  from public, anon, authenticated, service_role;
comment on function public._link_stripe_customer(text, uuid, timestamptz) is
  'Tollgate: links a Stripe customer to a user once; a customer linked to another user stays theirs.';

-- checkout.session.completed / async_payment_succeeded: links client_reference_id to the customer and, for a
-- payment-mode session with metadata.credits that is paid (or needed no payment), grants a top-up lot once per
-- session and records the payment. The lot's expiry counts from the event, so it is the same in every order.
-- Without client_reference_id the customer's link names the user; before it exists the event waits for it.
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
  v_owner uuid;
  v_note text;
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
      select c.user_id into v_owner from public.stripe_customers c where c.customer_id = v_customer;
      if v_owner <> v_user then
        v_note := format('Customer %s stays linked to user %s, not %s', v_customer, v_owner, v_user);
      end if;
    end if;
  elsif v_customer is not null then
    select c.user_id into v_user from public.stripe_customers c where c.customer_id = v_customer;
    if v_user is null then
      return public._stripe_outcome('pending', format('Customer %s is not linked to a user yet', v_customer),
                                    'customer:' || v_customer);
    end if;
  elsif v_metadata ? 'credits' then
    raise exception 'Cannot apply checkout %: no client_reference_id and no customer name the user to credit',
      v_session_id using errcode = 'TGS03';
  else
    return public._stripe_outcome('ignored', 'No client_reference_id and no customer: nothing to link');
  end if;

  if v_session ->> 'mode' is distinct from 'payment' or not v_metadata ? 'credits' then
    return public._stripe_outcome('processed', v_note);
  end if;
  v_credits := public._stripe_metadata_count(v_metadata, 'credits', 1000000000);
  v_days := public._stripe_metadata_count(v_metadata, 'credits_expire_days', 36500);
  if coalesce(v_session ->> 'payment_status', '') not in ('paid', 'no_payment_required') then
    return public._stripe_outcome('ignored', format(
      'Payment status is %s: the credits are granted when checkout.session.async_payment_succeeded arrives',
      coalesce(v_session ->> 'payment_status', 'missing')));
  end if;
  v_grant := public._grant_lot(
    v_user, 'top_up', v_credits,
    public._stripe_time(p_event -> 'created') + make_interval(days => v_days::int), 50,
    'top_up:stripe:' || v_session_id,
    jsonb_build_object('checkout_session_id', v_session_id,
                       'payment_intent_id', public._stripe_id(v_session -> 'payment_intent')),
    p_now);
  insert into public.stripe_payments (id, user_id, kind, amount, currency, lot_id, credits, payment_intent_id,
                                      event_id, created_at)
  values (v_session_id, v_user, 'checkout', coalesce((v_session ->> 'amount_total')::bigint, 0),
          coalesce(v_session ->> 'currency', ''), (v_grant ->> 'lot_id')::uuid, v_credits,
          public._stripe_id(v_session -> 'payment_intent'), p_event ->> 'id', p_now)
  on conflict (id) do nothing;
  return public._stripe_outcome('processed', v_note);
end
$$;
revoke execute on function public._apply_stripe_checkout(jsonb, timestamptz)
  from public, anon, authenticated, service_role;
comment on function public._apply_stripe_checkout(jsonb, timestamptz) is
  'Tollgate: checkout.session.completed / async_payment_succeeded -> customer link, and a paid pack''s credits once.';

-- customer.subscription.created / updated / deleted: mirrors the subscription unless the event is older than
-- the state already mirrored, then the account follows its subscriptions (_sync_account_plan). Stripe stamps
-- events in whole seconds: within one second created < updated < deleted, and two updates carrying different
-- states cannot be ordered, so the subscription's current state from the Stripe API (p_current, retrieved by the
-- webhook when this raises TGS06) is applied instead. A state retrieved at time r settles every event created
-- up to a minute around r the same way (clocks differ by less than that). An ended subscription (canceled,
-- incomplete_expired) is never revived by a late event.
create or replace function public._apply_stripe_subscription(p_event jsonb, p_current jsonb, p_now timestamptz)
returns jsonb
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
  v_last_type text;
  v_order constant text[] := array['customer.subscription.created', 'customer.subscription.updated',
                                   'customer.subscription.deleted'];
  v_skew constant interval := interval '1 minute';
  v_tie boolean := false;
begin
  select c.user_id into v_user from public.stripe_customers c where c.customer_id = v_customer;
  if v_user is null then
    return public._stripe_outcome('pending', format('Customer %s is not linked to a user yet',
                                                    coalesce(v_customer, '(none)')),
                                  'customer:' || coalesce(v_customer, '(none)'));
  end if;
  if v_subscription_id is null or v_subscription_id !~ '^sub_' then
    raise exception 'Cannot apply subscription event %: no subscription id', p_event ->> 'id' using errcode = 'TGS05';
  end if;
  select * into v_fields from public._stripe_subscription_fields(v_object);

  select * into v_existing from public.stripe_subscriptions s where s.subscription_id = v_subscription_id for update;
  if found then
    select e.type into v_last_type from public.stripe_events e where e.id = v_existing.last_event_id;
    if v_existing.retrieved_at is not null then
      if v_created < v_existing.retrieved_at - v_skew then
        return public._stripe_outcome('ignored', format('Older than the state of subscription %s retrieved at %s',
                                                        v_subscription_id, v_existing.retrieved_at));
      end if;
      v_tie := v_created <= v_existing.retrieved_at + v_skew;
    elsif v_created < v_existing.last_event_created
          or (v_created = v_existing.last_event_created
              and array_position(v_order, p_event ->> 'type') < array_position(v_order, v_last_type)) then
      return public._stripe_outcome('ignored', format('Older than event %s, already applied to subscription %s',
                                                      v_existing.last_event_id, v_subscription_id));
    elsif v_created = v_existing.last_event_created
          and array_position(v_order, p_event ->> 'type') = array_position(v_order, v_last_type) then
      if (v_fields.status, v_fields.price_ids[1], v_fields.current_period_start, v_fields.current_period_end,
          v_fields.cancel_at_period_end, v_fields.trial_end, v_fields.billing_cycle_anchor)
         is not distinct from
         (v_existing.status, v_existing.price_id, v_existing.current_period_start, v_existing.current_period_end,
          v_existing.cancel_at_period_end, v_existing.trial_end, v_existing.billing_cycle_anchor) then
        return public._stripe_outcome('ignored', format('Same state as event %s of the same second',
                                                        v_existing.last_event_id));
      end if;
      v_tie := true;
    end if;
  end if;
  if v_tie then
    select s into v_object from jsonb_array_elements(coalesce(p_current, '[]'::jsonb)) s
     where s ->> 'id' = v_subscription_id;
    if v_object is null then
      raise exception 'Subscription % needs its current state from the Stripe API', v_subscription_id
        using errcode = 'TGS06', detail = v_subscription_id;
    end if;
    select * into v_fields from public._stripe_subscription_fields(v_object);
  elsif v_existing.status in ('canceled', 'incomplete_expired')
        and v_fields.status not in ('canceled', 'incomplete_expired') then
    return public._stripe_outcome('ignored', format('Subscription %s has ended (%s): a late %s cannot revive it',
                                                    v_subscription_id, v_existing.status, v_fields.status));
  end if;
  if v_fields.status is null or v_fields.status not in ('incomplete', 'incomplete_expired', 'trialing', 'active',
                                                         'past_due', 'canceled', 'unpaid', 'paused') then
    raise exception 'Cannot apply subscription %: status % is not one Tollgate knows', v_subscription_id,
      v_fields.status using errcode = 'TGS05';
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
    cancel_at_period_end, trial_end, billing_cycle_anchor, last_event_created, last_event_id, retrieved_at,
    updated_at)
  values (v_subscription_id, v_user, v_customer, v_fields.status, v_plan_id, v_fields.price_ids[1],
          v_fields.current_period_start, v_fields.current_period_end, v_fields.cancel_at_period_end,
          v_fields.trial_end, v_fields.billing_cycle_anchor, case when v_tie then p_now else v_created end,
          p_event ->> 'id', case when v_tie then p_now end, p_now)
  on conflict (subscription_id) do update
    set user_id = excluded.user_id, customer_id = excluded.customer_id, status = excluded.status,
        plan_id = excluded.plan_id, price_id = excluded.price_id,
        current_period_start = excluded.current_period_start, current_period_end = excluded.current_period_end,
        cancel_at_period_end = excluded.cancel_at_period_end, trial_end = excluded.trial_end,
        billing_cycle_anchor = excluded.billing_cycle_anchor, last_event_created = excluded.last_event_created,
        last_event_id = excluded.last_event_id, retrieved_at = excluded.retrieved_at, updated_at = excluded.updated_at;
  perform public._sync_account_plan(v_user, p_now);
  return public._stripe_outcome('processed', case when v_tie
    then format('Same-second events: applied the state retrieved from the Stripe API at %s', p_now) end);
end
$$;
revoke execute on function public._apply_stripe_subscription(jsonb, jsonb, timestamptz)
  from public, anon, authenticated, service_role;
comment on function public._apply_stripe_subscription(jsonb, jsonb, timestamptz) is
  'Tollgate: customer.subscription.* -> the mirror (ties settled by the API''s current state) and the account''s plan.';

-- invoice.paid -> a payment row; invoice.payment_failed -> a failure row per (invoice, attempt). Both once, and
-- both wait for the customer's link.
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
    return public._stripe_outcome('pending', format('Customer %s is not linked to a user yet', v_customer),
                                  'customer:' || v_customer);
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
comment on function public._apply_stripe_invoice(jsonb, timestamptz) is
  'Tollgate: invoice.paid / payment_failed -> a payment or failure row once; pending before the customer link.';

-- Applies one stored event by type, holding the locks of what it is about. Business errors mark it failed
-- with their message and roll back its effects only (the event itself stays stored); TGS06 and anything
-- unexpected abort the whole call.
create or replace function public._apply_stripe_event(p_event jsonb, p_current jsonb, p_now timestamptz)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform pg_advisory_xact_lock(hashtextextended('tollgate.stripe:' || k, 0))
     from unnest(public._stripe_event_keys(p_event)) k order by k;
  return case
    when p_event ->> 'type' in ('checkout.session.completed', 'checkout.session.async_payment_succeeded')
      then public._apply_stripe_checkout(p_event, p_now)
    when p_event ->> 'type' in ('customer.subscription.created', 'customer.subscription.updated',
                                'customer.subscription.deleted')
      then public._apply_stripe_subscription(p_event, p_current, p_now)
    when p_event ->> 'type' in ('invoice.paid', 'invoice.payment_failed') then public._apply_stripe_invoice(p_event, p_now)
    when p_event ->> 'type' = 'charge.refunded' then public._apply_stripe_refund(p_event, p_now)
    when p_event ->> 'type' in ('charge.dispute.created', 'charge.dispute.funds_withdrawn',
                                'charge.dispute.funds_reinstated', 'charge.dispute.closed')
      then public._apply_stripe_dispute(p_event, p_now)
    else public._stripe_outcome('ignored', format('Event type %s is not handled', p_event ->> 'type'))
  end;
exception
  when sqlstate 'TGS01' or sqlstate 'TGS03' or sqlstate 'TGS05' or sqlstate 'TG404' then
    return public._stripe_outcome('failed', sqlerrm);
end
$$;
revoke execute on function public._apply_stripe_event(jsonb, jsonb, timestamptz)
  from public, anon, authenticated, service_role;
comment on function public._apply_stripe_event(jsonb, jsonb, timestamptz) is
  'Tollgate: applies one Stripe event by type; business errors make it failed, with nothing of it applied.';

-- Records an applied event's outcome.
create or replace function public._record_stripe_outcome(p_event_id text, p_outcome jsonb, p_now timestamptz)
returns void
language sql
security definer
set search_path = ''
as $$
  update public.stripe_events
     set status = p_outcome ->> 'status', error = p_outcome ->> 'reason', waits_for = p_outcome ->> 'waits_for',
         processed_at = case when p_outcome ->> 'status' = 'pending' then null else p_now end
   where id = p_event_id
$$;
revoke execute on function public._record_stripe_outcome(text, jsonb, timestamptz)
  from public, anon, authenticated, service_role;
comment on function public._record_stripe_outcome(text, jsonb, timestamptz) is
  'Tollgate: stores an applied Stripe event''s status, reason and what it waits for.';

-- Applies, oldest first, the pending events waiting for any of p_keys, and then those waiting for what the
-- applied ones bring (a checkout that waited for its customer brings its payment's refunds). Returns how many
-- were applied.
create or replace function public._apply_waiting_stripe_events(p_keys text[], p_current jsonb, p_now timestamptz)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_keys text[] := p_keys;
  v_tried text[] := '{}'::text[];
  v_next record;
  v_outcome jsonb;
  v_applied integer := 0;
begin
  loop
    select e.id, e.payload into v_next from public.stripe_events e
     where e.status = 'pending' and e.waits_for = any(v_keys) and e.id <> all(v_tried)
     order by e.created, e.id
     limit 1;
    exit when not found;
    v_tried := v_tried || v_next.id;
    v_outcome := public._apply_stripe_event(v_next.payload, p_current, p_now);
    perform public._record_stripe_outcome(v_next.id, v_outcome, p_now);
    if v_outcome ->> 'status' <> 'pending' then
      v_applied := v_applied + 1;
      v_keys := v_keys || public._stripe_event_keys(v_next.payload);
    end if;
  end loop;
  return v_applied;
end
$$;
revoke execute on function public._apply_waiting_stripe_events(text[], jsonb, timestamptz)
  from public, anon, authenticated, service_role;
comment on function public._apply_waiting_stripe_events(text[], jsonb, timestamptz) is
  'Tollgate: applies the pending Stripe events waiting for what just arrived, oldest first.';

-- The implementation of handle_stripe_event at a given time (pgTAP pins it). One transaction: store once by id
-- (a redelivery of a processed, ignored or refused event only counts the attempt), refuse an event of the
-- other mode (p_livemode: the configured key's), apply, record the outcome, then apply what waited for it. When a
-- subscription's current state is needed nothing is kept and the answer is {"status": "retrieve",
-- "subscription_id": ...}: the caller retrieves it and calls again with it in p_current.
create or replace function public._handle_stripe_event(
  p_event jsonb, p_livemode boolean, p_current jsonb, p_now timestamptz
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_id text := p_event ->> 'id';
  v_created timestamptz := public._stripe_time(p_event -> 'created');
  v_event public.stripe_events;
  v_outcome jsonb;
  v_applied integer;
  v_subscription text;
begin
  if v_id is null or v_id !~ '^evt_' or p_event ->> 'type' is null or v_created is null
     or jsonb_typeof(p_event -> 'livemode') is distinct from 'boolean'
     or jsonb_typeof(p_event #> '{data,object}') is distinct from 'object' then
    raise exception 'Invalid Stripe event: id (evt_...), type, created, livemode and data.object are required'
      using errcode = 'TGS02';
  end if;
  if p_livemode is null then
    raise exception 'Cannot handle Stripe event %: the deployment''s mode (p_livemode) is required', v_id
      using errcode = 'TGS02';
  end if;
  begin
    insert into public.stripe_events (id, type, created, customer_id, payload, received_at)
    values (v_id, p_event ->> 'type', v_created, public._stripe_id(p_event #> '{data,object,customer}'), p_event, p_now)
    on conflict (id) do nothing
    returning * into v_event;
    if not found then
      update public.stripe_events e set attempts = e.attempts + 1 where e.id = v_id returning * into v_event;
      if v_event.status in ('processed', 'ignored', 'refused') then
        return jsonb_build_object('status', 'duplicate', 'event_id', v_id, 'previous_status', v_event.status);
      end if;
    end if;
    if (v_event.payload ->> 'livemode')::boolean <> p_livemode then
      v_outcome := public._stripe_outcome('refused', format(
        'A %s event on a %s deployment (STRIPE_SECRET_KEY): stored, never applied',
        case when p_livemode then 'test-mode' else 'livemode' end, case when p_livemode then 'live' else 'test-mode' end));
      perform public._record_stripe_outcome(v_id, v_outcome, p_now);
      return v_outcome || jsonb_build_object('event_id', v_id);
    end if;

    -- New, or stored pending or failed before: apply the stored payload.
    v_outcome := public._apply_stripe_event(v_event.payload, p_current, p_now);
    perform public._record_stripe_outcome(v_id, v_outcome, p_now);
    v_applied := case when v_outcome ->> 'status' = 'pending' then 0
                      else public._apply_waiting_stripe_events(public._stripe_event_keys(v_event.payload), p_current,
                                                               p_now) end;
    return v_outcome || jsonb_build_object('event_id', v_id, 'pending_applied', v_applied);
  exception when sqlstate 'TGS06' then
    get stacked diagnostics v_subscription = pg_exception_detail;
    return jsonb_build_object('status', 'retrieve', 'event_id', v_id, 'subscription_id', v_subscription);
  end;
end
$$;
revoke execute on function public._handle_stripe_event(jsonb, boolean, jsonb, timestamptz)
  from public, anon, authenticated, service_role;
comment on function public._handle_stripe_event(jsonb, boolean, jsonb, timestamptz) is
  'Tollgate: handle_stripe_event at a given time (tests pin it).';

-- The webhook's one SQL call: service role only, since it moves money. p_livemode is the mode of the configured
-- STRIPE_SECRET_KEY; p_subscriptions the current states the webhook retrieved after a "retrieve" answer.
create or replace function public.handle_stripe_event(
  p_event jsonb, p_livemode boolean, p_subscriptions jsonb default '[]'::jsonb
) returns jsonb
language sql
security definer
set search_path = ''
as $$ select public._handle_stripe_event(p_event, p_livemode, p_subscriptions, now()) $$;
revoke execute on function public.handle_stripe_event(jsonb, boolean, jsonb) from public, anon, authenticated;
grant execute on function public.handle_stripe_event(jsonb, boolean, jsonb) to service_role;
comment on function public.handle_stripe_event(jsonb, boolean, jsonb) is
  'Tollgate: stores a verified Stripe event once and applies it, in any delivery order. Service role only.';
