-- The Stripe mirror and the webhook's SQL: each verified event is stored once by id and its effects applied in the
-- same transaction, exactly once, so that every set of events ends with the same books in every delivery order:
-- events that depend on one not seen yet wait as pending for it by name and are applied in the same transaction
-- as its arrival; ties between subscription events are settled with the subscription's current state from the
-- Stripe API; several customers per account; trials, livemode, no_payment_required, refunds and disputes.
-- Written only by handle_stripe_event (service role); members read their accounts' subscriptions, owners and
-- admins also the payments, failures and disputes.
-- Business errors: TGS01 unknown price, TGS02 malformed event, TGS03 no such account, TGS05 malformed field, TGS07
-- unknown pack (TGS02 is refused, nothing stored; the others mark the event failed, nothing applied). TGS06
-- (internal): the current state of a subscription is needed; the webhook retrieves it and calls again.
-- Checkout and portal (the functions that start them): TGC01 unknown plan or pack, TGC02 nothing to buy (no or an
-- inactive price), TGC03 not an owner or admin, TGC04 no Stripe customer yet, TGC05 already subscribed.

create table if not exists tollgate.stripe_customers (
  customer_id text primary key check (customer_id ~ '^cus_'),
  account_id uuid not null references tollgate.accounts (id) on delete cascade,
  created_at timestamptz not null default now()
);
comment on table tollgate.stripe_customers is
  'Tollgate: service-only. Stripe customers linked to accounts by checkout client_reference_id (an account id: a '
  'user''s for their personal account, or a team''s); an account may have several (a Checkout Session created '
  'without customer makes a new one), a customer belongs to one account.';
create index if not exists stripe_customers_account_idx on tollgate.stripe_customers (account_id);

create table if not exists tollgate.stripe_subscriptions (
  subscription_id text primary key check (subscription_id ~ '^sub_'),
  account_id uuid not null references tollgate.accounts (id) on delete cascade,
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
  retrieved_at timestamptz,
  quantity integer not null default 1 check (quantity >= 0),
  updated_at timestamptz not null default now()
);
comment on table tollgate.stripe_subscriptions is 'Tollgate: Stripe subscriptions of accounts; members read their accounts''.';
comment on column tollgate.stripe_subscriptions.billing_cycle_anchor is
  'The anchor monthly credit periods count from while this subscription sets the plan.';
comment on column tollgate.stripe_subscriptions.quantity is
  'The first item''s quantity: on a per-seat plan (plans.credits_per_seat) the seats each credit period grants for.';
comment on column tollgate.stripe_subscriptions.retrieved_at is
  'When the mirrored state was retrieved from the Stripe API to settle a tie, or listed by stripe-import '
  '(last_event_id ''stripe-import''); null: it came from event last_event_id.';
create index if not exists stripe_subscriptions_account_idx on tollgate.stripe_subscriptions (account_id);
create index if not exists stripe_subscriptions_customer_idx on tollgate.stripe_subscriptions (customer_id);
create index if not exists stripe_subscriptions_plan_idx on tollgate.stripe_subscriptions (plan_id);

create table if not exists tollgate.stripe_events (
  id text primary key check (id ~ '^evt_'),
  type text not null,
  created timestamptz not null,
  status text not null default 'received'
    check (status in ('received', 'processed', 'ignored', 'pending', 'failed', 'refused')),
  customer_id text,
  payload jsonb not null,
  error text,
  waits_for text,
  attempts integer not null default 1 check (attempts >= 1),
  received_at timestamptz not null default now(),
  processed_at timestamptz
);
comment on table tollgate.stripe_events is
  'Tollgate: service-only. Every verified Stripe event, stored once by id. Events of the other mode (livemode) are '
  'kept as refused and never applied.';
comment on column tollgate.stripe_events.waits_for is
  'What a pending event waits for: customer:<cus_...> (its link to an account) or payment:<pi_...> (its payment).';
-- The events of one customer's subscriptions, by time: what a period's seats are counted from.
create index if not exists stripe_events_customer_idx on tollgate.stripe_events (customer_id, created);
create index if not exists stripe_events_waiting_idx on tollgate.stripe_events (waits_for, created, id)
  where status = 'pending';

create table if not exists tollgate.stripe_payments (
  id text primary key,
  account_id uuid not null references tollgate.accounts (id) on delete cascade,
  kind text not null check (kind in ('invoice', 'checkout')),
  amount bigint not null check (amount >= 0),
  currency text not null,
  lot_id uuid references tollgate.credit_lots (id) on delete set null,
  credits bigint not null default 0 check (credits >= 0),
  payment_intent_id text,
  charge_id text,
  refunded_credits bigint not null default 0 check (refunded_credits >= 0),
  refund_ids text[] not null default '{}',
  taken_back bigint not null default 0 check (taken_back >= 0),
  taken_from jsonb not null default '{}'::jsonb,
  event_id text not null,
  created_at timestamptz not null default now()
);
comment on table tollgate.stripe_payments is 'Tollgate: paid invoices and credit-pack checkouts; owners and admins read their accounts''.';
comment on column tollgate.stripe_payments.taken_back is
  'Credits refunds and disputes currently take back from this payment''s grant.';
comment on column tollgate.stripe_payments.taken_from is
  'Where taken_back came from: lot id -> credits, "overdraft" -> credits spent before; "expired" -> credits given '
  'back after the pack expired (they would have expired).';
create index if not exists stripe_payments_account_idx on tollgate.stripe_payments (account_id);
create index if not exists stripe_payments_lot_idx on tollgate.stripe_payments (lot_id);
create index if not exists stripe_payments_payment_intent_idx on tollgate.stripe_payments (payment_intent_id);
create index if not exists stripe_payments_charge_idx on tollgate.stripe_payments (charge_id);

create table if not exists tollgate.stripe_disputes (
  dispute_id text primary key check (dispute_id ~ '^(du|dp)_'),
  payment_id text not null references tollgate.stripe_payments (id) on delete cascade,
  account_id uuid not null references tollgate.accounts (id) on delete cascade,
  charge_id text,
  amount bigint not null check (amount >= 0),
  currency text not null,
  status text not null check (status in ('warning_needs_response', 'warning_under_review', 'warning_closed',
    'needs_response', 'under_review', 'won', 'lost', 'prevented')),
  funds_withdrawn boolean not null default false,
  funds_reinstated boolean not null default false,
  last_event_id text not null,
  updated_at timestamptz not null default now()
);
comment on table tollgate.stripe_disputes is
  'Tollgate: disputes (chargebacks) of payments, one row per dispute holding the state its events add up to in any '
  'order; while the funds are withdrawn the credits are taken back, a won dispute gives them back. Users read their '
  'own.';
create index if not exists stripe_disputes_payment_idx on tollgate.stripe_disputes (payment_id);
create index if not exists stripe_disputes_account_idx on tollgate.stripe_disputes (account_id);

create table if not exists tollgate.stripe_payment_failures (
  id text primary key,
  account_id uuid not null references tollgate.accounts (id) on delete cascade,
  invoice_id text not null,
  amount bigint not null check (amount >= 0),
  currency text not null,
  attempt_count integer,
  next_payment_attempt timestamptz,
  event_id text not null,
  created_at timestamptz not null default now()
);
comment on table tollgate.stripe_payment_failures is 'Tollgate: failed invoice payments; owners and admins read their accounts''.';
create index if not exists stripe_payment_failures_account_idx on tollgate.stripe_payment_failures (account_id);

-- The Stripe side of the catalogue, for pricing pages: prices and products as their events (price.*, product.*)
-- or a retrieval at checkout last told them. Each row keeps the newest state by (synced_at, synced_rank,
-- synced_from), so every delivery order ends the same; public where the catalogue lists them.
create table if not exists tollgate.stripe_products (
  product_id text primary key check (product_id ~ '^prod_'),
  name text,
  active boolean not null,
  synced_at timestamptz not null,
  synced_rank smallint not null,
  synced_from text not null,
  updated_at timestamptz not null default now()
);
comment on table tollgate.stripe_products is
  'Tollgate: Stripe products (name, active), from product.* events and retrievals; anyone reads those of the '
  'prices the catalogue lists. '
  'The newest (synced_at, synced_rank: created 0, updated or retrieved 1, deleted 2, synced_from: the event id or '
  'api) wins.';

create table if not exists tollgate.stripe_prices (
  price_id text primary key check (price_id ~ '^price_'),
  product_id text,
  active boolean not null,
  currency text not null,
  unit_amount bigint,
  recurring_interval text check (recurring_interval in ('day', 'week', 'month', 'year')),
  recurring_interval_count integer,
  nickname text,
  synced_at timestamptz not null,
  synced_rank smallint not null,
  synced_from text not null,
  updated_at timestamptz not null default now()
);
comment on table tollgate.stripe_prices is
  'Tollgate: Stripe prices (amount in the currency''s smallest unit, currency, interval, active) from price.* '
  'events and checkout-time retrievals, what a pricing page shows beside plans and packs; anyone reads the prices a '
  'plan or an active pack lists. The newest state wins as in stripe_products. An inactive price cannot start a '
  'checkout.';
create index if not exists stripe_prices_product_idx on tollgate.stripe_prices (product_id);

alter table tollgate.stripe_customers enable row level security;
alter table tollgate.stripe_subscriptions enable row level security;
alter table tollgate.stripe_events enable row level security;
alter table tollgate.stripe_payments enable row level security;
alter table tollgate.stripe_disputes enable row level security;
alter table tollgate.stripe_payment_failures enable row level security;

revoke all on table tollgate.stripe_customers, tollgate.stripe_subscriptions, tollgate.stripe_events,
  tollgate.stripe_payments, tollgate.stripe_disputes, tollgate.stripe_payment_failures
  from anon, authenticated, service_role;
grant select on table tollgate.stripe_customers, tollgate.stripe_subscriptions, tollgate.stripe_events,
  tollgate.stripe_payments, tollgate.stripe_disputes, tollgate.stripe_payment_failures to service_role;
grant select on table tollgate.stripe_subscriptions, tollgate.stripe_payments, tollgate.stripe_disputes,
  tollgate.stripe_payment_failures to authenticated;

drop policy if exists stripe_subscriptions_select_member on tollgate.stripe_subscriptions;
create policy stripe_subscriptions_select_member on tollgate.stripe_subscriptions for select to authenticated
  using (account_id in (select tollgate.member_accounts()));
-- What was paid, refunded and disputed is for those who manage the account (a personal account's owner).
drop policy if exists stripe_payments_select_managed on tollgate.stripe_payments;
create policy stripe_payments_select_managed on tollgate.stripe_payments for select to authenticated
  using (account_id in (select tollgate.member_accounts('{owner,admin}')));
drop policy if exists stripe_disputes_select_managed on tollgate.stripe_disputes;
create policy stripe_disputes_select_managed on tollgate.stripe_disputes for select to authenticated
  using (account_id in (select tollgate.member_accounts('{owner,admin}')));
drop policy if exists stripe_payment_failures_select_managed on tollgate.stripe_payment_failures;
create policy stripe_payment_failures_select_managed on tollgate.stripe_payment_failures for select to authenticated
  using (account_id in (select tollgate.member_accounts('{owner,admin}')));

alter table tollgate.stripe_products enable row level security;
alter table tollgate.stripe_prices enable row level security;
revoke all on table tollgate.stripe_products, tollgate.stripe_prices from anon, authenticated, service_role;
grant select on table tollgate.stripe_products, tollgate.stripe_prices to anon, authenticated, service_role;
-- Public, but only what the catalogue sells: a price no plan or active pack lists (a custom deal, an old tier) and
-- its product stay the service role's.
drop policy if exists stripe_prices_public_read on tollgate.stripe_prices;
create policy stripe_prices_public_read on tollgate.stripe_prices for select to anon, authenticated
  using (price_id in (select unnest(p.stripe_price_ids) from tollgate.plans p
                      union all
                      select k.stripe_price_id from tollgate.credit_packs k where k.active));
drop policy if exists stripe_products_public_read on tollgate.stripe_products;
create policy stripe_products_public_read on tollgate.stripe_products for select to anon, authenticated
  using (product_id in (select pr.product_id from tollgate.stripe_prices pr));

-- What a pricing page lists: every plan (one row per Stripe price it lists, or one without a price, like a free
-- tier) and every active pack, with the amounts the mirror knows (null until a price event or a checkout told
-- them). Rows whose price or product Stripe reports inactive are left out.
create or replace view tollgate.pricing with (security_invoker = true) as
select 'plan'::text as kind, p.id, p.name, p.monthly_credits as credits, p.credits_per_seat, p.trial_days,
       null::integer as expires_after_days, u.price_id, pr.unit_amount, pr.currency, pr.recurring_interval,
       pr.recurring_interval_count, p.sort_order
  from tollgate.plans p
  left join lateral unnest(p.stripe_price_ids) u(price_id) on true
  left join tollgate.stripe_prices pr on pr.price_id = u.price_id
  left join tollgate.stripe_products pd on pd.product_id = pr.product_id
 where coalesce(pr.active, true) and coalesce(pd.active, true)
union all
select 'pack', k.id, k.name, k.credits, false, 0, k.expires_after_days, k.stripe_price_id, pr.unit_amount,
       pr.currency, null, null, k.sort_order
  from tollgate.credit_packs k
  left join tollgate.stripe_prices pr on pr.price_id = k.stripe_price_id
  left join tollgate.stripe_products pd on pd.product_id = pr.product_id
 where k.active and coalesce(pr.active, true) and coalesce(pd.active, true);
comment on view tollgate.pricing is
  'Tollgate: the public pricing catalogue: plans (per price, monthly_credits as credits, trial days) and active '
  'packs (credits, expiry), with the Stripe amount (smallest currency unit), currency and interval when known.';
revoke all on table tollgate.pricing from anon, authenticated, service_role;
grant select on table tollgate.pricing to anon, authenticated, service_role;

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
  out cancel_at_period_end boolean, out trial_end timestamptz, out billing_cycle_anchor timestamptz,
  out quantity integer
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
                  tollgate._stripe_time(p_subscription -> 'created')),
         coalesce((select q::integer from (values (p_subscription #> '{items,data,0,quantity}'),
                                                  (p_subscription -> 'quantity')) v(j)
                    cross join lateral (select case when jsonb_typeof(j) = 'number' then (j #>> '{}')::numeric end) n(q)
                   where q between 0 and 1000000 and q = trunc(q)
                   limit 1), 1)
$$;
comment on function tollgate._stripe_subscription_fields(jsonb) is
  'Tollgate: the fields Tollgate mirrors from a Subscription. Periods and quantity (the seats of a per-seat plan) '
  'come from the first item (where recent API versions put them), else from the subscription (older versions; a '
  'quantity that is not a whole number from 0 to 1000000 counts as 1); price_ids lists every item''s price.';
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

-- Plans follow subscriptions: a credit period has one plan lot (the reset's grant key, plan:<period start>) that
-- follows the plan the account is on, so passing through a plan and back within a period neither mints credits
-- nor loses them. Trials grant the plan's trial credits once per account, ever.

create or replace function tollgate._set_account_plan(
  p_account_id uuid, p_plan_id text, p_anchor timestamptz, p_allowance bigint, p_now timestamptz
) returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  -- A due account first closes the books of the period it is in, under the plan it is on (as every credit
  -- movement does), so what follows only changes the plan.
  v_account tollgate.accounts := tollgate._settle_if_due(tollgate._lock_account(p_account_id), p_now);
  v_start timestamptz;
  v_end timestamptz;
  v_key text;
  v_lot tollgate.credit_lots;
  v_expiring record;
  v_net bigint;
  v_target bigint;
  v_delta bigint;
  v_repaid bigint;
  v_change jsonb := jsonb_build_object('from', v_account.plan_id, 'to', p_plan_id);
begin
  select b.period_start, b.period_end into v_start, v_end from tollgate.credit_period_at(p_anchor, p_now) b;
  v_key := tollgate._plan_grant_key(v_start);
  -- Plan lots of another period (another anchor) are set aside at zero.
  for v_expiring in
    select l.id, l.remaining, l.source from tollgate.credit_lots l
     where l.account_id = p_account_id and l.remaining > 0 and l.source = 'plan' and l.grant_key <> v_key
     order by l.expires_at nulls last, l.id
  loop
    update tollgate.credit_lots set remaining = 0 where id = v_expiring.id;
    perform tollgate._post_ledger(
      p_account_id, -v_expiring.remaining, 0, 'expire',
      'plan_change:' || v_expiring.id || ':'
        || (select a.ledger_seq + 1 from tollgate.accounts a where a.id = p_account_id),
      v_expiring.id, jsonb_build_object('source', v_expiring.source, 'plan_change', v_change), p_now);
  end loop;
  update tollgate.accounts
     set plan_id = p_plan_id, period_anchor = p_anchor, period_start = v_start, period_end = v_end, updated_at = p_now
   where id = p_account_id;

  select * into v_lot from tollgate.credit_lots l where l.account_id = p_account_id and l.grant_key = v_key for update;
  if not found then
    if p_allowance > 0 then
      perform tollgate._grant_lot(p_account_id, 'plan', p_allowance, v_end, 10, v_key,
                                jsonb_build_object('plan_id', p_plan_id), p_now);
    end if;
  elsif not exists (select 1 from tollgate.credit_ledger e
                     where e.account_id = p_account_id and e.reason = 'expire' and e.idempotency_key = 'expire:' || v_lot.id)
  then
    -- A lot whose period ended is history; one set aside by a change of anchor comes back, less what was used.
    -- What the period's grants and plan changes put in the lot, less what is left, is what was used of it.
    select coalesce(sum(e.delta), 0) into v_net from tollgate.credit_ledger e
     where e.account_id = p_account_id and e.lot_id = v_lot.id and e.reason in ('grant', 'expire');
    v_target := greatest(p_allowance - (v_net - v_lot.remaining), 0);
    v_delta := v_target - v_lot.remaining;
    if v_delta <> 0 then
      v_repaid := case when v_delta > 0
                       then least(v_delta, (select a.overdraft from tollgate.accounts a where a.id = p_account_id))
                       else 0 end;
      update tollgate.credit_lots
         set remaining = remaining + v_delta - v_repaid, amount = greatest(v_net + v_delta, 1), expires_at = v_end
       where id = v_lot.id;
      perform tollgate._post_ledger(
        p_account_id, v_delta, -v_repaid, case when v_delta > 0 then 'grant' else 'expire' end,
        'plan_change:' || v_lot.id || ':' || (select a.ledger_seq + 1 from tollgate.accounts a where a.id = p_account_id),
        v_lot.id, jsonb_build_object('source', 'plan', 'plan_id', p_plan_id, 'plan_change', v_change), p_now);
    end if;
  end if;
  update tollgate.accounts a
     set next_expiry_at = (select min(l.expires_at) from tollgate.credit_lots l
                            where l.account_id = p_account_id and l.remaining > 0 and l.expires_at > p_now)
   where a.id = p_account_id;
  if v_account.plan_id is distinct from p_plan_id then
    perform tollgate._emit_event(p_account_id, 'plan.changed', v_change || jsonb_build_object(
      'period_start', v_start, 'period_end', v_end, 'allowance', p_allowance),
      format('%s>%s@%s', v_account.plan_id, p_plan_id, extract(epoch from p_now)), p_now);
  end if;
  return v_account.plan_id is distinct from p_plan_id;
end
$$;
comment on function tollgate._set_account_plan(uuid, text, timestamptz, bigint, timestamptz) is
  'Tollgate: puts an account on p_plan_id with credit periods counted monthly from p_anchor, and its current '
  'period''s plan credits at p_allowance minus what was already used of them this period (never below zero). A due '
  'account is settled first (_settle_if_due: its ended period rolls, lots past their expiry expire, under the plan '
  'it was on); the plan lots of another period (another anchor) are set aside at zero, so an account '
  'that returns to that period gets back what it had not used. Top-ups are untouched. Idempotent: the same call '
  'again moves nothing. Returns whether the plan changed (then with a plan.changed event).';
revoke execute on function tollgate._set_account_plan(uuid, text, timestamptz, bigint, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._sync_account_plan(p_account_id uuid, p_now timestamptz) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account tollgate.accounts := tollgate._lock_account(p_account_id);
  v_live record;
  v_plan tollgate.plans;
  v_anchor timestamptz;
  v_seats integer;
  v_period_seats integer;
  v_period record;
  v_trial tollgate.credit_lots;
begin
  select s.subscription_id, s.customer_id, s.plan_id, s.billing_cycle_anchor, s.status, s.trial_end, s.quantity
    into v_live
    from tollgate.stripe_subscriptions s join tollgate.plans p on p.id = s.plan_id
   where s.account_id = p_account_id and s.status in ('active', 'trialing', 'past_due')
   order by p.sort_order desc, s.status = 'trialing', s.last_event_created desc, s.subscription_id
   limit 1;
  if found then
    select * into strict v_plan from tollgate.plans where id = v_live.plan_id;
    v_anchor := v_live.billing_cycle_anchor;
  else
    select * into v_plan from tollgate.plans where is_default;
    if not found then
      return;
    end if;
    select s.billing_cycle_anchor into v_anchor from tollgate.stripe_subscriptions s
     where s.account_id = p_account_id and s.status not in ('incomplete', 'incomplete_expired')
     order by s.last_event_created desc, s.subscription_id
     limit 1;
  end if;
  v_anchor := coalesce(v_anchor, v_account.period_anchor);
  -- The seats the next periods grant for: the live subscription's quantity now.
  v_seats := tollgate._plan_seats(v_account.kind, v_plan.credits_per_seat, v_live.quantity);
  v_period_seats := v_seats;
  if v_plan.credits_per_seat and v_live.subscription_id is not null then
    -- This period's: the fewest the subscription had in it, from the state it carried in (its latest event from
    -- before the period) and every event of the period, applied or older than the mirror. A function of the set
    -- of events, so every delivery order ends the same; an increase waits for the next period, a decrease counts
    -- at once.
    select b.period_start, b.period_end into v_period from tollgate.credit_period_at(v_anchor, p_now) b;
    select least(v_seats, min(f.quantity)) into v_period_seats
      from (
        select e.payload from tollgate.stripe_events e
         where e.customer_id = v_live.customer_id and e.type like 'customer.subscription.%'
           and e.payload #>> '{data,object,id}' = v_live.subscription_id and e.status <> 'refused'
           and e.created >= v_period.period_start and e.created < v_period.period_end
        union all
        (select e.payload from tollgate.stripe_events e
          where e.customer_id = v_live.customer_id and e.type like 'customer.subscription.%'
            and e.payload #>> '{data,object,id}' = v_live.subscription_id and e.status <> 'refused'
            and e.created < v_period.period_start
          order by e.created desc, e.id desc
          limit 1)
      ) e
     cross join lateral tollgate._stripe_subscription_fields(e.payload #> '{data,object}') f;
  end if;
  perform tollgate._set_account_plan(
    p_account_id, v_plan.id, v_anchor,
    case when v_live.status = 'trialing' then 0 else v_plan.monthly_credits * v_period_seats end, p_now);
  update tollgate.accounts set seats = v_seats where id = p_account_id and seats <> v_seats;

  select * into v_trial from tollgate.credit_lots l where l.account_id = p_account_id and l.grant_key = 'trial';
  if v_live.status = 'trialing' then
    if v_trial.id is null and v_plan.trial_credits > 0 and v_live.trial_end > p_now then
      perform tollgate._grant_lot(p_account_id, 'promo', v_plan.trial_credits, v_live.trial_end, 15, 'trial',
                                jsonb_build_object('plan_id', v_plan.id, 'subscription_id', v_live.subscription_id),
                                p_now);
    end if;
  elsif v_trial.remaining > 0 then
    -- The trial is over (converted, canceled or superseded): its credits end with it.
    update tollgate.credit_lots set remaining = 0 where id = v_trial.id;
    perform tollgate._post_ledger(p_account_id, -v_trial.remaining, 0, 'expire', 'expire:' || v_trial.id, v_trial.id,
                                jsonb_build_object('source', 'promo', 'trial_ended', true), p_now);
  end if;
end
$$;
comment on function tollgate._sync_account_plan(uuid, timestamptz) is
  'Tollgate: the account follows its subscriptions as mirrored, whatever order their events came in: the '
  'best live one (active, trialing, past_due; highest sort_order, a paid one before a trial) sets plan and anchor, '
  'a trial with no plan allowance but the plan''s trial credits (once per account, ever, until trial_end). With '
  'none live, the default plan, anchored where the latest subscription that was ever live left the periods (a team '
  'then gets no allowance). On a per-seat plan the next periods grant for the subscription''s quantity, this one '
  'for the fewest seats it had during the period.';
revoke execute on function tollgate._sync_account_plan(uuid, timestamptz) from public, anon, authenticated, service_role;

-- Refunds and disputes take back what a payment granted, minus what expired from it, minus what was already
-- taken back; a won dispute gives it back. One function keeps a payment's taken-back credits equal to what its
-- refunds and disputes say now, so every delivery order ends the same.

create or replace function tollgate._settle_stripe_payment(
  p_payment_id text, p_reason text, p_key text, p_metadata jsonb, p_now timestamptz
) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account_id uuid := (select p.account_id from tollgate.stripe_payments p where p.id = p_payment_id);
  v_payment tollgate.stripe_payments;
  v_own tollgate.credit_lots;
  v_from jsonb;
  v_before jsonb;
  v_disputed bigint;
  v_expired bigint;
  v_target bigint;
  v_change bigint;
  v_left bigint;
  v_n bigint;
  v_spent bigint := 0;
  v_restored bigint := 0;
  v_pool bigint := 0;
  v_repaid bigint := 0;
  v_dropped bigint := 0;
  v_new_lot bigint := 0;
  v_source record;
begin
  perform tollgate._settle_if_due(tollgate._lock_account(v_account_id), p_now);
  select * into strict v_payment from tollgate.stripe_payments p where p.id = p_payment_id for update;
  if v_payment.credits = 0 then
    return 0;
  end if;
  v_from := v_payment.taken_from;
  select * into v_own from tollgate.credit_lots l where l.id = v_payment.lot_id for update;
  v_expired := coalesce((select -sum(e.delta) from tollgate.credit_ledger e
                          where e.account_id = v_account_id and e.lot_id = v_payment.lot_id and e.reason = 'expire'), 0)
             + coalesce((v_from ->> 'expired')::bigint, 0);
  select coalesce(sum(floor(v_payment.credits::numeric * least(d.amount, v_payment.amount) / v_payment.amount)), 0)
    into v_disputed
    from tollgate.stripe_disputes d
   where d.payment_id = p_payment_id and v_payment.amount > 0
     and (d.funds_withdrawn or d.status in ('needs_response', 'under_review', 'lost'))
     and not d.funds_reinstated and d.status not in ('won', 'warning_closed', 'prevented');
  v_target := greatest(least(v_payment.credits, v_payment.refunded_credits + v_disputed,
                             v_payment.credits - v_expired), 0);
  v_change := v_payment.taken_back - v_target;
  if v_change = 0 then
    return 0;
  end if;

  if v_change < 0 then
    -- Take back: the pack's own lot, then the other live lots in draw order, the rest (spent) as overdraft.
    v_left := -v_change;
    if v_own.remaining > 0 and (v_own.expires_at is null or v_own.expires_at > p_now) then
      v_n := least(v_own.remaining, v_left);
      update tollgate.credit_lots set remaining = remaining - v_n where id = v_own.id;
      v_from := v_from || jsonb_build_object(v_own.id, coalesce((v_from ->> v_own.id::text)::bigint, 0) + v_n);
      v_left := v_left - v_n;
    end if;
    if v_left > 0 then
      select coalesce(jsonb_object_agg(l.id, l.remaining), '{}') into v_before
        from tollgate.credit_lots l where l.account_id = v_account_id and l.remaining > 0;
      v_spent := v_left - tollgate._draw_lots(v_account_id, v_left, p_now);
      select v_from || coalesce(jsonb_object_agg(l.id, coalesce((v_from ->> l.id::text)::bigint, 0)
                                                      + (v_before ->> l.id::text)::bigint - l.remaining), '{}')
        into v_from
        from tollgate.credit_lots l
       where l.account_id = v_account_id and v_before ? l.id::text and l.remaining < (v_before ->> l.id::text)::bigint;
      v_from := v_from || jsonb_build_object('overdraft', coalesce((v_from ->> 'overdraft')::bigint, 0) + v_spent);
    end if;
    perform tollgate._post_ledger(v_account_id, v_change, v_spent, p_reason, p_key, v_payment.lot_id,
                                p_metadata || jsonb_build_object('payment_id', p_payment_id, 'taken_back', v_target),
                                p_now);
  else
    -- Give back, last taken first: what was spent (overdraft), then other lots, then the pack's own lot.
    v_left := v_change;
    for v_source in
      select j.key, j.value::bigint as n, l.id as lot_id, l.remaining, l.amount,
             l.id is not null and (l.expires_at is null or l.expires_at > p_now) as live
        from jsonb_each_text(v_from) j left join tollgate.credit_lots l on l.id::text = j.key
       where j.key <> 'expired' and j.value::bigint > 0
       order by j.key = 'overdraft' desc, l.id = v_own.id, l.expires_at desc nulls first, j.key
    loop
      exit when v_left = 0;
      v_n := least(v_left, v_source.n);
      v_left := v_left - v_n;
      v_from := v_from || jsonb_build_object(v_source.key, v_source.n - v_n);
      if v_source.live then
        update tollgate.credit_lots set remaining = remaining + least(v_n, v_source.amount - v_source.remaining)
         where id = v_source.lot_id;
        v_restored := v_restored + least(v_n, v_source.amount - v_source.remaining);
        v_pool := v_pool + v_n - least(v_n, v_source.amount - v_source.remaining);
      elsif v_source.key = 'overdraft' then
        v_pool := v_pool + v_n;
      else
        v_dropped := v_dropped + v_n;
        if v_source.lot_id = v_own.id then
          v_from := v_from || jsonb_build_object('expired', coalesce((v_from ->> 'expired')::bigint, 0) + v_n);
        end if;
      end if;
    end loop;
    v_pool := v_pool + v_left; -- taken back before taken_from was recorded: no place known
    -- Overdraft is repaid first (it never stands beside unspent lots), then the pool goes to the pack's own lot.
    v_repaid := least((select a.overdraft from tollgate.accounts a where a.id = v_account_id), v_pool + v_restored);
    if v_repaid > v_pool then
      perform tollgate._draw_lots(v_account_id, v_repaid - v_pool, p_now);
    end if;
    v_pool := greatest(v_pool - v_repaid, 0);
    if v_pool > 0 and v_own.id is not null and (v_own.expires_at is null or v_own.expires_at > p_now) then
      v_n := least(v_pool, (select l.amount - l.remaining from tollgate.credit_lots l where l.id = v_own.id));
      update tollgate.credit_lots set remaining = remaining + v_n where id = v_own.id;
      v_pool := v_pool - v_n;
    end if;
    v_new_lot := v_pool;
    if v_change - v_dropped - v_new_lot <> 0 then
      perform tollgate._post_ledger(v_account_id, v_change - v_dropped - v_new_lot, -v_repaid, p_reason, p_key,
                                  v_payment.lot_id,
                                  p_metadata || jsonb_build_object('payment_id', p_payment_id, 'taken_back', v_target,
                                                                   'expired_meanwhile', v_dropped),
                                  p_now);
    end if;
    if v_new_lot > 0 then
      perform tollgate._grant_lot(v_account_id, 'refund', v_new_lot, null, 30, 'given_back:' || p_key,
                                jsonb_build_object('payment_id', p_payment_id), p_now);
    end if;
  end if;
  update tollgate.stripe_payments set taken_back = v_target, taken_from = v_from where id = p_payment_id;
  return -v_change;
end
$$;
comment on function tollgate._settle_stripe_payment(text, text, text, jsonb, timestamptz) is
  'Tollgate: keeps what payment p_payment_id takes back equal to what its refunds (refunded_credits) and disputes '
  'whose funds are withdrawn cover, capped by what its grant still holds after expiry, whatever order they came in. '
  'Taking back draws the payment''s own lot first, then the account''s other live lots in draw order; what was '
  'spent becomes overdraft. Giving back (a won dispute) returns credits where they were taken from, repaying '
  'overdraft first; credits taken from a lot that has expired since stay gone (they would have expired). One ledger '
  'entry per change (p_reason, p_key). Returns the credits moved: negative when taken back.';
revoke execute on function tollgate._settle_stripe_payment(text, text, text, jsonb, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._stripe_payment_of(p_payment_intent text, p_charge_id text)
returns tollgate.stripe_payments
language sql stable
security definer
set search_path = ''
as $$
  select p.* from tollgate.stripe_payments p
   where p.payment_intent_id = p_payment_intent or p.charge_id = p_charge_id
   order by p.payment_intent_id = p_payment_intent desc nulls last, p.created_at, p.id
   limit 1
$$;
comment on function tollgate._stripe_payment_of(text, text) is
  'Tollgate: the payment a charge, refund or dispute is about: by payment intent, or by charge once one told it.';
revoke execute on function tollgate._stripe_payment_of(text, text) from public, anon, authenticated, service_role;

create or replace function tollgate._apply_stripe_refund(p_event jsonb, p_now timestamptz) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_charge jsonb := p_event #> '{data,object}';
  v_charge_id text := v_charge ->> 'id';
  v_payment_intent text := tollgate._stripe_id(v_charge -> 'payment_intent');
  v_amount bigint := coalesce((v_charge ->> 'amount')::bigint, 0);
  v_refunded bigint := coalesce((v_charge ->> 'amount_refunded')::bigint, 0);
  v_payment tollgate.stripe_payments := tollgate._stripe_payment_of(v_payment_intent, v_charge_id);
  v_moved bigint;
begin
  if v_payment.id is null then
    return tollgate._stripe_wait_for_payment('refund', v_payment_intent, v_charge_id);
  end if;
  perform tollgate._lock_account(v_payment.account_id);
  update tollgate.stripe_payments p
     set charge_id = coalesce(p.charge_id, v_charge_id),
         refunded_credits = greatest(p.refunded_credits, case when v_amount > 0
           then least(p.credits, floor(p.credits::numeric * least(v_refunded, v_amount) / v_amount)::bigint)
           else 0 end),
         refund_ids = array(select distinct r from unnest(p.refund_ids || array(
                        select e ->> 'id' from jsonb_array_elements(
                          case jsonb_typeof(v_charge #> '{refunds,data}') when 'array' then v_charge #> '{refunds,data}'
                               else '[]'::jsonb end) e
                         where e ->> 'id' is not null)) r order by r)
   where p.id = v_payment.id;
  v_moved := tollgate._settle_stripe_payment(
    v_payment.id, 'refund', 'stripe:' || (p_event ->> 'id'),
    jsonb_build_object('charge_id', v_charge_id, 'amount_refunded', v_refunded, 'amount', v_amount), p_now);
  -- Each refund step of a charge (its cumulative amount_refunded) is one occurrence, in whatever order they come.
  if v_refunded > 0 then
    perform tollgate._emit_event(v_payment.account_id, 'payment.refunded', jsonb_build_object(
      'payment_id', v_payment.id, 'charge_id', v_charge_id, 'amount', v_amount, 'amount_refunded', v_refunded,
      'currency', coalesce(v_charge ->> 'currency', v_payment.currency), 'credits_taken_back', greatest(-v_moved, 0)),
      format('%s:%s', coalesce(v_charge_id, v_payment.id), v_refunded), p_now);
  end if;
  if v_moved = 0 then
    return tollgate._stripe_outcome('ignored', format('Charge %s: nothing more to take back for %s of %s refunded',
                                                    v_charge_id, v_refunded, v_amount));
  end if;
  return tollgate._stripe_outcome('processed');
end
$$;
comment on function tollgate._apply_stripe_refund(jsonb, timestamptz) is
  'Tollgate: charge.refunded: refunds are cumulative (amount_refunded), so the payment''s refunded credits become '
  'credits x amount_refunded / amount (rounded down) if more than before, and the take-back follows, with a '
  'payment.refunded event per refund step (charge, amount_refunded). A refund of a '
  'payment not seen yet waits for it.';
revoke execute on function tollgate._apply_stripe_refund(jsonb, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._apply_stripe_dispute(p_event jsonb, p_now timestamptz) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_dispute jsonb := p_event #> '{data,object}';
  v_id text := v_dispute ->> 'id';
  v_status text := v_dispute ->> 'status';
  v_charge_id text := tollgate._stripe_id(v_dispute -> 'charge');
  v_payment_intent text := tollgate._stripe_id(v_dispute -> 'payment_intent');
  v_payment tollgate.stripe_payments;
  v_order constant text[] := array['warning_needs_response', 'warning_under_review', 'needs_response',
                                   'under_review'];
  v_moved bigint;
begin
  if v_id !~ '^(du|dp)_' or v_status is null
     or v_status not in ('warning_needs_response', 'warning_under_review', 'warning_closed', 'needs_response',
                         'under_review', 'won', 'lost', 'prevented') then
    raise exception 'Cannot apply dispute %: status % is not one Tollgate knows', v_id, v_status
      using errcode = 'TGS05';
  end if;
  v_payment := tollgate._stripe_payment_of(v_payment_intent, v_charge_id);
  if v_payment.id is null then
    return tollgate._stripe_wait_for_payment('dispute', v_payment_intent, v_charge_id);
  end if;
  perform tollgate._lock_account(v_payment.account_id);
  insert into tollgate.stripe_disputes as d (dispute_id, payment_id, account_id, charge_id, amount, currency, status,
                                           funds_withdrawn, funds_reinstated, last_event_id, updated_at)
  values (v_id, v_payment.id, v_payment.account_id, v_charge_id, coalesce((v_dispute ->> 'amount')::bigint, 0),
          coalesce(v_dispute ->> 'currency', ''), v_status,
          p_event ->> 'type' = 'charge.dispute.funds_withdrawn', p_event ->> 'type' = 'charge.dispute.funds_reinstated',
          p_event ->> 'id', p_now)
  on conflict (dispute_id) do update
    -- Closed states (won, lost, warning_closed, prevented) are final; open ones only move forward.
    set status = case when d.status not in (select unnest(v_order)) then d.status
                      when excluded.status not in (select unnest(v_order)) then excluded.status
                      when array_position(v_order, excluded.status) > array_position(v_order, d.status)
                        then excluded.status
                      else d.status end,
        funds_withdrawn = d.funds_withdrawn or excluded.funds_withdrawn,
        funds_reinstated = d.funds_reinstated or excluded.funds_reinstated,
        amount = excluded.amount, last_event_id = excluded.last_event_id, updated_at = excluded.updated_at;
  update tollgate.stripe_payments p set charge_id = coalesce(p.charge_id, v_charge_id) where p.id = v_payment.id;
  v_moved := tollgate._settle_stripe_payment(
    v_payment.id, 'dispute', 'stripe:' || (p_event ->> 'id'),
    jsonb_build_object('dispute_id', v_id, 'status', v_status, 'charge_id', v_charge_id), p_now);
  if v_moved = 0 then
    return tollgate._stripe_outcome('ignored', format('Dispute %s (%s): no credits to move', v_id, v_status));
  end if;
  return tollgate._stripe_outcome('processed');
end
$$;
comment on function tollgate._apply_stripe_dispute(jsonb, timestamptz) is
  'Tollgate: charge.dispute.*: a dispute''s state is what its events add up to in any order (a later status in the '
  'lifecycle wins; funds withdrawn or reinstated stick), and the payment''s take-back follows it: credits are taken '
  'back while the funds are withdrawn (created, funds_withdrawn, lost) and given back when reinstated (won). '
  'Inquiries (warning_*) move nothing. A dispute of a payment not seen yet waits for it.';
revoke execute on function tollgate._apply_stripe_dispute(jsonb, timestamptz)
  from public, anon, authenticated, service_role;

-- Prices and products: display data kept newest-wins, so any delivery order (and a retrieval at checkout) ends
-- with the same rows.

create or replace function tollgate._mirror_stripe_product(
  p_product jsonb, p_at timestamptz, p_rank smallint, p_from text
) returns boolean
language plpgsql
security definer
set search_path = ''
as $$
begin
  if p_product ->> 'id' is null or p_product ->> 'id' !~ '^prod_' then
    raise exception 'Cannot mirror product: id % is not a Stripe product id', coalesce(p_product ->> 'id', '(none)')
      using errcode = 'TGS05';
  end if;
  insert into tollgate.stripe_products as d (product_id, name, active, synced_at, synced_rank, synced_from, updated_at)
  values (p_product ->> 'id', left(p_product ->> 'name', 250),
          jsonb_typeof(p_product -> 'active') = 'boolean' and (p_product ->> 'active')::boolean and p_rank < 2,
          p_at, p_rank, p_from, now())
  on conflict (product_id) do update
    set name = excluded.name, active = excluded.active, synced_at = excluded.synced_at,
        synced_rank = excluded.synced_rank, synced_from = excluded.synced_from, updated_at = excluded.updated_at
    where (excluded.synced_at, excluded.synced_rank, excluded.synced_from) > (d.synced_at, d.synced_rank, d.synced_from);
  return found;
end
$$;
comment on function tollgate._mirror_stripe_product(jsonb, timestamptz, smallint, text) is
  'Tollgate: stores a Stripe product''s name and active flag unless a newer state (synced_at, rank: 0 created, 1 '
  'updated or retrieved, 2 deleted, then synced_from) is stored. Returns whether it changed the row.';
revoke execute on function tollgate._mirror_stripe_product(jsonb, timestamptz, smallint, text)
  from public, anon, authenticated, service_role;

create or replace function tollgate._mirror_stripe_price(
  p_price jsonb, p_at timestamptz, p_rank smallint, p_from text
) returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_interval text := p_price #>> '{recurring,interval}';
begin
  if p_price ->> 'id' is null or p_price ->> 'id' !~ '^price_' then
    raise exception 'Cannot mirror price: id % is not a Stripe price id', coalesce(p_price ->> 'id', '(none)')
      using errcode = 'TGS05';
  end if;
  if v_interval is not null and v_interval not in ('day', 'week', 'month', 'year') then
    raise exception 'Cannot mirror price %: interval % is not one Stripe has', p_price ->> 'id', v_interval
      using errcode = 'TGS05';
  end if;
  if jsonb_typeof(p_price -> 'product') = 'object' then
    -- Expanded (a retrieval with expand=product): its product is as new as the price.
    perform tollgate._mirror_stripe_product(p_price -> 'product', p_at, p_rank, p_from);
  end if;
  insert into tollgate.stripe_prices as d (price_id, product_id, active, currency, unit_amount, recurring_interval,
                                          recurring_interval_count, nickname, synced_at, synced_rank, synced_from,
                                          updated_at)
  values (p_price ->> 'id', tollgate._stripe_id(p_price -> 'product'),
          jsonb_typeof(p_price -> 'active') = 'boolean' and (p_price ->> 'active')::boolean and p_rank < 2,
          coalesce(lower(p_price ->> 'currency'), ''),
          case when jsonb_typeof(p_price -> 'unit_amount') = 'number'
               then trunc((p_price ->> 'unit_amount')::numeric)::bigint end,
          v_interval,
          case when v_interval is not null and jsonb_typeof(p_price #> '{recurring,interval_count}') = 'number'
               then least(trunc((p_price #>> '{recurring,interval_count}')::numeric), 1000)::integer end,
          left(p_price ->> 'nickname', 250), p_at, p_rank, p_from, now())
  on conflict (price_id) do update
    set product_id = excluded.product_id, active = excluded.active, currency = excluded.currency,
        unit_amount = excluded.unit_amount, recurring_interval = excluded.recurring_interval,
        recurring_interval_count = excluded.recurring_interval_count, nickname = excluded.nickname,
        synced_at = excluded.synced_at, synced_rank = excluded.synced_rank, synced_from = excluded.synced_from,
        updated_at = excluded.updated_at
    where (excluded.synced_at, excluded.synced_rank, excluded.synced_from) > (d.synced_at, d.synced_rank, d.synced_from);
  return found;
end
$$;
comment on function tollgate._mirror_stripe_price(jsonb, timestamptz, smallint, text) is
  'Tollgate: stores a Stripe price''s amount, currency, interval and active flag (and its product, when expanded) '
  'unless a newer state is stored, as _mirror_stripe_product. Returns whether it changed the row.';
revoke execute on function tollgate._mirror_stripe_price(jsonb, timestamptz, smallint, text)
  from public, anon, authenticated, service_role;

create or replace function tollgate._apply_stripe_catalogue(p_event jsonb) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_type text := p_event ->> 'type';
  v_object jsonb := p_event #> '{data,object}';
  v_rank smallint := case split_part(v_type, '.', 2) when 'created' then 0 when 'updated' then 1 else 2 end;
  v_changed boolean;
begin
  v_changed := case when v_type like 'price.%'
    then tollgate._mirror_stripe_price(v_object, tollgate._stripe_time(p_event -> 'created'), v_rank, p_event ->> 'id')
    else tollgate._mirror_stripe_product(v_object, tollgate._stripe_time(p_event -> 'created'), v_rank,
                                         p_event ->> 'id') end;
  if not v_changed then
    return tollgate._stripe_outcome('ignored', format('Older than the state of %s already stored', v_object ->> 'id'));
  end if;
  return tollgate._stripe_outcome('processed');
end
$$;
comment on function tollgate._apply_stripe_catalogue(jsonb) is
  'Tollgate: price.created / updated / deleted and product.created / updated / deleted: the pricing mirror takes '
  'the event''s state when it is newer than what it holds (a deleted one is inactive).';
revoke execute on function tollgate._apply_stripe_catalogue(jsonb) from public, anon, authenticated, service_role;

create or replace function tollgate.record_stripe_price(p_price jsonb) returns tollgate.stripe_prices
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row tollgate.stripe_prices;
begin
  perform tollgate._mirror_stripe_price(p_price, now(), 1::smallint, 'api');
  select * into strict v_row from tollgate.stripe_prices where price_id = p_price ->> 'id';
  return v_row;
end
$$;
comment on function tollgate.record_stripe_price(jsonb) is
  'Tollgate: stores a price retrieved from the Stripe API (create-checkout-session fills the pricing mirror when it '
  'has not seen the price yet) as of now, and returns what the mirror holds. Service role only.';
revoke execute on function tollgate.record_stripe_price(jsonb) from public, anon, authenticated;
grant execute on function tollgate.record_stripe_price(jsonb) to service_role;

-- Storing and applying events.

create or replace function tollgate._stripe_outcome(
  p_status text, p_reason text default null, p_waits_for text default null
) returns jsonb
language sql immutable parallel safe
set search_path = ''
as $$ select jsonb_strip_nulls(jsonb_build_object('status', p_status, 'reason', p_reason, 'waits_for', p_waits_for)) $$;
comment on function tollgate._stripe_outcome(text, text, text) is
  'Tollgate: the result of applying an event: its status (processed, ignored, pending, failed, refused), why, and '
  'for a pending event what it waits for.';
revoke execute on function tollgate._stripe_outcome(text, text, text) from public, anon, authenticated, service_role;

create or replace function tollgate._stripe_wait_for_payment(p_what text, p_payment_intent text, p_charge_id text)
returns jsonb
language sql immutable
set search_path = ''
as $$
  select tollgate._stripe_outcome('pending', format('No payment %s recorded yet: the %s waits for it',
                                                  coalesce(p_payment_intent, p_charge_id), p_what),
                                'payment:' || coalesce(p_payment_intent, p_charge_id))
$$;
comment on function tollgate._stripe_wait_for_payment(text, text, text) is
  'Tollgate: a refund or dispute of a payment not recorded yet waits for it, by payment intent (or charge, on old '
  'charges).';
revoke execute on function tollgate._stripe_wait_for_payment(text, text, text)
  from public, anon, authenticated, service_role;

create or replace function tollgate._stripe_event_keys(p_event jsonb) returns text[]
language sql immutable parallel safe
set search_path = ''
as $$
  select coalesce(array_agg(distinct k order by k), '{}')
    from (select p_event #> '{data,object}' as o) x
   cross join lateral (values
     ('customer:' || tollgate._stripe_id(o -> 'customer')),
     ('payment:' || coalesce(tollgate._stripe_id(o -> 'payment_intent'),
                             case when o ->> 'object' = 'invoice' then tollgate._stripe_invoice_payment_intent(o) end)),
     ('payment:' || case o ->> 'object' when 'charge' then o ->> 'id'
                                        when 'dispute' then tollgate._stripe_id(o -> 'charge') end)) v(k)
   where k is not null
$$;
comment on function tollgate._stripe_event_keys(jsonb) is
  'Tollgate: what an event is about, by the names pending events wait for: customer:<id> and payment:<payment '
  'intent or charge>. An event locks these names, so it and the events waiting for what it brings cannot miss each '
  'other.';
revoke execute on function tollgate._stripe_event_keys(jsonb) from public, anon, authenticated, service_role;

create or replace function tollgate._lock_stripe_keys(p_keys text[]) returns void
language plpgsql
set search_path = ''
as $$
begin
  perform pg_advisory_xact_lock(hashtextextended('tollgate.stripe:' || k, 0)) from unnest(p_keys) k order by k;
end
$$;
comment on function tollgate._lock_stripe_keys(text[]) is
  'Tollgate: holds, until the transaction ends, the locks of the Stripe objects named by p_keys (customer:<id>, '
  'payment:<id>), taken in a fixed order: webhook events and stripe-import about the same customer or payment run '
  'one after the other.';
revoke execute on function tollgate._lock_stripe_keys(text[]) from public, anon, authenticated, service_role;

create or replace function tollgate._link_stripe_customer(p_customer_id text, p_account_id uuid, p_now timestamptz)
returns void
language sql
security definer
set search_path = ''
as $$
  insert into tollgate.stripe_customers (customer_id, account_id, created_at)
  values (p_customer_id, p_account_id, p_now)
  on conflict (customer_id) do nothing
$$;
comment on function tollgate._link_stripe_customer(text, uuid, timestamptz) is
  'Tollgate: links a Stripe customer to an account, once. An account may have several customers; a customer '
  'already linked to another account stays its (the caller reads the link to report it).';
revoke execute on function tollgate._link_stripe_customer(text, uuid, timestamptz)
  from public, anon, authenticated, service_role;

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
  v_account_id uuid;
  v_owner uuid;
  v_note text;
  v_pack_id text := v_metadata ->> 'tollgate_pack_id';
  v_pack record;
  v_credits bigint;
  v_days bigint;
  v_grant jsonb;
begin
  if v_reference is not null then
    if v_reference !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
       or not exists (select 1 from tollgate.accounts a where a.id = v_reference::uuid) then
      raise exception 'Cannot apply checkout %: client_reference_id % is not a Tollgate account', v_session_id,
        v_reference using errcode = 'TGS03';
    end if;
    v_account_id := v_reference::uuid;
    if v_customer is not null then
      perform tollgate._link_stripe_customer(v_customer, v_account_id, p_now);
      select c.account_id into v_owner from tollgate.stripe_customers c where c.customer_id = v_customer;
      if v_owner <> v_account_id then
        v_note := format('Customer %s stays linked to account %s, not %s', v_customer, v_owner, v_account_id);
      end if;
    end if;
  elsif v_customer is not null then
    select c.account_id into v_account_id from tollgate.stripe_customers c where c.customer_id = v_customer;
    if v_account_id is null then
      return tollgate._stripe_outcome('pending', format('Customer %s is not linked to an account yet', v_customer),
                                    'customer:' || v_customer);
    end if;
  elsif v_metadata ?| array['credits', 'tollgate_pack_id'] then
    raise exception 'Cannot apply checkout %: no client_reference_id and no customer name the account to credit',
      v_session_id using errcode = 'TGS03';
  else
    return tollgate._stripe_outcome('ignored', 'No client_reference_id and no customer: nothing to link');
  end if;

  if v_session ->> 'mode' is distinct from 'payment' then
    return tollgate._stripe_outcome('processed', v_note);
  end if;
  -- What the payment buys is the catalogue's: the pack Tollgate named when it created the session, else the packs
  -- whose prices the session's line items list (when the payload carries them, e.g. retrieved with expand).
  if v_pack_id is not null then
    select k.id, k.credits, k.expires_after_days::bigint as days into v_pack
      from tollgate.credit_packs k where k.id = v_pack_id;
    if not found then
      raise exception 'Cannot apply checkout %: pack % is not in tollgate.credit_packs', v_session_id, v_pack_id
        using errcode = 'TGS07', detail = jsonb_build_object('pack_id', v_pack_id)::text;
    end if;
  else
    select string_agg(k.id, ',' order by k.id) as id, sum(k.credits * q.n)::bigint as credits,
           min(k.expires_after_days)::bigint as days
      into v_pack
      from jsonb_array_elements(case jsonb_typeof(v_session #> '{line_items,data}')
                                  when 'array' then v_session #> '{line_items,data}' else '[]'::jsonb end) i
      join tollgate.credit_packs k on k.stripe_price_id = tollgate._stripe_id(i -> 'price')
     cross join lateral (select case when jsonb_typeof(i -> 'quantity') = 'number'
                                     then (i ->> 'quantity')::numeric else 1 end as n) q
     where q.n between 1 and 1000 and q.n = trunc(q.n);
  end if;
  if v_pack.id is not null then
    v_credits := v_pack.credits;
    v_days := v_pack.days;
  elsif v_metadata ? 'credits' then
    -- Sessions an app created itself before packs were data: their metadata.credits is honoured only when no pack
    -- matches (docs/stripe.md, "Credit packs").
    v_credits := tollgate._stripe_metadata_count(v_metadata, 'credits', 1000000000);
    v_days := tollgate._stripe_metadata_count(v_metadata, 'credits_expire_days', 36500);
  else
    return tollgate._stripe_outcome('processed', v_note);
  end if;
  if coalesce(v_session ->> 'payment_status', '') not in ('paid', 'no_payment_required') then
    return tollgate._stripe_outcome('ignored', format(
      'Payment status is %s: the credits are granted when checkout.session.async_payment_succeeded arrives',
      coalesce(v_session ->> 'payment_status', 'missing')));
  end if;
  v_grant := tollgate._grant_lot(
    v_account_id, 'top_up', v_credits,
    tollgate._stripe_time(p_event -> 'created') + make_interval(days => v_days::int), 50,
    'top_up:stripe:' || v_session_id,
    jsonb_strip_nulls(jsonb_build_object('checkout_session_id', v_session_id, 'pack_id', v_pack.id,
                                         'payment_intent_id', tollgate._stripe_id(v_session -> 'payment_intent'))),
    p_now);
  insert into tollgate.stripe_payments (id, account_id, kind, amount, currency, lot_id, credits, payment_intent_id,
                                      event_id, created_at)
  values (v_session_id, v_account_id, 'checkout', coalesce((v_session ->> 'amount_total')::bigint, 0),
          coalesce(v_session ->> 'currency', ''), (v_grant ->> 'lot_id')::uuid, v_credits,
          tollgate._stripe_id(v_session -> 'payment_intent'), p_event ->> 'id', p_now)
  on conflict (id) do nothing;
  return tollgate._stripe_outcome('processed', v_note);
end
$$;
comment on function tollgate._apply_stripe_checkout(jsonb, timestamptz) is
  'Tollgate: checkout.session.completed / async_payment_succeeded: links client_reference_id to the customer and, '
  'for a payment-mode session that is paid (or needed no payment), grants once per session a top-up lot of what '
  'the catalogue says its pack buys (metadata.tollgate_pack_id, else its line items'' prices; TGS07 for a pack not '
  'in the catalogue) and records the payment; metadata.credits only when no pack matches (sessions apps created '
  'before packs were data). The lot''s expiry counts from the event, so it is the same in every order. '
  'Without client_reference_id the customer''s link names the account; before it exists the event waits for it.';
revoke execute on function tollgate._apply_stripe_checkout(jsonb, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._stripe_clock_skew() returns interval
language sql immutable parallel safe
set search_path = ''
as $$ select interval '1 minute' $$;
comment on function tollgate._stripe_clock_skew() is
  'Tollgate: how far Stripe''s clock (event created, listing times) and the database''s (retrievals) may differ: '
  'two subscription states stamped closer than this cannot be ordered, so the current state decides.';
revoke execute on function tollgate._stripe_clock_skew() from public, anon, authenticated, service_role;

create or replace function tollgate._stripe_subscription_unchanged(
  p_subscription jsonb, p_mirror tollgate.stripe_subscriptions
) returns boolean
language sql immutable parallel safe
set search_path = ''
as $$
  select (f.status, f.price_ids[1], f.current_period_start, f.current_period_end, f.cancel_at_period_end,
          f.trial_end, f.billing_cycle_anchor, f.quantity)
         is not distinct from
         (p_mirror.status, p_mirror.price_id, p_mirror.current_period_start, p_mirror.current_period_end,
          p_mirror.cancel_at_period_end, p_mirror.trial_end, p_mirror.billing_cycle_anchor, p_mirror.quantity)
    from tollgate._stripe_subscription_fields(p_subscription) f
$$;
comment on function tollgate._stripe_subscription_unchanged(jsonb, tollgate.stripe_subscriptions) is
  'Tollgate: whether a Subscription carries exactly the state its mirror row holds (nothing to apply).';
revoke execute on function tollgate._stripe_subscription_unchanged(jsonb, tollgate.stripe_subscriptions)
  from public, anon, authenticated, service_role;

create or replace function tollgate._stripe_current_subscription(p_current jsonb, p_subscription_id text)
returns jsonb
language plpgsql immutable
set search_path = ''
as $$
declare
  v_object jsonb;
begin
  select s into v_object from jsonb_array_elements(coalesce(p_current, '[]'::jsonb)) s
   where s ->> 'id' = p_subscription_id;
  if v_object is null then
    raise exception 'Subscription % needs its current state from the Stripe API', p_subscription_id
      using errcode = 'TGS06', detail = p_subscription_id;
  end if;
  return v_object;
end
$$;
comment on function tollgate._stripe_current_subscription(jsonb, text) is
  'Tollgate: the current state of a subscription among those the caller retrieved from the Stripe API '
  '(p_current); TGS06 asks the caller to retrieve it and call again.';
revoke execute on function tollgate._stripe_current_subscription(jsonb, text)
  from public, anon, authenticated, service_role;

create or replace function tollgate._mirror_stripe_subscription(
  p_account_id uuid, p_customer_id text, p_subscription jsonb, p_stamped_at timestamptz, p_source_id text,
  p_retrieved boolean, p_note text, p_now timestamptz
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_subscription_id text := p_subscription ->> 'id';
  v_fields record;
  v_status text;
  v_plan_id text;
begin
  select * into v_fields from tollgate._stripe_subscription_fields(p_subscription);
  select s.status into v_status from tollgate.stripe_subscriptions s where s.subscription_id = v_subscription_id;
  if v_status in ('canceled', 'incomplete_expired') and v_fields.status not in ('canceled', 'incomplete_expired') then
    return tollgate._stripe_outcome('ignored', format('Subscription %s has ended (%s): a late %s cannot revive it',
                                                    v_subscription_id, v_status, v_fields.status));
  end if;
  if v_fields.status is null or v_fields.status not in ('incomplete', 'incomplete_expired', 'trialing', 'active',
                                                         'past_due', 'canceled', 'unpaid', 'paused') then
    raise exception 'Cannot apply subscription %: status % is not one Tollgate knows', v_subscription_id,
      v_fields.status using errcode = 'TGS05';
  end if;

  select p.id into v_plan_id from tollgate.plans p
   where p.stripe_price_ids && v_fields.price_ids order by p.sort_order desc, p.id limit 1;
  if v_plan_id is null and v_fields.status in ('active', 'trialing', 'past_due') then
    raise exception 'Unknown price %: no plan lists it in plans.stripe_price_ids, so subscription % keeps its plan',
      array_to_string(v_fields.price_ids, ', '), v_subscription_id
      using errcode = 'TGS01', detail = jsonb_build_object('price_ids', v_fields.price_ids)::text;
  end if;

  insert into tollgate.stripe_subscriptions as s (
    subscription_id, account_id, customer_id, status, plan_id, price_id, current_period_start, current_period_end,
    cancel_at_period_end, trial_end, billing_cycle_anchor, last_event_created, last_event_id, retrieved_at,
    quantity, updated_at)
  values (v_subscription_id, p_account_id, p_customer_id, v_fields.status, v_plan_id, v_fields.price_ids[1],
          v_fields.current_period_start, v_fields.current_period_end, v_fields.cancel_at_period_end,
          v_fields.trial_end, v_fields.billing_cycle_anchor, p_stamped_at, p_source_id,
          case when p_retrieved then p_stamped_at end, v_fields.quantity, p_now)
  on conflict (subscription_id) do update
    set account_id = excluded.account_id, customer_id = excluded.customer_id, status = excluded.status,
        plan_id = excluded.plan_id, price_id = excluded.price_id,
        current_period_start = excluded.current_period_start, current_period_end = excluded.current_period_end,
        cancel_at_period_end = excluded.cancel_at_period_end, trial_end = excluded.trial_end,
        billing_cycle_anchor = excluded.billing_cycle_anchor, last_event_created = excluded.last_event_created,
        last_event_id = excluded.last_event_id, retrieved_at = excluded.retrieved_at, quantity = excluded.quantity,
        updated_at = excluded.updated_at;
  perform tollgate._sync_account_plan(p_account_id, p_now);
  return tollgate._stripe_outcome('processed', p_note);
end
$$;
comment on function tollgate._mirror_stripe_subscription(uuid, text, jsonb, timestamptz, text, boolean, text,
                                                         timestamptz) is
  'Tollgate: writes a subscription''s state into its mirror row, stamped with the time it holds for '
  '(p_stamped_at: its event''s created, or when it was retrieved or listed from the Stripe API, then also '
  'retrieved_at) and where it came from (p_source_id), then the account follows its subscriptions '
  '(_sync_account_plan). The one writer of stripe_subscriptions, for the webhook and stripe-import. An ended '
  'subscription (canceled, incomplete_expired) is never revived; an unknown price of a live one is TGS01.';
revoke execute on function tollgate._mirror_stripe_subscription(uuid, text, jsonb, timestamptz, text, boolean, text,
                                                                timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._apply_stripe_subscription(p_event jsonb, p_current jsonb, p_now timestamptz)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_object jsonb := p_event #> '{data,object}';
  v_subscription_id text := v_object ->> 'id';
  v_created timestamptz := tollgate._stripe_time(p_event -> 'created');
  v_customer text := tollgate._stripe_id(v_object -> 'customer');
  v_account_id uuid;
  v_existing tollgate.stripe_subscriptions;
  v_last_type text;
  v_order constant text[] := array['customer.subscription.created', 'customer.subscription.updated',
                                   'customer.subscription.deleted'];
  v_skew constant interval := tollgate._stripe_clock_skew();
  v_tie boolean := false;
begin
  select c.account_id into v_account_id from tollgate.stripe_customers c where c.customer_id = v_customer;
  if v_account_id is null then
    return tollgate._stripe_outcome('pending', format('Customer %s is not linked to an account yet',
                                                    coalesce(v_customer, '(none)')),
                                  'customer:' || coalesce(v_customer, '(none)'));
  end if;
  if v_subscription_id is null or v_subscription_id !~ '^sub_' then
    raise exception 'Cannot apply subscription event %: no subscription id', p_event ->> 'id' using errcode = 'TGS05';
  end if;

  select * into v_existing from tollgate.stripe_subscriptions s where s.subscription_id = v_subscription_id for update;
  if found then
    select e.type into v_last_type from tollgate.stripe_events e where e.id = v_existing.last_event_id;
    if v_existing.retrieved_at is not null then
      if v_created < v_existing.retrieved_at - v_skew then
        -- An older event still tells how many seats the subscription had this period (_sync_account_plan).
        perform tollgate._sync_account_plan(v_account_id, p_now);
        return tollgate._stripe_outcome('ignored', format('Older than the state of subscription %s retrieved at %s',
                                                        v_subscription_id, v_existing.retrieved_at));
      end if;
      v_tie := v_created <= v_existing.retrieved_at + v_skew;
    elsif v_created < v_existing.last_event_created
          or (v_created = v_existing.last_event_created
              and array_position(v_order, p_event ->> 'type') < array_position(v_order, v_last_type)) then
      perform tollgate._sync_account_plan(v_account_id, p_now);
      return tollgate._stripe_outcome('ignored', format('Older than event %s, already applied to subscription %s',
                                                      v_existing.last_event_id, v_subscription_id));
    elsif v_created = v_existing.last_event_created
          and array_position(v_order, p_event ->> 'type') = array_position(v_order, v_last_type) then
      if tollgate._stripe_subscription_unchanged(v_object, v_existing) then
        return tollgate._stripe_outcome('ignored', format('Same state as event %s of the same second',
                                                        v_existing.last_event_id));
      end if;
      v_tie := true;
    end if;
  end if;
  if v_tie then
    return tollgate._mirror_stripe_subscription(
      v_account_id, v_customer, tollgate._stripe_current_subscription(p_current, v_subscription_id), p_now,
      p_event ->> 'id', true, format('Same-second events: applied the state retrieved from the Stripe API at %s', p_now),
      p_now);
  end if;
  return tollgate._mirror_stripe_subscription(v_account_id, v_customer, v_object, v_created, p_event ->> 'id', false,
                                              null, p_now);
end
$$;
comment on function tollgate._apply_stripe_subscription(jsonb, jsonb, timestamptz) is
  'Tollgate: customer.subscription.created / updated / deleted: mirrors the subscription unless the event is older '
  'than the state already mirrored, then the account follows its subscriptions (_sync_account_plan). Stripe stamps '
  'events in whole seconds: within one second created < updated < deleted, and two updates carrying different '
  'states cannot be ordered, so the subscription''s current state from the Stripe API (p_current, retrieved by the '
  'webhook when this raises TGS06) is applied instead. A state retrieved (or listed by stripe-import) at time r '
  'settles every event created up to a minute around r the same way (clocks differ by less than that, '
  '_stripe_clock_skew). An ended subscription (canceled, incomplete_expired) is never revived by a late event.';
revoke execute on function tollgate._apply_stripe_subscription(jsonb, jsonb, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._apply_stripe_invoice(p_event jsonb, p_now timestamptz) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_invoice jsonb := p_event #> '{data,object}';
  v_customer text := tollgate._stripe_id(v_invoice -> 'customer');
  v_account_id uuid;
  v_failure tollgate.stripe_payment_failures;
begin
  select c.account_id into v_account_id from tollgate.stripe_customers c where c.customer_id = v_customer;
  if v_account_id is null then
    if v_customer is null then
      return tollgate._stripe_outcome('ignored', 'The invoice has no customer');
    end if;
    return tollgate._stripe_outcome('pending', format('Customer %s is not linked to an account yet', v_customer),
                                  'customer:' || v_customer);
  end if;
  if p_event ->> 'type' = 'invoice.paid' then
    insert into tollgate.stripe_payments (id, account_id, kind, amount, currency, payment_intent_id, event_id, created_at)
    values (v_invoice ->> 'id', v_account_id, 'invoice', coalesce((v_invoice ->> 'amount_paid')::bigint, 0),
            coalesce(v_invoice ->> 'currency', ''), tollgate._stripe_invoice_payment_intent(v_invoice),
            p_event ->> 'id', p_now)
    on conflict (id) do nothing;
  else
    insert into tollgate.stripe_payment_failures (id, account_id, invoice_id, amount, currency, attempt_count,
                                                next_payment_attempt, event_id, created_at)
    values ((v_invoice ->> 'id') || ':' || coalesce(v_invoice ->> 'attempt_count', '0'), v_account_id, v_invoice ->> 'id',
            coalesce((v_invoice ->> 'amount_due')::bigint, 0), coalesce(v_invoice ->> 'currency', ''),
            (v_invoice ->> 'attempt_count')::integer, tollgate._stripe_time(v_invoice -> 'next_payment_attempt'),
            p_event ->> 'id', p_now)
    on conflict (id) do nothing
    returning * into v_failure;
  end if;
  if not found then
    return tollgate._stripe_outcome('ignored', format('Invoice %s is already recorded', v_invoice ->> 'id'));
  end if;
  if v_failure.id is not null then
    perform tollgate._emit_event(v_account_id, 'payment.failed', jsonb_build_object(
      'invoice_id', v_failure.invoice_id, 'amount', v_failure.amount, 'currency', v_failure.currency,
      'attempt_count', v_failure.attempt_count, 'next_payment_attempt', v_failure.next_payment_attempt,
      'subscription_id', tollgate._stripe_invoice_subscription(v_invoice)), v_failure.id, p_now);
  end if;
  return tollgate._stripe_outcome('processed');
end
$$;
comment on function tollgate._apply_stripe_invoice(jsonb, timestamptz) is
  'Tollgate: invoice.paid -> a payment row; invoice.payment_failed -> a failure row and a payment.failed event per '
  '(invoice, attempt). Both once, and both wait for the customer''s link.';
revoke execute on function tollgate._apply_stripe_invoice(jsonb, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._apply_stripe_event(p_event jsonb, p_current jsonb, p_now timestamptz)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform tollgate._lock_stripe_keys(tollgate._stripe_event_keys(p_event));
  return case
    when p_event ->> 'type' in ('checkout.session.completed', 'checkout.session.async_payment_succeeded')
      then tollgate._apply_stripe_checkout(p_event, p_now)
    when p_event ->> 'type' in ('customer.subscription.created', 'customer.subscription.updated',
                                'customer.subscription.deleted')
      then tollgate._apply_stripe_subscription(p_event, p_current, p_now)
    when p_event ->> 'type' in ('invoice.paid', 'invoice.payment_failed') then tollgate._apply_stripe_invoice(p_event, p_now)
    when p_event ->> 'type' in ('price.created', 'price.updated', 'price.deleted', 'product.created',
                                'product.updated', 'product.deleted')
      then tollgate._apply_stripe_catalogue(p_event)
    when p_event ->> 'type' = 'charge.refunded' then tollgate._apply_stripe_refund(p_event, p_now)
    when p_event ->> 'type' in ('charge.dispute.created', 'charge.dispute.funds_withdrawn',
                                'charge.dispute.funds_reinstated', 'charge.dispute.closed')
      then tollgate._apply_stripe_dispute(p_event, p_now)
    else tollgate._stripe_outcome('ignored', format('Event type %s is not handled', p_event ->> 'type'))
  end;
exception
  when sqlstate 'TGS01' or sqlstate 'TGS03' or sqlstate 'TGS05' or sqlstate 'TGS07' or sqlstate 'TG404' then
    return tollgate._stripe_outcome('failed', sqlerrm);
end
$$;
comment on function tollgate._apply_stripe_event(jsonb, jsonb, timestamptz) is
  'Tollgate: applies one stored event by type, holding the locks of what it is about. Business errors mark it '
  'failed with their message and roll back its effects only (the event itself stays stored); TGS06 and anything '
  'unexpected abort the whole call.';
revoke execute on function tollgate._apply_stripe_event(jsonb, jsonb, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._record_stripe_outcome(p_event_id text, p_outcome jsonb, p_now timestamptz)
returns void
language sql
security definer
set search_path = ''
as $$
  update tollgate.stripe_events
     set status = p_outcome ->> 'status', error = p_outcome ->> 'reason', waits_for = p_outcome ->> 'waits_for',
         processed_at = case when p_outcome ->> 'status' = 'pending' then null else p_now end
   where id = p_event_id
$$;
comment on function tollgate._record_stripe_outcome(text, jsonb, timestamptz) is
  'Tollgate: stores an applied Stripe event''s status, reason and what it waits for.';
revoke execute on function tollgate._record_stripe_outcome(text, jsonb, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._apply_waiting_stripe_events(p_keys text[], p_current jsonb, p_now timestamptz)
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
    select e.id, e.payload into v_next from tollgate.stripe_events e
     where e.status = 'pending' and e.waits_for = any(v_keys) and e.id <> all(v_tried)
     order by e.created, e.id
     limit 1;
    exit when not found;
    v_tried := v_tried || v_next.id;
    v_outcome := tollgate._apply_stripe_event(v_next.payload, p_current, p_now);
    perform tollgate._record_stripe_outcome(v_next.id, v_outcome, p_now);
    if v_outcome ->> 'status' <> 'pending' then
      v_applied := v_applied + 1;
      v_keys := v_keys || tollgate._stripe_event_keys(v_next.payload);
    end if;
  end loop;
  return v_applied;
end
$$;
comment on function tollgate._apply_waiting_stripe_events(text[], jsonb, timestamptz) is
  'Tollgate: applies, oldest first, the pending events waiting for any of p_keys, and then those waiting for what '
  'the applied ones bring (a checkout that waited for its customer brings its payment''s refunds). Returns how many '
  'were applied.';
revoke execute on function tollgate._apply_waiting_stripe_events(text[], jsonb, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate._handle_stripe_event(
  p_event jsonb, p_livemode boolean, p_current jsonb, p_now timestamptz
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_id text := p_event ->> 'id';
  v_created timestamptz := tollgate._stripe_time(p_event -> 'created');
  v_event tollgate.stripe_events;
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
    insert into tollgate.stripe_events (id, type, created, customer_id, payload, received_at)
    values (v_id, p_event ->> 'type', v_created, tollgate._stripe_id(p_event #> '{data,object,customer}'), p_event, p_now)
    on conflict (id) do nothing
    returning * into v_event;
    if not found then
      update tollgate.stripe_events e set attempts = e.attempts + 1 where e.id = v_id returning * into v_event;
      if v_event.status in ('processed', 'ignored', 'refused') then
        return jsonb_build_object('status', 'duplicate', 'event_id', v_id, 'previous_status', v_event.status);
      end if;
    end if;
    if (v_event.payload ->> 'livemode')::boolean <> p_livemode then
      v_outcome := tollgate._stripe_outcome('refused', format(
        'A %s event on a %s deployment (STRIPE_SECRET_KEY): stored, never applied',
        case when p_livemode then 'test-mode' else 'livemode' end, case when p_livemode then 'live' else 'test-mode' end));
      perform tollgate._record_stripe_outcome(v_id, v_outcome, p_now);
      return v_outcome || jsonb_build_object('event_id', v_id);
    end if;

    -- New, or stored pending or failed before: apply the stored payload.
    v_outcome := tollgate._apply_stripe_event(v_event.payload, p_current, p_now);
    perform tollgate._record_stripe_outcome(v_id, v_outcome, p_now);
    v_applied := case when v_outcome ->> 'status' = 'pending' then 0
                      else tollgate._apply_waiting_stripe_events(tollgate._stripe_event_keys(v_event.payload), p_current,
                                                               p_now) end;
    return v_outcome || jsonb_build_object('event_id', v_id, 'pending_applied', v_applied);
  exception when sqlstate 'TGS06' then
    get stacked diagnostics v_subscription = pg_exception_detail;
    return jsonb_build_object('status', 'retrieve', 'event_id', v_id, 'subscription_id', v_subscription);
  end;
end
$$;
comment on function tollgate._handle_stripe_event(jsonb, boolean, jsonb, timestamptz) is
  'Tollgate: the implementation of handle_stripe_event at a given time (pgTAP pins it). One transaction: store once '
  'by id (a redelivery of a processed, ignored or refused event only counts the attempt), refuse an event of the '
  'other mode (p_livemode: the configured key''s), apply, record the outcome, then apply what waited for it. When a '
  'subscription''s current state is needed nothing is kept and the answer is {"status": "retrieve", '
  '"subscription_id": ...}: the caller retrieves it and calls again with it in p_current.';
revoke execute on function tollgate._handle_stripe_event(jsonb, boolean, jsonb, timestamptz)
  from public, anon, authenticated, service_role;

create or replace function tollgate.handle_stripe_event(
  p_event jsonb, p_livemode boolean, p_subscriptions jsonb default '[]'::jsonb
) returns jsonb
language sql
security definer
set search_path = ''
as $$ select tollgate._handle_stripe_event(p_event, p_livemode, p_subscriptions, now()) $$;
comment on function tollgate.handle_stripe_event(jsonb, boolean, jsonb) is
  'Tollgate: the webhook''s one SQL call: service role only, since it moves money. p_livemode is the mode of the '
  'configured STRIPE_SECRET_KEY; p_subscriptions the current states the webhook retrieved after a "retrieve" '
  'answer.';
revoke execute on function tollgate.handle_stripe_event(jsonb, boolean, jsonb) from public, anon, authenticated;
grant execute on function tollgate.handle_stripe_event(jsonb, boolean, jsonb) to service_role;

-- Checkout and the customer portal: create-checkout-session and create-portal-session ask these (as the service
-- role, naming the user their token verified) who may start them, what is bought and which customer pays.

create or replace function tollgate._billing_manager(p_account_id uuid, p_user_id uuid, p_action text) returns uuid
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  v_acting record;
begin
  -- A named user who is not a member gets the same answer whether or not the account exists.
  if p_user_id is not null and p_account_id is not null
     and not exists (select 1 from tollgate.account_members m
                      where m.account_id = p_account_id and m.user_id = p_user_id) then
    raise exception 'Forbidden: you are not a member of account %', p_account_id using errcode = 'TG403';
  end if;
  select * into v_acting from tollgate._acting_member(p_account_id, p_user_id);
  if v_acting.role is not null and v_acting.role not in ('owner', 'admin') then
    raise exception 'Cannot %: only owners and admins of account % may', p_action, v_acting.account_id
      using errcode = 'TGC03';
  end if;
  if not exists (select 1 from tollgate.accounts a where a.id = v_acting.account_id) then
    raise exception 'No account %', v_acting.account_id
      using errcode = 'TG404', detail = jsonb_build_object('account_id', v_acting.account_id)::text;
  end if;
  return v_acting.account_id;
end
$$;
comment on function tollgate._billing_manager(uuid, uuid, text) is
  'Tollgate: the account a checkout or portal session is for (_acting_member: default the user''s personal '
  'account), refused unless the acting member is its owner or admin (TGC03; the service role naming no member of '
  'a team acts for it); TG403 for a user who is not a member, TG404 for no such account.';
revoke execute on function tollgate._billing_manager(uuid, uuid, text) from public, anon, authenticated, service_role;

create or replace function tollgate._account_customer(p_account_id uuid) returns text
language sql stable
security definer
set search_path = ''
as $$
  select c.customer_id from tollgate.stripe_customers c
   where c.account_id = p_account_id
   order by exists (select 1 from tollgate.stripe_subscriptions s
                     where s.customer_id = c.customer_id and s.status in ('active', 'trialing', 'past_due')) desc,
            c.created_at desc, c.customer_id
   limit 1
$$;
comment on function tollgate._account_customer(uuid) is
  'Tollgate: the Stripe customer an account pays with: the one with a live subscription, else the newest linked.';
revoke execute on function tollgate._account_customer(uuid) from public, anon, authenticated, service_role;

create or replace function tollgate.checkout_target(
  p_account_id uuid, p_user_id uuid, p_plan_id text default null, p_pack_id text default null,
  p_price_id text default null
) returns jsonb
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  v_account_id uuid := tollgate._billing_manager(p_account_id, p_user_id, 'start a checkout');
  v_account tollgate.accounts;
  v_plan tollgate.plans;
  v_pack tollgate.credit_packs;
  v_price_id text;
  v_price tollgate.stripe_prices;
  v_live record;
  v_trial_days integer;
begin
  if (p_plan_id is null) = (p_pack_id is null) then
    raise exception 'Cannot start a checkout: name either a plan_id or a pack_id' using errcode = 'TG400';
  end if;
  if p_plan_id is not null then
    select * into v_plan from tollgate.plans where id = p_plan_id;
    if not found then
      raise exception 'Cannot start a checkout: no plan %', p_plan_id
        using errcode = 'TGC01', detail = jsonb_build_object('plan_id', p_plan_id)::text;
    end if;
    if cardinality(v_plan.stripe_price_ids) = 0 then
      raise exception 'Cannot start a checkout: plan % has no Stripe price (plans.stripe_price_ids)', p_plan_id
        using errcode = 'TGC02', detail = jsonb_build_object('plan_id', p_plan_id)::text;
    end if;
    v_price_id := coalesce(p_price_id, v_plan.stripe_price_ids[1]);
    -- A second live subscription would bill twice: plans change in the customer portal.
    select s.subscription_id, s.status into v_live from tollgate.stripe_subscriptions s
     where s.account_id = v_account_id and s.status in ('active', 'trialing', 'past_due')
     order by s.subscription_id limit 1;
    if found then
      raise exception 'Cannot start a subscription checkout: account % already has subscription % (%); change '
        'plans in the customer portal', v_account_id, v_live.subscription_id, v_live.status
        using errcode = 'TGC05', detail = jsonb_build_object('subscription_id', v_live.subscription_id)::text;
    end if;
    -- A trial only for an account that never had one: trial credits are once per account, ever, and so is the
    -- free period.
    if v_plan.trial_days > 0
       and not exists (select 1 from tollgate.credit_lots l where l.account_id = v_account_id and l.grant_key = 'trial')
       and not exists (select 1 from tollgate.stripe_subscriptions s
                        where s.account_id = v_account_id and s.trial_end is not null) then
      v_trial_days := v_plan.trial_days;
    end if;
  else
    select * into v_pack from tollgate.credit_packs where id = p_pack_id and active;
    if not found then
      raise exception 'Cannot start a checkout: no active pack %', p_pack_id
        using errcode = 'TGC01', detail = jsonb_build_object('pack_id', p_pack_id)::text;
    end if;
    v_price_id := coalesce(p_price_id, v_pack.stripe_price_id);
  end if;
  if v_price_id <> all(coalesce(v_plan.stripe_price_ids, array[v_pack.stripe_price_id])) then
    raise exception 'Cannot start a checkout: price % is not one of %''s', v_price_id, coalesce(p_plan_id, p_pack_id)
      using errcode = 'TG400';
  end if;
  select * into v_price from tollgate.stripe_prices where price_id = v_price_id;
  if not v_price.active
     or exists (select 1 from tollgate.stripe_products d where d.product_id = v_price.product_id and not d.active) then
    raise exception 'Cannot start a checkout: price % is not active in Stripe', v_price_id
      using errcode = 'TGC02', detail = jsonb_build_object('price_id', v_price_id)::text;
  end if;
  select * into strict v_account from tollgate.accounts where id = v_account_id;
  return jsonb_build_object(
    'account_id', v_account_id,
    'customer_id', tollgate._account_customer(v_account_id),
    'email', (select u.email from auth.users u where u.id = v_account.personal_user_id),
    'name', v_account.name,
    'mode', case when p_plan_id is not null then 'subscription' else 'payment' end,
    'plan_id', p_plan_id,
    'pack_id', p_pack_id,
    'price_id', v_price_id,
    'price_known', v_price.price_id is not null,
    'trial_days', v_trial_days);
end
$$;
comment on function tollgate.checkout_target(uuid, uuid, text, text, text) is
  'Tollgate: what create-checkout-session needs to start a session, after checking the acting member may '
  '(_billing_manager): the account, its Stripe customer (null: none yet), the price (p_price_id must be one of the '
  'plan''s, default its first), the mode, and the plan''s trial days when the account never had a trial. TGC01 no '
  'such plan or active pack, TGC02 no price or one Stripe reports inactive, TGC05 a subscription checkout for an '
  'account that already has a live subscription. Service role only.';
revoke execute on function tollgate.checkout_target(uuid, uuid, text, text, text) from public, anon, authenticated;
grant execute on function tollgate.checkout_target(uuid, uuid, text, text, text) to service_role;

create or replace function tollgate.link_stripe_customer(p_account_id uuid, p_customer_id text) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  if p_customer_id is null or p_customer_id !~ '^cus_' then
    raise exception 'Cannot link customer %: not a Stripe customer id', p_customer_id using errcode = 'TG400';
  end if;
  perform tollgate._lock_account(p_account_id);
  perform tollgate._link_stripe_customer(p_customer_id, p_account_id, now());
  if (select c.account_id from tollgate.stripe_customers c where c.customer_id = p_customer_id) <> p_account_id then
    raise exception 'Cannot link customer %: it belongs to another account', p_customer_id using errcode = 'TG409';
  end if;
end
$$;
comment on function tollgate.link_stripe_customer(uuid, text) is
  'Tollgate: links the Stripe customer create-checkout-session created for an account before its first session, '
  'so the webhook never waits for the link; again is a no-op, a customer of another account TG409. Service role '
  'only.';
revoke execute on function tollgate.link_stripe_customer(uuid, text) from public, anon, authenticated;
grant execute on function tollgate.link_stripe_customer(uuid, text) to service_role;

create or replace function tollgate.portal_customer(p_account_id uuid, p_user_id uuid) returns text
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  v_account_id uuid := tollgate._billing_manager(p_account_id, p_user_id, 'open the billing portal');
  v_customer text := tollgate._account_customer(v_account_id);
begin
  if v_customer is null then
    raise exception 'Cannot open the billing portal: account % has no Stripe customer yet', v_account_id
      using errcode = 'TGC04', detail = jsonb_build_object('account_id', v_account_id)::text;
  end if;
  return v_customer;
end
$$;
comment on function tollgate.portal_customer(uuid, uuid) is
  'Tollgate: the Stripe customer create-portal-session opens the portal for, after checking the acting member may '
  '(_billing_manager); TGC04 when the account has none. Service role only.';
revoke execute on function tollgate.portal_customer(uuid, uuid) from public, anon, authenticated;
grant execute on function tollgate.portal_customer(uuid, uuid) to service_role;
