-- Role matrix of the Stripe mirror tables: anon sees nothing, a user sees only their own subscription, payments,
-- failures and disputes, customers and events are service-only, and no role but the table owner writes any of them.
begin;
select plan(30);

insert into auth.users (id, email) values
  ('aaaaaaaa-0000-4000-8000-00000000000a', 'owner@example.com'),
  ('bbbbbbbb-0000-4000-8000-00000000000b', 'other@example.com');
insert into tollgate.stripe_customers (customer_id, account_id) values
  ('cus_owner', 'aaaaaaaa-0000-4000-8000-00000000000a'), ('cus_other', 'bbbbbbbb-0000-4000-8000-00000000000b');
insert into tollgate.stripe_subscriptions (subscription_id, account_id, customer_id, status, plan_id, last_event_created,
                                         last_event_id)
values ('sub_owner', 'aaaaaaaa-0000-4000-8000-00000000000a', 'cus_owner', 'active', 'pro', now(), 'evt_1'),
       ('sub_other', 'bbbbbbbb-0000-4000-8000-00000000000b', 'cus_other', 'active', 'pro', now(), 'evt_2');
insert into tollgate.stripe_events (id, type, created, customer_id, payload)
values ('evt_1', 'customer.subscription.created', now(), 'cus_owner', '{}');
insert into tollgate.stripe_payments (id, account_id, kind, amount, currency, event_id) values
  ('in_owner', 'aaaaaaaa-0000-4000-8000-00000000000a', 'invoice', 2000, 'usd', 'evt_3'),
  ('in_other', 'bbbbbbbb-0000-4000-8000-00000000000b', 'invoice', 2000, 'usd', 'evt_4');
insert into tollgate.stripe_payments (id, account_id, kind, amount, currency, event_id) values
  ('cs_owner', 'aaaaaaaa-0000-4000-8000-00000000000a', 'checkout', 1000, 'usd', 'evt_7'),
  ('cs_other', 'bbbbbbbb-0000-4000-8000-00000000000b', 'checkout', 1000, 'usd', 'evt_8');
insert into tollgate.stripe_disputes (dispute_id, payment_id, account_id, amount, currency, status, last_event_id) values
  ('du_owner', 'cs_owner', 'aaaaaaaa-0000-4000-8000-00000000000a', 1000, 'usd', 'needs_response', 'evt_9'),
  ('du_other', 'cs_other', 'bbbbbbbb-0000-4000-8000-00000000000b', 1000, 'usd', 'lost', 'evt_10');
insert into tollgate.stripe_payment_failures (id, account_id, invoice_id, amount, currency, event_id) values
  ('fail_owner', 'aaaaaaaa-0000-4000-8000-00000000000a', 'in_x', 2000, 'usd', 'evt_5'),
  ('fail_other', 'bbbbbbbb-0000-4000-8000-00000000000b', 'in_y', 2000, 'usd', 'evt_6');

-- as anon
set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok('select * from tollgate.stripe_customers', '42501', null, 'anon cannot read Stripe customers');
select throws_ok('select * from tollgate.stripe_subscriptions', '42501', null, 'anon cannot read subscriptions');
select throws_ok('select * from tollgate.stripe_events', '42501', null, 'anon cannot read Stripe events');
select throws_ok('select * from tollgate.stripe_payments', '42501', null, 'anon cannot read payments');
select throws_ok('select * from tollgate.stripe_payment_failures', '42501', null, 'anon cannot read payment failures');
select throws_ok('select * from tollgate.stripe_disputes', '42501', null, 'anon cannot read disputes');
reset role;

-- as the owner
set local role authenticated;
select set_config('request.jwt.claims', '{"role": "authenticated", "sub": "aaaaaaaa-0000-4000-8000-00000000000a"}',
  true);
select results_eq('select subscription_id from tollgate.stripe_subscriptions', $$ values ('sub_owner') $$,
  'the owner sees exactly their own subscription');
select results_eq('select dispute_id from tollgate.stripe_disputes', $$ values ('du_owner') $$,
  'the owner sees exactly their own disputes');
select throws_ok($$ update tollgate.stripe_disputes set status = 'won' $$, '42501', null,
  'the owner cannot win their own dispute');
select results_eq('select id from tollgate.stripe_payments order by id', $$ values ('cs_owner'), ('in_owner') $$,
  'the owner sees exactly their own payments');
select results_eq('select id from tollgate.stripe_payment_failures', $$ values ('fail_owner') $$,
  'the owner sees exactly their own payment failures');
select throws_ok('select * from tollgate.stripe_customers', '42501', null, 'a user cannot read the customer links');
select throws_ok('select * from tollgate.stripe_events', '42501', null, 'a user cannot read Stripe events');
select throws_ok($$ update tollgate.stripe_subscriptions set plan_id = 'business' $$, '42501', null,
  'the owner cannot upgrade their own subscription');
select throws_ok($$ insert into tollgate.stripe_payments (id, account_id, kind, amount, currency, event_id)
  values ('in_fake', 'aaaaaaaa-0000-4000-8000-00000000000a', 'checkout', 1, 'usd', 'evt_x') $$, '42501', null,
  'the owner cannot record a payment');
select throws_ok($$ delete from tollgate.stripe_payment_failures $$, '42501', null,
  'the owner cannot erase their payment failures');
select throws_ok($$ insert into tollgate.stripe_customers (customer_id, account_id)
  values ('cus_steal', 'aaaaaaaa-0000-4000-8000-00000000000a') $$, '42501', null,
  'the owner cannot link a customer to themselves');
reset role;

-- as another user
set local role authenticated;
select set_config('request.jwt.claims', '{"role": "authenticated", "sub": "bbbbbbbb-0000-4000-8000-00000000000b"}',
  true);
select is_empty($$ select * from tollgate.stripe_subscriptions where account_id = 'aaaaaaaa-0000-4000-8000-00000000000a' $$,
  'another user cannot see the owner''s subscription');
select is_empty($$ select * from tollgate.stripe_payments where account_id = 'aaaaaaaa-0000-4000-8000-00000000000a' $$,
  'another user cannot see the owner''s payments');
select is_empty($$ select * from tollgate.stripe_payment_failures
  where account_id = 'aaaaaaaa-0000-4000-8000-00000000000a' $$, 'another user cannot see the owner''s failures');
select is_empty($$ select * from tollgate.stripe_disputes where account_id = 'aaaaaaaa-0000-4000-8000-00000000000a' $$,
  'another user cannot see the owner''s disputes');
reset role;

-- as service_role
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select is((select count(*) from tollgate.stripe_customers where customer_id in ('cus_owner', 'cus_other'))::int, 2,
  'service_role reads every customer link');
select isnt_empty('select * from tollgate.stripe_events', 'service_role reads Stripe events');
select is((select count(*) from tollgate.stripe_subscriptions where subscription_id in ('sub_owner', 'sub_other'))::int,
  2, 'service_role reads every subscription');
select throws_ok($$ update tollgate.stripe_events set status = 'processed' $$, '42501', null,
  'service_role cannot rewrite events directly');
select throws_ok($$ delete from tollgate.stripe_subscriptions $$, '42501', null,
  'service_role cannot delete subscriptions directly');
select is((select count(*) from tollgate.stripe_disputes where dispute_id in ('du_owner', 'du_other'))::int, 2,
  'service_role reads every dispute');
select throws_ok($$ update tollgate.stripe_disputes set funds_reinstated = true $$, '42501', null,
  'service_role cannot reinstate a dispute outside the webhook function');
select throws_ok($$ insert into tollgate.stripe_customers (customer_id, account_id)
  values ('cus_new', 'aaaaaaaa-0000-4000-8000-00000000000a') $$, '42501', null,
  'service_role cannot link customers outside the webhook function');
reset role;

select ok(not exists (select 1 from pg_policies where schemaname = 'tollgate' and tablename like 'stripe_%'
  and tablename not in ('stripe_prices', 'stripe_products')
  and ('anon' = any (roles) or 'public' = any (roles))),
  'no policy on a Stripe table names anon or public, but the public pricing mirror''s (prices and products)');

select * from finish();
rollback;
