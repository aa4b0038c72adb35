-- The Stripe mirror and the webhook's SQL: each verified event is stored once by id and its effects applied in the
-- same transaction, exactly once, whatever the redeliveries, their order or whether the customer is linked yet.
-- Written only by handle_stripe_event (service role); users read their own billing rows.
-- Business errors: TGS01 unknown price, TGS02 malformed event, TGS03 no such user, TGS04 customer link conflict,
-- TGS05 malformed field. TGS02 is refused (nothing stored); the others mark the event failed, nothing applied.

create table if not exists tollgate.stripe_customers (
  customer_id text primary key check (customer_id ~ '^cus_'),
  user_id uuid not null unique references tollgate.accounts (user_id) on delete cascade,
  created_at timestamptz not null default now()
);
comment on table tollgate.stripe_customers is
  'Tollgate: service-only. Stripe customer linked to a user by checkout client_reference_id.';

create table if not exists tollgate.stripe_subscriptions (
  subscription_id text primary key check (subscription_id ~ '^sub_'),
  user_id uuid not null references tollgate.accounts (user_id) on delete cascade,
  customer_id text not null references tollgate.stripe_customers (customer_id) on delete cascade,
  status text not null check (status in ('incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due',
    'canceled', 'unpaid', 'paused')),
  plan_id text references tollgate.plans (id) on update cascade on delete set null,
  price_id text,
  current_period_start timestamptz,
  current_period_end timestamptz,
  cancel_at_period_end boolean not null default false,
  trial_end timestamptz,
  billing_cycle_anchor timestamptz,
  last_event_created timestamptz not null,
  last_event_id text not null,
  updated_at timestamptz not null default now()
);
comment on table tollgate.stripe_subscriptions is 'Tollgate: Stripe subscriptions of users; users read their own.';
comment on column tollgate.stripe_subscriptions.billing_cycle_anchor is
  'The anchor monthly credit periods count from while this subscription sets the plan.';
create index if not exists stripe_subscriptions_user_idx on tollgate.stripe_subscriptions (user_id);
create index if not exists stripe_subscriptions_customer_idx on tollgate.stripe_subscriptions (customer_id);
create index if not exists stripe_subscriptions_plan_idx on tollgate.stripe_subscriptions (plan_id);

create table if not exists tollgate.stripe_events (
  id text primary key check (id ~ '^evt_'),
  type text not null,
  created timestamptz not null,
  status text not null default 'received' check (status in ('received', 'processed', 'ignored', 'pending', 'failed')),
  customer_id text,
  payload jsonb not null,
  error text,
  attempts integer not null default 1 check (attempts >= 1),
  received_at timestamptz not null default now(),
  processed_at timestamptz
);
comment on table tollgate.stripe_events is 'Tollgate: service-only. Every verified Stripe event, stored once by id.';
create index if not exists stripe_events_pending_idx on tollgate.stripe_events (customer_id, created, id)
  where status = 'pending';

create table if not exists tollgate.stripe_payments (
  id text primary key,
  user_id uuid not null references tollgate.accounts (user_id) on delete cascade,
  kind text not null check (kind in ('invoice', 'checkout')),
  amount bigint not null check (amount >= 0),
  currency text not null,
  lot_id uuid references tollgate.credit_lots (id) on delete set null,
  credits bigint not null default 0 check (credits >= 0),
  payment_intent_id text,
  charge_id text,
  refunded_credits bigint not null default 0 check (refunded_credits >= 0),
  refund_ids text[] not null default '{}',
  event_id text not null,
  created_at timestamptz not null default now()
);
comment on table tollgate.stripe_payments is 'Tollgate: paid invoices and credit-pack checkouts; users read their own.';
create index if not exists stripe_payments_user_idx on tollgate.stripe_payments (user_id);
create index if not exists stripe_payments_lot_idx on tollgate.stripe_payments (lot_id);
create index if not exists stripe_payments_payment_intent_idx on tollgate.stripe_payments (payment_intent_id);
create index if not exists stripe_payments_charge_idx on tollgate.stripe_payments (charge_id);

create table if not exists tollgate.stripe_payment_failures (
  id text primary key,
  user_id uuid not null references tollgate.accounts (user_id) on delete cascade,
  invoice_id text not null,
  amount bigint not null check (amount >= 0),
  currency text not null,
  attempt_count integer,
  next_payment_attempt timestamptz,
  event_id text not null,
  created_at timestamptz not null default now()
);
comment on table tollgate.stripe_payment_failures is 'Tollgate: failed invoice payments; users read their own.';
create index if not exists stripe_payment_failures_user_idx on tollgate.stripe_payment_failures (user_id);

alter table tollgate.stripe_customers enable row level security;
alter table tollgate.stripe_subscriptions enable row level security;
alter table tollgate.stripe_events enable row level security;
alter table tollgate.stripe_payments enable row level security;
alter table tollgate.stripe_payment_failures enable row level security;

revoke all on table tollgate.stripe_customers, tollgate.stripe_subscriptions, tollgate.stripe_events,
  tollgate.stripe_payments, tollgate.stripe_payment_failures from anon, authenticated, service_role;
grant select on table tollgate.stripe_customers, tollgate.stripe_subscriptions, tollgate.stripe_events,
  tollgate.stripe_payments, tollgate.stripe_payment_failures to service_role;
grant select on table tollgate.stripe_subscriptions, tollgate.stripe_payments, tollgate.stripe_payment_failures
  to authenticated;

drop policy if exists stripe_subscriptions_select_own on tollgate.stripe_subscriptions;
create policy stripe_subscriptions_select_own on tollgate.stripe_subscriptions for select to authenticated
  using (user_id = (select auth.uid()));
drop policy if exists stripe_payments_select_own on tollgate.stripe_payments;
create policy stripe_payments_select_own on tollgate.stripe_payments for select to authenticated
  using (user_id = (select auth.uid()));
drop policy if exists stripe_payment_failures_select_own on tollgate.stripe_payment_failures;
create policy stripe_payment_failures_select_own on tollgate.stripe_payment_failures for select to authenticated
  using (user_id = (select auth.uid()));

-- Pure mappers from Stripe objects to Tollgate values, in one place, for the API version the pinned SDK uses
-- (2026-10-28.endive: subscription periods on items, invoice -> subscription under parent) and the older shapes.

create or replace function tollgate._stripe_id(p_value jsonb) returns text
language sql immutable parallel safe
set search_path = ''
as $$
  select case jsonb_typeof(p_value) when 'string' then p_value #>> '{}' when 'object' then p_value ->> 'id' end
$$;
comment on function tollgate._stripe_id(jsonb) is
  'Tollgate: A Stripe reference that is either an id or the expanded object, as the id.';
revoke execute on function tollgate._stripe_id(jsonb) from public, anon, authenticated, service_role;

create or replace function tollgate._stripe_time(p_value jsonb) returns timestamptz
language sql immutable parallel safe
set search_path = ''
as $$
  select case when jsonb_typeof(p_value) = 'number' then to_timestamp((p_value #>> '{}')::double precision) end
$$;
comment on function tollgate._stripe_time(jsonb) is
  'Tollgate: A Stripe timestamp (Unix seconds) as timestamptz; anything else is null.';
revoke execute on function tollgate._stripe_time(jsonb) from public, anon, authenticated, service_role;

create or replace function tollgate._stripe_subscription_fields(
  p_subscription jsonb,
  out status text, out price_ids text[], out current_period_start timestamptz, out current_period_end timestamptz,
  out cancel_at_period_end boolean, out trial_end timestamptz, out billing_cycle_anchor timestamptz
)
language sql immutable parallel safe
set search_path = ''
as $$
  select p_subscription ->> 'status',
         coalesce((select array_agg(coalesce(tollgate._stripe_id(i -> 'price'), i #>> '{plan,id}') order by n)
                     from jsonb_array_elements(case jsonb_typeof(p_subscription #> '{items,data}')
                                                 when 'array' then p_subscription #> '{items,data}'
                                                 else '[]'::jsonb end) with ordinality e(i, n)
                    where coalesce(tollgate._stripe_id(i -> 'price'), i #>> '{plan,id}') is not null), '{}'),
         coalesce(tollgate._stripe_time(p_subscription #> '{items,data,0,current_period_start}'),
                  tollgate._stripe_time(p_subscription -> 'current_period_start')),
         coalesce(tollgate._stripe_time(p_subscription #> '{items,data,0,current_period_end}'),
                  tollgate._stripe_time(p_subscription -> 'current_period_end')),
         coalesce(jsonb_typeof(p_subscription -> 'cancel_at_period_end') = 'boolean'
                  and (p_subscription ->> 'cancel_at_period_end')::boolean, false),
         tollgate._stripe_time(p_subscription -> 'trial_end'),
         coalesce(tollgate._stripe_time(p_subscription -> 'billing_cycle_anchor'),
                  tollgate._stripe_time(p_subscription -> 'start_date'),
                  tollgate._stripe_time(p_subscription -> 'created'))
$$;
comment on function tollgate._stripe_subscription_fields(jsonb) is
  'Tollgate: the fields Tollgate mirrors from a Subscription. Periods come from the first item (where recent API '
  'versions put them), else from the subscription (older versions); price_ids lists every item''s price.';
revoke execute on function tollgate._stripe_subscription_fields(jsonb) from public, anon, authenticated, service_role;

create or replace function tollgate._stripe_invoice_payment_intent(p_invoice jsonb) returns text
language sql immutable parallel safe
set search_path = ''
as $$
  select coalesce(tollgate._stripe_id(p_invoice #> '{payments,data,0,payment,payment_intent}'),
                  tollgate._stripe_id(p_invoice -> 'payment_intent'))
$$;
comment on function tollgate._stripe_invoice_payment_intent(jsonb) is
  'Tollgate: the payment intent of an invoice: from its payments (recent API versions) or its own field (older '
  'ones).';
revoke execute on function tollgate._stripe_invoice_payment_intent(jsonb) from public, anon, authenticated, service_role;

create or replace function tollgate._stripe_invoice_subscription(p_invoice jsonb) returns text
language sql immutable parallel safe
set search_path = ''
as $$
  select coalesce(tollgate._stripe_id(p_invoice #> '{parent,subscription_details,subscription}'),
                  tollgate._stripe_id(p_invoice -> 'subscription'))
$$;
comment on function tollgate._stripe_invoice_subscription(jsonb) is
  'Tollgate: the subscription an invoice bills: under parent.subscription_details (recent) or its own field '
  '(older).';
revoke execute on function tollgate._stripe_invoice_subscription(jsonb) from public, anon, authenticated, service_role;

create or replace function tollgate._stripe_metadata_count(p_metadata jsonb, p_key text, p_max bigint) returns bigint
language plpgsql immutable
set search_path = ''
as $$
declare
  v_text text := p_metadata ->> p_key;
begin
  if v_text is null then
    return null;
  end if;
  if v_text !~ '^\s*[0-9]{1,12}\s*$' or trim(v_text)::bigint not between 1 and p_max then
    raise exception 'Invalid metadata.%: expected a whole number from 1 to %, got %', p_key, p_max, v_text
      using errcode = 'TGS05', detail = jsonb_build_object('key', p_key, 'value', v_text)::text;
  end if;
  return trim(v_text)::bigint;
end
$$;
comment on function tollgate._stripe_metadata_count(jsonb, text, bigint) is
  'Tollgate: A positive whole number from Stripe metadata (always strings), or null when absent; TGS05 when '
  'malformed.';
revoke execute on function tollgate._stripe_metadata_count(jsonb, text, bigint)
  from public, anon, authenticated, service_role;

create or replace function tollgate._switch_account_plan(
  p_user_id uuid, p_plan_id text, p_anchor timestamptz, p_subscription_id text, p_now timestamptz
) returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account tollgate.accounts := tollgate._lock_account(p_user_id);
begin
  if v_account.plan_id = p_plan_id then
    return false;
  end if;
  -- The old plan's credits end with it: due now, they expire in the settlement below, like any other due lot.
  update tollgate.credit_lots l set expires_at = p_now
   where l.user_id = p_user_id and l.source = 'plan' and l.remaining > 0 and l.expires_at > p_now;
  update tollgate.accounts a
     set plan_id = p_plan_id, period_anchor = p_anchor, next_expiry_at = p_now, updated_at = p_now
   where a.user_id = p_user_id;
  perform tollgate._settle_accounts(p_now, p_user_id, p_subscription_id);
  return true;
end
$$;
comment on function tollgate._switch_account_plan(uuid, text, timestamptz, text, timestamptz) is
  'Tollgate: switches an account to p_plan_id unless it is on it already: the plan credits left expire, and '
  '_settle_accounts starts the monthly credit period containing p_now counted from p_anchor (annual subscriptions '
  'too) with the new plan''s allowance, granted once per (subscription, plan, period start). Top-ups are untouched. '
  'Returns whether the plan changed.';
revoke execute on function tollgate._switch_account_plan(uuid, text, timestamptz, text, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._link_stripe_customer(p_customer_id text, p_user_id uuid, p_now timestamptz)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_existing tollgate.stripe_customers;
begin
  insert into tollgate.stripe_customers (customer_id, user_id, created_at)
  values (p_customer_id, p_user_id, p_now)
  on conflict do nothing;
  if found then
    return;
  end if;
  select * into v_existing from tollgate.stripe_customers
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
comment on function tollgate._link_stripe_customer(text, uuid, timestamptz) is
  'Tollgate: links a Stripe customer to a user, once; a customer already linked elsewhere, or a user already linked '
  'to another customer, is TGS04 (one customer per user: pass `customer` when creating later Checkout Sessions).';
revoke execute on function tollgate._link_stripe_customer(text, uuid, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._stripe_outcome(p_status text, p_reason text default null) returns jsonb
language sql immutable parallel safe
set search_path = ''
as $$ select jsonb_strip_nulls(jsonb_build_object('status', p_status, 'reason', p_reason)) $$;
comment on function tollgate._stripe_outcome(text, text) is
  'Tollgate: the result of applying an event: its status (processed, ignored, pending, failed) and why.';
revoke execute on function tollgate._stripe_outcome(text, text) from public, anon, authenticated, service_role;

create or replace function tollgate._apply_stripe_checkout(p_event jsonb, p_now timestamptz) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_session jsonb := p_event #> '{data,object}';
  v_session_id text := v_session ->> 'id';
  v_customer text := tollgate._stripe_id(v_session -> 'customer');
  v_reference text := v_session ->> 'client_reference_id';
  v_metadata jsonb := coalesce(v_session -> 'metadata', '{}'::jsonb);
  v_user uuid;
  v_credits bigint;
  v_days bigint;
  v_grant jsonb;
begin
  if v_reference is not null then
    if v_reference !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
       or not exists (select 1 from tollgate.accounts a where a.user_id = v_reference::uuid) then
      raise exception 'Cannot apply checkout %: client_reference_id % is not a Tollgate user', v_session_id,
        v_reference using errcode = 'TGS03';
    end if;
    v_user := v_reference::uuid;
    if v_customer is not null then
      perform tollgate._link_stripe_customer(v_customer, v_user, p_now);
    end if;
  elsif v_customer is not null then
    select c.user_id into v_user from tollgate.stripe_customers c where c.customer_id = v_customer;
    if v_user is null then
      return tollgate._stripe_outcome('pending', format('Customer %s is not linked to a user yet', v_customer));
    end if;
  elsif v_metadata ? 'credits' then
    raise exception 'Cannot apply checkout %: no client_reference_id and no customer name the user to credit',
      v_session_id using errcode = 'TGS03';
  else
    return tollgate._stripe_outcome('ignored', 'No client_reference_id and no customer: nothing to link');
  end if;

  if v_session ->> 'mode' is distinct from 'payment' or not v_metadata ? 'credits' then
    return tollgate._stripe_outcome('processed');
  end if;
  v_credits := tollgate._stripe_metadata_count(v_metadata, 'credits', 1000000000);
  v_days := tollgate._stripe_metadata_count(v_metadata, 'credits_expire_days', 36500);
  if v_session ->> 'payment_status' is distinct from 'paid' then
    return tollgate._stripe_outcome('ignored', format(
      'Payment status is %s: the credits are granted when checkout.session.async_payment_succeeded arrives',
      coalesce(v_session ->> 'payment_status', 'missing')));
  end if;
  v_grant := tollgate._grant_lot(
    v_user, 'top_up', v_credits, p_now + make_interval(days => v_days::int), 50, 'top_up:stripe:' || v_session_id,
    jsonb_build_object('checkout_session_id', v_session_id,
                       'payment_intent_id', tollgate._stripe_id(v_session -> 'payment_intent')),
    p_now);
  insert into tollgate.stripe_payments (id, user_id, kind, amount, currency, lot_id, credits, payment_intent_id,
                                      event_id, created_at)
  values (v_session_id, v_user, 'checkout', coalesce((v_session ->> 'amount_total')::bigint, 0),
          coalesce(v_session ->> 'currency', ''), (v_grant ->> 'lot_id')::uuid, v_credits,
          tollgate._stripe_id(v_session -> 'payment_intent'), p_event ->> 'id', p_now)
  on conflict (id) do nothing;
  return tollgate._stripe_outcome('processed');
end
$$;
comment on function tollgate._apply_stripe_checkout(jsonb, timestamptz) is
  'Tollgate: checkout.session.completed / async_payment_succeeded: links client_reference_id to the customer and, '
  'for a paid payment-mode session with metadata.credits, grants a top-up lot once per session and records the '
  'payment.';
revoke execute on function tollgate._apply_stripe_checkout(jsonb, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._apply_stripe_subscription(p_event jsonb, p_now timestamptz) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_object jsonb := p_event #> '{data,object}';
  v_subscription_id text := v_object ->> 'id';
  v_created timestamptz := tollgate._stripe_time(p_event -> 'created');
  v_customer text := tollgate._stripe_id(v_object -> 'customer');
  v_fields record;
  v_user uuid;
  v_existing tollgate.stripe_subscriptions;
  v_plan_id text;
  v_target_plan text;
  v_target_anchor timestamptz;
  v_target_subscription text;
  v_last_type text;
  v_order constant text[] := array['customer.subscription.created', 'customer.subscription.updated',
                                   'customer.subscription.deleted'];
begin
  select c.user_id into v_user from tollgate.stripe_customers c where c.customer_id = v_customer;
  if v_user is null then
    return tollgate._stripe_outcome('pending', format('Customer %s is not linked to a user yet',
                                                    coalesce(v_customer, '(none)')));
  end if;
  select * into v_fields from tollgate._stripe_subscription_fields(v_object);
  if v_subscription_id is null or v_subscription_id !~ '^sub_' or v_fields.status is null
     or v_fields.status not in ('incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'canceled',
                                'unpaid', 'paused') then
    raise exception 'Cannot apply subscription %: status % is not one Tollgate knows', v_subscription_id,
      v_fields.status using errcode = 'TGS05';
  end if;

  select * into v_existing from tollgate.stripe_subscriptions s where s.subscription_id = v_subscription_id for update;
  if found then
    -- Stripe stamps events in whole seconds: within one second, created < updated < deleted.
    select e.type into v_last_type from tollgate.stripe_events e where e.id = v_existing.last_event_id;
    if v_created < v_existing.last_event_created
       or (v_created = v_existing.last_event_created
           and array_position(v_order, p_event ->> 'type') < array_position(v_order, v_last_type)) then
      return tollgate._stripe_outcome('ignored', format('Older than event %s, already applied to subscription %s',
                                                      v_existing.last_event_id, v_subscription_id));
    end if;
    if v_existing.status in ('canceled', 'incomplete_expired')
       and v_fields.status not in ('canceled', 'incomplete_expired') then
      return tollgate._stripe_outcome('ignored', format('Subscription %s has ended (%s): a late %s cannot revive it',
                                                      v_subscription_id, v_existing.status, v_fields.status));
    end if;
  end if;

  select p.id into v_plan_id from tollgate.plans p
   where p.stripe_price_ids && v_fields.price_ids order by p.sort_order desc, p.id limit 1;
  if v_plan_id is null and v_fields.status in ('active', 'trialing', 'past_due') then
    raise exception 'Unknown price %: no plan lists it in plans.stripe_price_ids, so subscription % keeps its plan',
      array_to_string(v_fields.price_ids, ', '), v_subscription_id
      using errcode = 'TGS01', detail = jsonb_build_object('price_ids', v_fields.price_ids)::text;
  end if;

  insert into tollgate.stripe_subscriptions as s (
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
    from tollgate.stripe_subscriptions s join tollgate.plans p on p.id = s.plan_id
   where s.user_id = v_user and s.status in ('active', 'trialing', 'past_due')
   order by p.sort_order desc, s.last_event_created desc, s.subscription_id
   limit 1;
  if v_target_plan is null then
    select p.id into v_target_plan from tollgate.plans p where p.is_default;
    v_target_anchor := v_fields.billing_cycle_anchor;
    v_target_subscription := v_subscription_id;
  end if;
  if v_target_plan is not null then
    perform tollgate._switch_account_plan(v_user, v_target_plan, coalesce(v_target_anchor, p_now),
                                        v_target_subscription, p_now);
  end if;
  return tollgate._stripe_outcome('processed');
end
$$;
comment on function tollgate._apply_stripe_subscription(jsonb, timestamptz) is
  'Tollgate: customer.subscription.created / updated / deleted: upserts the mirror row unless the event is older '
  'than the last one applied (same second: created, then updated, then deleted), or would bring an ended '
  'subscription back; then the account follows the user''s best live subscription (active, trialing, past_due as '
  'grace), or falls back to the default plan.';
revoke execute on function tollgate._apply_stripe_subscription(jsonb, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._apply_stripe_invoice(p_event jsonb, p_now timestamptz) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_invoice jsonb := p_event #> '{data,object}';
  v_customer text := tollgate._stripe_id(v_invoice -> 'customer');
  v_user uuid;
begin
  select c.user_id into v_user from tollgate.stripe_customers c where c.customer_id = v_customer;
  if v_user is null then
    if v_customer is null then
      return tollgate._stripe_outcome('ignored', 'The invoice has no customer');
    end if;
    return tollgate._stripe_outcome('pending', format('Customer %s is not linked to a user yet', v_customer));
  end if;
  if p_event ->> 'type' = 'invoice.paid' then
    insert into tollgate.stripe_payments (id, user_id, kind, amount, currency, payment_intent_id, event_id, created_at)
    values (v_invoice ->> 'id', v_user, 'invoice', coalesce((v_invoice ->> 'amount_paid')::bigint, 0),
            coalesce(v_invoice ->> 'currency', ''), tollgate._stripe_invoice_payment_intent(v_invoice),
            p_event ->> 'id', p_now)
    on conflict (id) do nothing;
  else
    insert into tollgate.stripe_payment_failures (id, user_id, invoice_id, amount, currency, attempt_count,
                                                next_payment_attempt, event_id, created_at)
    values ((v_invoice ->> 'id') || ':' || coalesce(v_invoice ->> 'attempt_count', '0'), v_user, v_invoice ->> 'id',
            coalesce((v_invoice ->> 'amount_due')::bigint, 0), coalesce(v_invoice ->> 'currency', ''),
            (v_invoice ->> 'attempt_count')::integer, tollgate._stripe_time(v_invoice -> 'next_payment_attempt'),
            p_event ->> 'id', p_now)
    on conflict (id) do nothing;
  end if;
  if not found then
    return tollgate._stripe_outcome('ignored', format('Invoice %s is already recorded', v_invoice ->> 'id'));
  end if;
  return tollgate._stripe_outcome('processed');
end
$$;
comment on function tollgate._apply_stripe_invoice(jsonb, timestamptz) is
  'Tollgate: invoice.paid -> a payment row; invoice.payment_failed -> a failure row per (invoice, attempt). Both '
  'once.';
revoke execute on function tollgate._apply_stripe_invoice(jsonb, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._apply_stripe_refund(p_event jsonb, p_now timestamptz) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_charge jsonb := p_event #> '{data,object}';
  v_charge_id text := v_charge ->> 'id';
  v_payment_intent text := tollgate._stripe_id(v_charge -> 'payment_intent');
  v_customer text := tollgate._stripe_id(v_charge -> 'customer');
  v_amount bigint := coalesce((v_charge ->> 'amount')::bigint, 0);
  v_refunded bigint := coalesce((v_charge ->> 'amount_refunded')::bigint, 0);
  v_payment tollgate.stripe_payments;
  v_target bigint;
  v_claw bigint;
  v_own bigint;
  v_drawn bigint;
begin
  select * into v_payment from tollgate.stripe_payments p
   where p.kind = 'checkout' and (p.payment_intent_id = v_payment_intent or p.charge_id = v_charge_id)
   order by p.created_at limit 1;
  if not found then
    if v_customer is not null
       and not exists (select 1 from tollgate.stripe_customers c where c.customer_id = v_customer) then
      return tollgate._stripe_outcome('pending', format('Customer %s is not linked to a user yet', v_customer));
    end if;
    return tollgate._stripe_outcome('ignored', format(
      'No credit pack matches charge %s (payment intent %s): nothing to claw back', v_charge_id,
      coalesce(v_payment_intent, 'none')));
  end if;

  perform tollgate._settle_if_due(tollgate._lock_account(v_payment.user_id), p_now);
  select * into strict v_payment from tollgate.stripe_payments p where p.id = v_payment.id for update;
  v_target := case when v_amount > 0
                   then least(v_payment.credits, floor(v_payment.credits::numeric * least(v_refunded, v_amount)
                                                       / v_amount)::bigint)
                   else 0 end;
  v_claw := v_target - v_payment.refunded_credits;
  update tollgate.stripe_payments p
     set charge_id = coalesce(p.charge_id, v_charge_id),
         refunded_credits = greatest(p.refunded_credits, v_target),
         refund_ids = array(select distinct r from unnest(p.refund_ids || array(
                        select e ->> 'id' from jsonb_array_elements(
                          case jsonb_typeof(v_charge #> '{refunds,data}') when 'array' then v_charge #> '{refunds,data}'
                               else '[]'::jsonb end) e
                         where e ->> 'id' is not null)) r order by r)
   where p.id = v_payment.id;
  if v_claw <= 0 then
    return tollgate._stripe_outcome('ignored', format(
      'Charge %s: the %s of %s refunded is already clawed back', v_charge_id, v_refunded, v_amount));
  end if;

  select least(l.remaining, v_claw) into v_own from tollgate.credit_lots l
   where l.id = v_payment.lot_id and l.remaining > 0 and (l.expires_at is null or l.expires_at > p_now);
  v_own := coalesce(v_own, 0);
  if v_own > 0 then
    update tollgate.credit_lots set remaining = remaining - v_own where id = v_payment.lot_id;
  end if;
  v_drawn := v_own + tollgate._draw_lots(v_payment.user_id, v_claw - v_own, p_now);
  perform tollgate._post_ledger(v_payment.user_id, -v_claw, v_claw - v_drawn, 'refund',
                              'refund:' || v_charge_id || ':' || v_refunded, v_payment.lot_id,
                              jsonb_build_object('charge_id', v_charge_id, 'checkout_session_id', v_payment.id,
                                                 'amount_refunded', v_refunded, 'amount', v_amount),
                              p_now);
  return tollgate._stripe_outcome('processed');
end
$$;
comment on function tollgate._apply_stripe_refund(jsonb, timestamptz) is
  'Tollgate: charge.refunded on a credit pack: claws back credits x amount_refunded / amount (cumulative, minus '
  'what was already clawed back) with one negative ''refund'' ledger entry, from the pack''s lot first, then other '
  'live lots, then as overdraft when the credits were spent. Repeats and older events find nothing more to claw '
  'back.';
revoke execute on function tollgate._apply_stripe_refund(jsonb, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._apply_stripe_event(p_event jsonb, p_now timestamptz) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  return case p_event ->> 'type'
    when 'checkout.session.completed' then tollgate._apply_stripe_checkout(p_event, p_now)
    when 'checkout.session.async_payment_succeeded' then tollgate._apply_stripe_checkout(p_event, p_now)
    when 'customer.subscription.created' then tollgate._apply_stripe_subscription(p_event, p_now)
    when 'customer.subscription.updated' then tollgate._apply_stripe_subscription(p_event, p_now)
    when 'customer.subscription.deleted' then tollgate._apply_stripe_subscription(p_event, p_now)
    when 'invoice.paid' then tollgate._apply_stripe_invoice(p_event, p_now)
    when 'invoice.payment_failed' then tollgate._apply_stripe_invoice(p_event, p_now)
    when 'charge.refunded' then tollgate._apply_stripe_refund(p_event, p_now)
    else tollgate._stripe_outcome('ignored', format('Event type %s is not handled', p_event ->> 'type'))
  end;
exception
  when sqlstate 'TGS01' or sqlstate 'TGS03' or sqlstate 'TGS04' or sqlstate 'TGS05' or sqlstate 'TG404' then
    return tollgate._stripe_outcome('failed', sqlerrm);
end
$$;
comment on function tollgate._apply_stripe_event(jsonb, timestamptz) is
  'Tollgate: applies one stored event by type. Business errors mark it failed with their message and roll back its '
  'effects only (the event itself stays stored); anything unexpected aborts the whole transaction.';
revoke execute on function tollgate._apply_stripe_event(jsonb, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._record_stripe_outcome(p_event_id text, p_outcome jsonb, p_now timestamptz)
returns void
language sql
security definer
set search_path = ''
as $$
  update tollgate.stripe_events
     set status = p_outcome ->> 'status', error = p_outcome ->> 'reason',
         processed_at = case when p_outcome ->> 'status' = 'pending' then null else p_now end
   where id = p_event_id
$$;
comment on function tollgate._record_stripe_outcome(text, jsonb, timestamptz) is
  'Tollgate: records an applied event''s outcome.';
revoke execute on function tollgate._record_stripe_outcome(text, jsonb, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._handle_stripe_event(p_event jsonb, p_now timestamptz) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_id text := p_event ->> 'id';
  v_created timestamptz := tollgate._stripe_time(p_event -> 'created');
  v_customer text;
  v_event tollgate.stripe_events;
  v_outcome jsonb;
  v_pending record;
  v_applied integer := 0;
begin
  if v_id is null or v_id !~ '^evt_' or p_event ->> 'type' is null or v_created is null
     or jsonb_typeof(p_event #> '{data,object}') is distinct from 'object' then
    raise exception 'Invalid Stripe event: id (evt_...), type, created and data.object are required'
      using errcode = 'TGS02';
  end if;
  v_customer := tollgate._stripe_id(p_event #> '{data,object,customer}');
  if v_customer is not null then
    -- Every event of one customer in turn, so a link and the events waiting for it cannot miss each other.
    perform pg_advisory_xact_lock(hashtextextended('tollgate.stripe_customer:' || v_customer, 0));
  end if;

  insert into tollgate.stripe_events (id, type, created, customer_id, payload, received_at)
  values (v_id, p_event ->> 'type', v_created, v_customer, p_event, p_now)
  on conflict (id) do nothing
  returning * into v_event;
  if not found then
    update tollgate.stripe_events e set attempts = e.attempts + 1 where e.id = v_id returning * into v_event;
    if v_event.status in ('processed', 'ignored') then
      return jsonb_build_object('status', 'duplicate', 'event_id', v_id, 'previous_status', v_event.status);
    end if;
  end if;

  -- New, or stored pending or failed before: apply the stored payload.
  v_outcome := tollgate._apply_stripe_event(v_event.payload, p_now);
  perform tollgate._record_stripe_outcome(v_id, v_outcome, p_now);

  if v_customer is not null and exists (select 1 from tollgate.stripe_customers c where c.customer_id = v_customer) then
    for v_pending in
      select e.id, e.payload from tollgate.stripe_events e
       where e.status = 'pending' and e.customer_id = v_customer and e.id <> v_id
       order by e.created, e.id
    loop
      perform tollgate._record_stripe_outcome(v_pending.id, tollgate._apply_stripe_event(v_pending.payload, p_now), p_now);
      v_applied := v_applied + 1;
    end loop;
  end if;
  return v_outcome || jsonb_build_object('event_id', v_id, 'pending_applied', v_applied);
end
$$;
comment on function tollgate._handle_stripe_event(jsonb, timestamptz) is
  'Tollgate: the implementation of handle_stripe_event at a given time (pgTAP pins it). One transaction: store once '
  'by id (a redelivery of a processed or ignored event only counts the attempt), apply, record the outcome, then '
  'apply the customer''s pending events oldest first once the customer is linked.';
revoke execute on function tollgate._handle_stripe_event(jsonb, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate.handle_stripe_event(p_event jsonb) returns jsonb
language sql
security definer
set search_path = ''
as $$ select tollgate._handle_stripe_event(p_event, now()) $$;
comment on function tollgate.handle_stripe_event(jsonb) is
  'Tollgate: the webhook''s one SQL call: service role only, since it moves money.';
revoke execute on function tollgate.handle_stripe_event(jsonb) from public, anon, authenticated;
grant execute on function tollgate.handle_stripe_event(jsonb) to service_role;

