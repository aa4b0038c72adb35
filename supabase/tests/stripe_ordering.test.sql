-- tollgate._handle_stripe_event's ordering machinery at a pinned time (2027-03-10 12:00Z): what events wait for
-- and what applies them, ties answered "retrieve" and settled with the API's state, livemode, several customers.
begin;
select plan(37);

create function pg_temp.evt(p_id text, p_type text, p_created timestamptz, p_object jsonb, p_live boolean default false)
returns jsonb language sql as $$
  select jsonb_build_object('id', p_id, 'object', 'event', 'created', extract(epoch from p_created)::bigint,
                            'type', p_type, 'livemode', p_live, 'data', jsonb_build_object('object', p_object))
$$;
create function pg_temp.at(p_time timestamptz) returns bigint language sql as $$ select extract(epoch from p_time)::bigint $$;
create function pg_temp.sub(p_id text, p_customer text, p_price text) returns jsonb language sql as $$
  select jsonb_build_object(
    'id', p_id, 'object', 'subscription', 'customer', p_customer, 'status', 'active',
    'billing_cycle_anchor', pg_temp.at('2027-03-05'), 'cancel_at_period_end', false, 'trial_end', null,
    'items', jsonb_build_object('object', 'list', 'data', jsonb_build_array(jsonb_build_object(
      'id', 'si_' || p_id, 'object', 'subscription_item', 'price', jsonb_build_object('id', p_price)))))
$$;
create function pg_temp.checkout(p_id text, p_mode text, p_status text, p_customer text, p_user text,
                                 p_intent text, p_amount bigint) returns jsonb
language sql as $$
  select jsonb_build_object('id', p_id, 'object', 'checkout.session', 'mode', p_mode, 'payment_status', p_status,
                            'customer', p_customer, 'client_reference_id', p_user, 'payment_intent', p_intent,
                            'amount_total', p_amount, 'currency', 'usd',
                            'metadata', case when p_mode = 'payment' then '{"credits": "100"}'::jsonb else '{}' end)
$$;
create function pg_temp.handle(p_event jsonb, p_current jsonb default '[]', p_now timestamptz default '2027-03-10 12:00Z',
                               p_live boolean default false) returns jsonb
language sql as $$ select tollgate._handle_stripe_event(p_event, p_live, p_current, p_now) $$;
create function pg_temp.status(p_id text) returns text language sql as $$
  select status || coalesce(' ' || waits_for, '') from tollgate.stripe_events where id = p_id
$$;
create function pg_temp.balance(p_user uuid) returns bigint language sql as $$
  select balance from tollgate.accounts where id = p_user
$$;

update tollgate.plans set stripe_price_ids = '{price_pro}' where id = 'pro';
update tollgate.plans set stripe_price_ids = '{price_business}' where id = 'business';
insert into auth.users (id, email) values
  ('f1000000-0000-4000-8000-000000000001', 'chain@example.com'),
  ('f2000000-0000-4000-8000-000000000002', 'tie@example.com'),
  ('f3000000-0000-4000-8000-000000000003', 'live@example.com'),
  ('f4000000-0000-4000-8000-000000000004', 'coupon@example.com');

-- ---------------------------------------------------------------------------------------------------------------
-- What an event is about, and what waits for it
-- ---------------------------------------------------------------------------------------------------------------
select is(tollgate._stripe_event_keys(pg_temp.evt('evt_k', 'charge.refunded', now(),
  '{"id": "ch_k", "object": "charge", "customer": "cus_k", "payment_intent": "pi_k"}')),
  '{customer:cus_k,payment:ch_k,payment:pi_k}', 'a charge is about its customer, payment intent and charge');
select is(tollgate._stripe_event_keys(pg_temp.evt('evt_k', 'charge.dispute.created', now(),
  '{"id": "du_k", "object": "dispute", "charge": "ch_k", "payment_intent": {"id": "pi_k"}}')),
  '{payment:ch_k,payment:pi_k}', 'a dispute is about its charge and payment intent, expanded or not');

select is(pg_temp.handle(pg_temp.evt('evt_f1_refund', 'charge.refunded', '2027-03-10 11:03Z',
  '{"id": "ch_f1", "object": "charge", "amount": 1000, "amount_refunded": 500, "payment_intent": "pi_f1"}'))
  ->> 'status', 'pending', 'a refund of a payment not recorded yet is pending');
select is(pg_temp.status('evt_f1_refund'), 'pending payment:pi_f1', 'it waits for its payment, by name');
select is(pg_temp.handle(pg_temp.evt('evt_f1_pack', 'checkout.session.completed', '2027-03-10 11:02Z',
  pg_temp.checkout('cs_f1', 'payment', 'paid', 'cus_f1', null, 'pi_f1', 1000))) ->> 'status', 'pending',
  'a pack checkout without client_reference_id is pending');
select is(pg_temp.status('evt_f1_pack'), 'pending customer:cus_f1', 'it waits for its customer''s link');
select is(pg_temp.balance('f1000000-0000-4000-8000-000000000001'), 3::bigint, 'nothing is applied yet');
select is(pg_temp.handle(pg_temp.evt('evt_f1_link', 'checkout.session.completed', '2027-03-10 11:01Z',
  pg_temp.checkout('cs_f1_sub', 'subscription', 'paid', 'cus_f1', 'f1000000-0000-4000-8000-000000000001', null,
                   2000))) ->> 'pending_applied', '2',
  'the link applies the pack, and the pack the refund waiting for it, in the same transaction');
select results_eq($$ select pg_temp.status('evt_f1_pack'), pg_temp.status('evt_f1_refund'),
                            pg_temp.balance('f1000000-0000-4000-8000-000000000001') $$,
  $$ values ('processed', 'processed', 53::bigint) $$, 'both processed: 3 + 100 - 50');
select results_eq($$ select customer_id from tollgate.stripe_customers
                     where account_id = 'f1000000-0000-4000-8000-000000000001' $$,
  $$ values ('cus_f1') $$, 'the customer is linked');
select is(pg_temp.handle(pg_temp.evt('evt_f1_second', 'checkout.session.completed', '2027-03-10 11:10Z',
  pg_temp.checkout('cs_f1_b', 'payment', 'paid', 'cus_f1_second', 'f1000000-0000-4000-8000-000000000001', 'pi_f1b',
                   1000))) ->> 'status', 'processed', 'a pack bought through a second customer is processed');
select results_eq($$ select count(*)::int, pg_temp.balance('f1000000-0000-4000-8000-000000000001')
                     from tollgate.stripe_customers where account_id = 'f1000000-0000-4000-8000-000000000001' $$,
  $$ values (2, 153::bigint) $$, 'the user has two customers and both packs');

-- ---------------------------------------------------------------------------------------------------------------
-- Ties: two updates of one second with different states
-- ---------------------------------------------------------------------------------------------------------------
insert into tollgate.stripe_customers (customer_id, account_id) values ('cus_f2', 'f2000000-0000-4000-8000-000000000002');
select is(pg_temp.handle(pg_temp.evt('evt_f2_a', 'customer.subscription.updated', '2027-03-10 11:00Z',
  pg_temp.sub('sub_f2', 'cus_f2', 'price_business'))) ->> 'status', 'processed', 'the first update is applied');
select is(pg_temp.handle(pg_temp.evt('evt_f2_b', 'customer.subscription.updated', '2027-03-10 11:00Z',
  pg_temp.sub('sub_f2', 'cus_f2', 'price_pro'))),
  '{"status": "retrieve", "event_id": "evt_f2_b", "subscription_id": "sub_f2"}'::jsonb,
  'a second update of the same second with another state asks for the subscription''s current state');
select is(pg_temp.status('evt_f2_b'), null, 'and nothing of it is kept');
select results_eq($$ select plan_id, balance from tollgate.accounts where id = 'f2000000-0000-4000-8000-000000000002' $$,
  $$ values ('business', 2500::bigint) $$, 'the account is as the first update left it');
select is(pg_temp.handle(pg_temp.evt('evt_f2_b', 'customer.subscription.updated', '2027-03-10 11:00Z',
  pg_temp.sub('sub_f2', 'cus_f2', 'price_pro')), jsonb_build_array(pg_temp.sub('sub_f2', 'cus_f2', 'price_pro')))
  ->> 'status', 'processed', 'called again with the current state, the event is applied');
select results_eq($$ select s.plan_id, s.retrieved_at, a.plan_id, a.balance from tollgate.stripe_subscriptions s
                     join tollgate.accounts a on a.id = s.account_id where s.subscription_id = 'sub_f2' $$,
  $$ values ('pro', '2027-03-10 12:00Z'::timestamptz, 'pro', 500::bigint) $$,
  'the retrieved state is mirrored as of its retrieval, and the account follows it');
select is(pg_temp.handle(pg_temp.evt('evt_f2_old', 'customer.subscription.updated', '2027-03-10 11:58Z',
  pg_temp.sub('sub_f2', 'cus_f2', 'price_business'))) ->> 'status', 'ignored',
  'an event created more than a minute before the retrieval is older than it');
select is(pg_temp.handle(pg_temp.evt('evt_f2_near', 'customer.subscription.updated', '2027-03-10 11:59:30Z',
  pg_temp.sub('sub_f2', 'cus_f2', 'price_business'))) ->> 'status', 'retrieve',
  'an event within a minute of the retrieval (clocks differ) asks for the current state again');
select is(pg_temp.handle(pg_temp.evt('evt_f2_new', 'customer.subscription.updated', '2027-03-10 12:05Z',
  pg_temp.sub('sub_f2', 'cus_f2', 'price_business')), '[]', '2027-03-10 12:06Z') ->> 'status', 'processed',
  'an event created after that is newer and applied as it is');
select is((select retrieved_at from tollgate.stripe_subscriptions where subscription_id = 'sub_f2'), null,
  'the mirror comes from an event again');

select is(pg_temp.handle(pg_temp.evt('evt_f2_p1', 'customer.subscription.created', '2027-03-10 11:00Z',
  pg_temp.sub('sub_f2x', 'cus_f2x', 'price_pro'))) ->> 'status', 'pending', 'an unlinked customer''s subscription');
select is(pg_temp.handle(pg_temp.evt('evt_f2_p2', 'customer.subscription.updated', '2027-03-10 11:01Z',
  pg_temp.sub('sub_f2x', 'cus_f2x', 'price_business'))) ->> 'status', 'pending', 'and its first update wait');
select is(pg_temp.handle(pg_temp.evt('evt_f2_p3', 'customer.subscription.updated', '2027-03-10 11:01Z',
  pg_temp.sub('sub_f2x', 'cus_f2x', 'price_pro'))) ->> 'status', 'pending', 'and so does a second of that second');
select is(pg_temp.handle(pg_temp.evt('evt_f2_link', 'checkout.session.completed', '2027-03-10 11:02Z',
  pg_temp.checkout('cs_f2x', 'subscription', 'paid', 'cus_f2x', 'f2000000-0000-4000-8000-000000000002', null, 2000)))
  ->> 'subscription_id', 'sub_f2x', 'the link that would apply them asks for that subscription''s state first');
select is(pg_temp.status('evt_f2_link'), null, 'and keeps nothing until it has it');
select is(pg_temp.handle(pg_temp.evt('evt_f2_link', 'checkout.session.completed', '2027-03-10 11:02Z',
  pg_temp.checkout('cs_f2x', 'subscription', 'paid', 'cus_f2x', 'f2000000-0000-4000-8000-000000000002', null, 2000)),
  jsonb_build_array(pg_temp.sub('sub_f2x', 'cus_f2x', 'price_pro'))) ->> 'pending_applied', '3',
  'with it, the link applies the three waiting events');
select is((select plan_id from tollgate.stripe_subscriptions where subscription_id = 'sub_f2x'), 'pro',
  'the tie among them ended in the retrieved state');

-- ---------------------------------------------------------------------------------------------------------------
-- livemode, malformed modes, no_payment_required
-- ---------------------------------------------------------------------------------------------------------------
select is(pg_temp.handle(pg_temp.evt('evt_f3_live', 'checkout.session.completed', '2027-03-10 11:00Z',
  pg_temp.checkout('cs_f3', 'payment', 'paid', 'cus_f3', 'f3000000-0000-4000-8000-000000000003', 'pi_f3', 1000),
  true)) ->> 'status', 'refused', 'a livemode event on a test-mode deployment is refused');
select results_eq($$ select status, error like 'A livemode event on a test-mode deployment%',
                            pg_temp.balance('f3000000-0000-4000-8000-000000000003'),
                            (select count(*)::int from tollgate.stripe_customers where customer_id = 'cus_f3')
                     from tollgate.stripe_events where id = 'evt_f3_live' $$,
  $$ values ('refused', true, 3::bigint, 0) $$, 'it is stored, visibly, and nothing of it is applied');
select is(pg_temp.handle(pg_temp.evt('evt_f3_live', 'checkout.session.completed', '2027-03-10 11:00Z',
  pg_temp.checkout('cs_f3', 'payment', 'paid', 'cus_f3', 'f3000000-0000-4000-8000-000000000003', 'pi_f3', 1000),
  true)) ->> 'previous_status', 'refused', 'a redelivery stays refused');
select is(pg_temp.handle(pg_temp.evt('evt_f3_test', 'checkout.session.completed', '2027-03-10 11:00Z',
  pg_temp.checkout('cs_f3t', 'payment', 'paid', 'cus_f3t', 'f3000000-0000-4000-8000-000000000003', 'pi_f3t', 1000)),
  '[]', '2027-03-10 12:00Z', true) ->> 'status', 'refused', 'a test-mode event on a live deployment is refused');
select throws_ok($$ select pg_temp.handle(pg_temp.evt('evt_f3_x', 'invoice.paid', now(), '{}') - 'livemode') $$,
  'TGS02', null, 'an event without livemode is malformed');
select throws_ok($$ select tollgate._handle_stripe_event(pg_temp.evt('evt_f3_y', 'invoice.paid', now(), '{}'), null,
  '[]', now()) $$, 'TGS02', null, 'a call that does not say the deployment''s mode is refused');

select is(pg_temp.handle(pg_temp.evt('evt_f4', 'checkout.session.completed', '2027-03-10 11:00Z',
  pg_temp.checkout('cs_f4', 'payment', 'no_payment_required', null, 'f4000000-0000-4000-8000-000000000004', null, 0)))
  ->> 'status', 'processed', 'a pack that needed no payment (a 100% coupon) is processed');
select is(pg_temp.balance('f4000000-0000-4000-8000-000000000004'), 103::bigint, 'and grants its credits');

select * from finish();
rollback;
