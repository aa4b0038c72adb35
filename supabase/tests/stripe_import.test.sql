-- tollgate._import_stripe_customer (stripe-import) at pinned times (listing 2027-03-10 12:00Z): linking, mirroring
-- and the plan through the webhook's SQL, a second run changing nothing, unmapped, conflicting and unknown
-- accounts, a failed subscription beside an applied one, and the order against webhook events: newer events win,
-- older ones do not, too close to tell retrieves the current state, events waiting for the link are applied.
begin;
select plan(39);

create function pg_temp.at(p_time timestamptz) returns bigint language sql as $$ select extract(epoch from p_time)::bigint $$;
create function pg_temp.sub(p_id text, p_customer text, p_price text, p_status text default 'active')
returns jsonb language sql as $$
  select jsonb_build_object(
    'id', p_id, 'object', 'subscription', 'customer', p_customer, 'status', p_status,
    'billing_cycle_anchor', pg_temp.at('2027-03-05'), 'cancel_at_period_end', false, 'trial_end', null,
    'items', jsonb_build_object('object', 'list', 'data', jsonb_build_array(jsonb_build_object(
      'id', 'si_' || p_id, 'object', 'subscription_item', 'price', jsonb_build_object('id', p_price),
      'current_period_start', pg_temp.at('2027-03-05'), 'current_period_end', pg_temp.at('2027-04-05')))))
$$;
create function pg_temp.evt(p_id text, p_type text, p_created timestamptz, p_object jsonb) returns jsonb
language sql as $$
  select jsonb_build_object('id', p_id, 'object', 'event', 'created', pg_temp.at(p_created), 'type', p_type,
                            'livemode', false, 'data', jsonb_build_object('object', p_object))
$$;
create function pg_temp.import(p_customer text, p_account uuid, p_subscriptions jsonb,
                               p_listed_at timestamptz default '2027-03-10 12:00Z', p_current jsonb default '[]',
                               p_now timestamptz default '2027-03-10 12:00:05Z') returns jsonb
language sql as $$
  select tollgate._import_stripe_customer(p_customer, p_account, p_subscriptions, p_listed_at, p_current, p_now)
$$;
create function pg_temp.handle(p_event jsonb, p_now timestamptz default '2027-03-10 12:30Z') returns jsonb
language sql as $$ select tollgate._handle_stripe_event(p_event, false, '[]', p_now) $$;
create function pg_temp.mirror(p_id text) returns text language sql as $$
  select s.status || ' ' || coalesce(s.plan_id, '-') || ' ' || s.last_event_id from tollgate.stripe_subscriptions s
   where s.subscription_id = p_id
$$;
create function pg_temp.plan(p_account uuid) returns text language sql as $$
  select plan_id || ' ' || balance from tollgate.accounts where id = p_account
$$;
create temp table books as select * from tollgate.credit_ledger limit 0;

update tollgate.plans set stripe_price_ids = '{price_pro}' where id = 'pro';
update tollgate.plans set stripe_price_ids = '{price_business}' where id = 'business';
insert into auth.users (id, email) values
  ('e1000000-0000-4000-8000-000000000001', 'import@example.com'),
  ('e2000000-0000-4000-8000-000000000002', 'newer@example.com'),
  ('e3000000-0000-4000-8000-000000000003', 'older@example.com'),
  ('e4000000-0000-4000-8000-000000000004', 'tie@example.com'),
  ('e5000000-0000-4000-8000-000000000005', 'waiting@example.com'),
  ('e6000000-0000-4000-8000-000000000006', 'other@example.com');

-- ---------------------------------------------------------------------------------------------------------------
-- Who may call it
-- ---------------------------------------------------------------------------------------------------------------
select ok(not has_function_privilege('anon', 'tollgate.import_stripe_customer(text, uuid, jsonb, timestamptz, jsonb)',
  'execute'), 'anon cannot import');
select ok(not has_function_privilege('authenticated',
  'tollgate.import_stripe_customer(text, uuid, jsonb, timestamptz, jsonb)', 'execute'),
  'a signed-in user cannot import (it moves money)');
select ok(has_function_privilege('service_role', 'tollgate.import_stripe_customer(text, uuid, jsonb, timestamptz, jsonb)',
  'execute'), 'the service role can');
select ok(not has_function_privilege('service_role',
  'tollgate._import_stripe_customer(text, uuid, jsonb, timestamptz, jsonb, timestamptz)', 'execute'),
  'the pinned implementation is internal');

-- ---------------------------------------------------------------------------------------------------------------
-- A customer with an active and a canceled subscription, imported twice
-- ---------------------------------------------------------------------------------------------------------------
select is(pg_temp.import('cus_e1', 'e1000000-0000-4000-8000-000000000001',
  jsonb_build_array(pg_temp.sub('sub_e1_old', 'cus_e1', 'price_business', 'canceled'),
                    pg_temp.sub('sub_e1', 'cus_e1', 'price_pro'))),
  '{"status": "imported", "customer_id": "cus_e1", "account_id": "e1000000-0000-4000-8000-000000000001",
    "linked": true, "pending_applied": 0,
    "subscriptions": [{"subscription_id": "sub_e1", "status": "processed"},
                      {"subscription_id": "sub_e1_old", "status": "processed"}]}'::jsonb,
  'the first import links the customer and mirrors both subscriptions');
select results_eq($$ select account_id from tollgate.stripe_customers where customer_id = 'cus_e1' $$,
  $$ values ('e1000000-0000-4000-8000-000000000001'::uuid) $$, 'the customer is linked to the named account');
select results_eq($$ select pg_temp.mirror('sub_e1'), pg_temp.mirror('sub_e1_old') $$,
  $$ values ('active pro stripe-import', 'canceled business stripe-import') $$,
  'the subscriptions are mirrored, from the import');
select results_eq($$ select last_event_created, retrieved_at from tollgate.stripe_subscriptions
                     where subscription_id = 'sub_e1' $$,
  $$ values ('2027-03-10 12:00Z'::timestamptz, '2027-03-10 12:00Z'::timestamptz) $$,
  'stamped with the listing time, as a state retrieved then');
select is(pg_temp.plan('e1000000-0000-4000-8000-000000000001'), 'pro 500',
  'the account follows the live subscription, as the webhook would make it: pro with its allowance');
insert into books select * from tollgate.credit_ledger where account_id = 'e1000000-0000-4000-8000-000000000001';

select is(pg_temp.import('cus_e1', 'e1000000-0000-4000-8000-000000000001',
  jsonb_build_array(pg_temp.sub('sub_e1', 'cus_e1', 'price_pro'),
                    pg_temp.sub('sub_e1_old', 'cus_e1', 'price_business', 'canceled')),
  '2027-03-10 13:00Z', '[]', '2027-03-10 13:00:05Z'),
  '{"status": "unchanged", "customer_id": "cus_e1", "account_id": "e1000000-0000-4000-8000-000000000001",
    "linked": false, "pending_applied": 0,
    "subscriptions": [{"subscription_id": "sub_e1", "status": "unchanged"},
                      {"subscription_id": "sub_e1_old", "status": "unchanged"}]}'::jsonb,
  'a second run an hour later changes nothing');
select results_eq($$ select last_event_created, updated_at from tollgate.stripe_subscriptions
                     where subscription_id = 'sub_e1' $$,
  $$ values ('2027-03-10 12:00Z'::timestamptz, '2027-03-10 12:00:05Z'::timestamptz) $$,
  'the mirror row is not even rewritten');
select set_eq($$ select * from tollgate.credit_ledger where account_id = 'e1000000-0000-4000-8000-000000000001' $$,
  $$ select * from books $$, 'and the ledger has no new row');
select is(pg_temp.import('cus_e1', null, '[]'), '{"status": "unchanged", "customer_id": "cus_e1",
  "account_id": "e1000000-0000-4000-8000-000000000001", "linked": false, "pending_applied": 0,
  "subscriptions": []}'::jsonb, 'a linked customer needs no mapping: its link names the account');

-- ---------------------------------------------------------------------------------------------------------------
-- What is not imported: unmapped, conflicting, unknown account, malformed, a failing subscription
-- ---------------------------------------------------------------------------------------------------------------
select is(pg_temp.import('cus_nobody', null, jsonb_build_array(pg_temp.sub('sub_nobody', 'cus_nobody', 'price_pro'))),
  '{"status": "unmapped", "customer_id": "cus_nobody",
    "reason": "No account named for it, and it is not linked to one"}'::jsonb,
  'a customer no one names and no link knows is unmapped, not guessed');
select is(pg_temp.import('cus_e1', 'e6000000-0000-4000-8000-000000000006', '[]') ->> 'status', 'conflict',
  'a customer linked to another account than the one named is a conflict');
select is(pg_temp.import('cus_ghost', '99999999-0000-4000-8000-000000000009', '[]') ->> 'reason',
  'No Tollgate account 99999999-0000-4000-8000-000000000009: nothing imported', 'an account that does not exist fails');
select is((select count(*)::int from tollgate.stripe_customers where customer_id in ('cus_nobody', 'cus_ghost')) +
          (select count(*)::int from tollgate.stripe_subscriptions where subscription_id = 'sub_nobody') +
          (select count(*)::int from tollgate.stripe_customers where account_id = 'e6000000-0000-4000-8000-000000000006'),
  0, 'none of them linked or mirrored anything');
select throws_ok($$ select pg_temp.import('not-a-customer', null, '[]') $$, 'TGS02', null,
  'a malformed customer id is refused');
select throws_ok($$ select pg_temp.import('cus_e1', null, '{"id": "sub_x"}') $$, 'TGS02', null,
  'subscriptions that are not an array are refused');
select is(pg_temp.import('cus_e6', 'e6000000-0000-4000-8000-000000000006',
  jsonb_build_array(pg_temp.sub('sub_e6_unknown', 'cus_e6', 'price_unknown'),
                    pg_temp.sub('sub_e6_foreign', 'cus_other', 'price_pro'),
                    pg_temp.sub('sub_e6', 'cus_e6', 'price_business'))) -> 'subscriptions',
  '[{"subscription_id": "sub_e6", "status": "processed"},
    {"subscription_id": "sub_e6_foreign", "status": "failed",
     "reason": "Cannot import subscription sub_e6_foreign: it belongs to customer cus_other, not cus_e6"},
    {"subscription_id": "sub_e6_unknown", "status": "failed",
     "reason": "Unknown price price_unknown: no plan lists it in plans.stripe_price_ids, so subscription sub_e6_unknown keeps its plan"}]'::jsonb,
  'a subscription with an unknown price or of another customer fails alone; the others are applied');
select results_eq($$ select pg_temp.plan('e6000000-0000-4000-8000-000000000006'),
                            (select count(*)::int from tollgate.stripe_subscriptions where account_id = 'e6000000-0000-4000-8000-000000000006') $$,
  $$ values ('business 2500', 1) $$, 'only the good one is mirrored, and the plan follows it');

-- ---------------------------------------------------------------------------------------------------------------
-- Against webhook events: the newer state wins, whichever arrives first
-- ---------------------------------------------------------------------------------------------------------------
select is(pg_temp.handle(pg_temp.evt('evt_e2_link', 'checkout.session.completed', '2027-03-10 11:00Z',
  '{"id": "cs_e2", "object": "checkout.session", "mode": "subscription", "payment_status": "paid",
    "customer": "cus_e2", "client_reference_id": "e2000000-0000-4000-8000-000000000002"}')) ->> 'status', 'processed',
  'a checkout links a second customer');
select is(pg_temp.handle(pg_temp.evt('evt_e2_upgrade', 'customer.subscription.updated', '2027-03-10 12:10Z',
  pg_temp.sub('sub_e2', 'cus_e2', 'price_business'))) ->> 'status', 'processed',
  'an upgrade event created ten minutes after the listing is applied first');
select is(pg_temp.import('cus_e2', 'e2000000-0000-4000-8000-000000000002',
  jsonb_build_array(pg_temp.sub('sub_e2', 'cus_e2', 'price_pro')), p_now => '2027-03-10 12:30:05Z')
  -> 'subscriptions' -> 0 ->> 'status', 'ignored', 'the import of the older listed state is ignored');
select results_eq($$ select pg_temp.mirror('sub_e2'), pg_temp.plan('e2000000-0000-4000-8000-000000000002') $$,
  $$ values ('active business evt_e2_upgrade', 'business 2500') $$, 'the newer event''s state stays');

select is(pg_temp.import('cus_e3', 'e3000000-0000-4000-8000-000000000003',
  jsonb_build_array(pg_temp.sub('sub_e3', 'cus_e3', 'price_business'))) ->> 'status', 'imported',
  'another customer is imported on business');
select is(pg_temp.handle(pg_temp.evt('evt_e3_late', 'customer.subscription.updated', '2027-03-10 11:50Z',
  pg_temp.sub('sub_e3', 'cus_e3', 'price_pro'))) ->> 'status', 'ignored',
  'a webhook event created ten minutes before the listing, delivered late, is ignored');
select is(pg_temp.handle(pg_temp.evt('evt_e3_cancel', 'customer.subscription.deleted', '2027-03-10 12:20Z',
  pg_temp.sub('sub_e3', 'cus_e3', 'price_business', 'canceled'))) ->> 'status', 'processed',
  'one created after the listing is applied');
select results_eq($$ select pg_temp.mirror('sub_e3'), pg_temp.plan('e3000000-0000-4000-8000-000000000003') $$,
  $$ values ('canceled business evt_e3_cancel', 'free 3') $$, 'the subscription ended and the account fell back');

-- ---------------------------------------------------------------------------------------------------------------
-- Too close to tell: the current state decides
-- ---------------------------------------------------------------------------------------------------------------
select is(pg_temp.handle(pg_temp.evt('evt_e4_link', 'checkout.session.completed', '2027-03-10 11:00Z',
  '{"id": "cs_e4", "object": "checkout.session", "mode": "subscription", "payment_status": "paid",
    "customer": "cus_e4", "client_reference_id": "e4000000-0000-4000-8000-000000000004"}')) ->> 'status', 'processed',
  'a checkout links a fourth customer');
select is(pg_temp.handle(pg_temp.evt('evt_e4_sub', 'customer.subscription.created', '2027-03-10 12:00:20Z',
  pg_temp.sub('sub_e4', 'cus_e4', 'price_pro'))) ->> 'status', 'processed',
  'an event 20 seconds after the listing is applied');
select is(pg_temp.import('cus_e4', 'e4000000-0000-4000-8000-000000000004',
  jsonb_build_array(pg_temp.sub('sub_e4', 'cus_e4', 'price_business'))),
  '{"status": "retrieve", "customer_id": "cus_e4", "subscription_id": "sub_e4"}'::jsonb,
  'an import of another state listed within a minute of it asks for the current state, keeping nothing');
select is(pg_temp.import('cus_e4', 'e4000000-0000-4000-8000-000000000004',
  jsonb_build_array(pg_temp.sub('sub_e4', 'cus_e4', 'price_business')),
  p_current => jsonb_build_array(pg_temp.sub('sub_e4', 'cus_e4', 'price_pro', 'past_due')))
  -> 'subscriptions' -> 0 ->> 'status', 'processed', 'called again with it, it applies the current state');
select results_eq($$ select pg_temp.mirror('sub_e4'), retrieved_at from tollgate.stripe_subscriptions
                     where subscription_id = 'sub_e4' $$,
  $$ values ('past_due pro stripe-import', '2027-03-10 12:00:05Z'::timestamptz) $$,
  'the retrieved state, stamped with when it was retrieved');

-- ---------------------------------------------------------------------------------------------------------------
-- Webhook events that waited for the customer's link
-- ---------------------------------------------------------------------------------------------------------------
select is(pg_temp.handle(pg_temp.evt('evt_e5_old', 'customer.subscription.updated', '2027-03-10 09:00Z',
  pg_temp.sub('sub_e5', 'cus_e5', 'price_business')), '2027-03-10 09:00Z') ->> 'status', 'pending',
  'an event of a customer no checkout linked waits for the link');
select is(pg_temp.handle(pg_temp.evt('evt_e5_new', 'customer.subscription.updated', '2027-03-10 12:05Z',
  pg_temp.sub('sub_e5', 'cus_e5', 'price_pro', 'past_due')), '2027-03-10 12:05Z') ->> 'status', 'pending',
  'and so does a newer one');
select is(pg_temp.import('cus_e5', 'e5000000-0000-4000-8000-000000000005',
  jsonb_build_array(pg_temp.sub('sub_e5', 'cus_e5', 'price_pro')), p_now => '2027-03-10 12:10Z') ->> 'pending_applied',
  '2', 'the import links the customer and applies both waiting events');
select results_eq($$ select (select status from tollgate.stripe_events where id = 'evt_e5_old'),
                            (select status from tollgate.stripe_events where id = 'evt_e5_new'),
                            pg_temp.mirror('sub_e5') $$,
  $$ values ('ignored', 'processed', 'past_due pro evt_e5_new') $$,
  'the one older than the listing is ignored, the newer one wins');

select is((select count(*)::int from tollgate.check_ledger()), 0, 'the books balance for every account');

select * from finish();
rollback;
