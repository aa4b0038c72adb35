-- The SQL behind create-checkout-session and create-portal-session: who may start them (owners and admins; the
-- service role for anyone), what is bought (plans with a price, active packs, prices Stripe reports active), the
-- trial offered once per account, the customer reused or linked once, and the portal's customer.
begin;
select plan(36);

create function pg_temp.act_as(p_role text, p_sub uuid default null) returns void language sql as $$
  select set_config('role', p_role, true),
         set_config('request.jwt.claims', json_build_object('role', p_role, 'sub', p_sub)::text, true) $$;

insert into auth.users (id, email) values
  ('f1000000-0000-4000-8000-00000000000f', 'owner@example.com'),
  ('f2000000-0000-4000-8000-00000000000f', 'admin@example.com'),
  ('f3000000-0000-4000-8000-00000000000f', 'member@example.com'),
  ('f4000000-0000-4000-8000-00000000000f', 'outsider@example.com');
update tollgate.plans set stripe_price_ids = '{price_pro_monthly,price_pro_yearly}', trial_days = 14 where id = 'pro';
insert into tollgate.credit_packs (id, name, credits, stripe_price_id, expires_after_days, active) values
  ('small', 'Small pack', 100, 'price_pack_small', 365, true),
  ('retired', 'Retired pack', 50, 'price_pack_retired', null, false),
  ('stale', 'Stale pack', 10, 'price_pack_stale', null, true);
insert into tollgate.stripe_prices (price_id, product_id, active, currency, unit_amount, synced_at, synced_rank,
                                    synced_from)
values ('price_pack_stale', 'prod_stale', false, 'usd', 500, now(), 1, 'api');

select pg_temp.act_as('authenticated', 'f1000000-0000-4000-8000-00000000000f');
select set_config('test.team', tollgate.create_team_account('Checkout team')::text, true);
select tollgate.add_account_member(current_setting('test.team')::uuid, 'f2000000-0000-4000-8000-00000000000f', 'admin');
select tollgate.add_account_member(current_setting('test.team')::uuid, 'f3000000-0000-4000-8000-00000000000f');

-- as the service role (what the functions run as, naming the user their token verified)
select pg_temp.act_as('service_role');
select is(tollgate.checkout_target(null, 'f4000000-0000-4000-8000-00000000000f', p_pack_id => 'small'),
  jsonb_build_object('account_id', 'f4000000-0000-4000-8000-00000000000f', 'customer_id', null,
                     'email', 'outsider@example.com', 'name', null, 'mode', 'payment', 'plan_id', null,
                     'pack_id', 'small', 'price_id', 'price_pack_small', 'price_known', false, 'trial_days', null),
  'a user buys a pack for their personal account: its price, no customer yet, the email to create one with');
select is(tollgate.checkout_target(null, 'f4000000-0000-4000-8000-00000000000f', 'pro') ->> 'mode', 'subscription',
  'a plan is a subscription checkout');
select is(tollgate.checkout_target(null, 'f4000000-0000-4000-8000-00000000000f', 'pro') ->> 'price_id',
  'price_pro_monthly', 'of the plan''s first price by default');
select is(tollgate.checkout_target(null, 'f4000000-0000-4000-8000-00000000000f', 'pro',
                                   p_price_id => 'price_pro_yearly') ->> 'price_id',
  'price_pro_yearly', 'or of the one named, when the plan lists it');
select is((tollgate.checkout_target(null, 'f4000000-0000-4000-8000-00000000000f', 'pro') ->> 'trial_days')::int, 14,
  'with the plan''s trial days for an account that never had a trial');

select is(tollgate.checkout_target(current_setting('test.team')::uuid, 'f1000000-0000-4000-8000-00000000000f',
                                   p_pack_id => 'small') ->> 'account_id',
  current_setting('test.team'), 'a team''s owner starts a checkout for the team');
select is(tollgate.checkout_target(current_setting('test.team')::uuid, 'f2000000-0000-4000-8000-00000000000f',
                                   'pro') ->> 'name',
  'Checkout team', 'so does an admin (the team''s name names a new customer)');
select throws_ok($$ select tollgate.checkout_target(current_setting('test.team')::uuid,
                                                    'f3000000-0000-4000-8000-00000000000f', 'pro') $$,
  'TGC03', null, 'a member who is not an admin may not (TGC03)');
select throws_ok($$ select tollgate.checkout_target(current_setting('test.team')::uuid,
                                                    'f4000000-0000-4000-8000-00000000000f', 'pro') $$,
  'TG403', null, 'a non-member may not (TG403)');
select throws_ok($$ select tollgate.checkout_target('f9000000-0000-4000-8000-00000000000f',
                                                    'f4000000-0000-4000-8000-00000000000f', 'pro') $$,
  'TG403', 'Forbidden: you are not a member of account f9000000-0000-4000-8000-00000000000f',
  'and the same answer for an account that does not exist');
select is(tollgate.checkout_target(current_setting('test.team')::uuid, null, 'pro') ->> 'account_id',
  current_setting('test.team'), 'the service role naming only the team acts for it');
select throws_ok($$ select tollgate.checkout_target('f9000000-0000-4000-8000-00000000000f', null, 'pro') $$,
  'TG404', null, 'and gets TG404 for an account that does not exist');

select throws_ok($$ select tollgate.checkout_target(null, 'f4000000-0000-4000-8000-00000000000f', 'platinum') $$,
  'TGC01', 'Cannot start a checkout: no plan platinum', 'an unknown plan is TGC01');
select throws_ok($$ select tollgate.checkout_target(null, 'f4000000-0000-4000-8000-00000000000f',
                                                    p_pack_id => 'huge') $$,
  'TGC01', 'Cannot start a checkout: no active pack huge', 'so is an unknown pack');
select throws_ok($$ select tollgate.checkout_target(null, 'f4000000-0000-4000-8000-00000000000f',
                                                    p_pack_id => 'retired') $$,
  'TGC01', 'Cannot start a checkout: no active pack retired', 'and a pack that is not active');
select throws_ok($$ select tollgate.checkout_target(null, 'f4000000-0000-4000-8000-00000000000f', 'free') $$,
  'TGC02', 'Cannot start a checkout: plan free has no Stripe price (plans.stripe_price_ids)',
  'a plan without a Stripe price has nothing to buy (TGC02)');
select throws_ok($$ select tollgate.checkout_target(null, 'f4000000-0000-4000-8000-00000000000f',
                                                    p_pack_id => 'stale') $$,
  'TGC02', 'Cannot start a checkout: price price_pack_stale is not active in Stripe',
  'nor a price the mirror knows is inactive');
select pg_temp.act_as('none');
update tollgate.stripe_prices set active = true where price_id = 'price_pack_stale';
insert into tollgate.stripe_products (product_id, name, active, synced_at, synced_rank, synced_from)
values ('prod_stale', 'Stale', false, now(), 1, 'api');
select pg_temp.act_as('service_role');
select throws_ok($$ select tollgate.checkout_target(null, 'f4000000-0000-4000-8000-00000000000f',
                                                    p_pack_id => 'stale') $$,
  'TGC02', null, 'nor an active price of an inactive product');
select throws_ok($$ select tollgate.checkout_target(null, 'f4000000-0000-4000-8000-00000000000f', 'pro',
                                                    p_price_id => 'price_pack_small') $$,
  'TG400', null, 'a price that is not the plan''s is TG400');
select throws_ok($$ select tollgate.checkout_target(null, 'f4000000-0000-4000-8000-00000000000f', 'pro',
                                                    'small') $$,
  'TG400', 'Cannot start a checkout: name either a plan_id or a pack_id', 'a plan and a pack at once is TG400');
select throws_ok($$ select tollgate.checkout_target(null, 'f4000000-0000-4000-8000-00000000000f') $$,
  'TG400', null, 'and so is neither');

-- the customer: linked once before the first session, then reused
select throws_ok($$ select tollgate.portal_customer(null, 'f4000000-0000-4000-8000-00000000000f') $$,
  'TGC04', 'Cannot open the billing portal: account f4000000-0000-4000-8000-00000000000f has no Stripe customer yet',
  'no portal before the account has a customer (TGC04)');
select lives_ok($$ select tollgate.link_stripe_customer('f4000000-0000-4000-8000-00000000000f', 'cus_outsider1') $$,
  'the function links the customer it created');
select lives_ok($$ select tollgate.link_stripe_customer('f4000000-0000-4000-8000-00000000000f', 'cus_outsider1') $$,
  'again, nothing changes');
select is((select count(*)::int from tollgate.stripe_customers where customer_id = 'cus_outsider1'), 1,
  'one link');
select throws_ok($$ select tollgate.link_stripe_customer(current_setting('test.team')::uuid, 'cus_outsider1') $$,
  'TG409', null, 'a customer of another account is never moved (TG409)');
select throws_ok($$ select tollgate.link_stripe_customer(current_setting('test.team')::uuid, 'acct_1') $$,
  'TG400', null, 'only a customer id links');
select is(tollgate.checkout_target(null, 'f4000000-0000-4000-8000-00000000000f', 'pro') ->> 'customer_id',
  'cus_outsider1', 'the next checkout reuses the customer');
select is(tollgate.portal_customer(null, 'f4000000-0000-4000-8000-00000000000f'), 'cus_outsider1',
  'and the portal opens for it');
select throws_ok($$ select tollgate.portal_customer(current_setting('test.team')::uuid,
                                                    'f3000000-0000-4000-8000-00000000000f') $$,
  'TGC03', null, 'a team member who is not an admin may not open the portal');

-- the trial: once per account, ever
select pg_temp.act_as('none');
select tollgate._grant_lot('f4000000-0000-4000-8000-00000000000f', 'promo', 5, null, 15, 'trial', '{}', now());
select pg_temp.act_as('service_role');
select is(tollgate.checkout_target(null, 'f4000000-0000-4000-8000-00000000000f', 'pro') -> 'trial_days', 'null',
  'an account that had a trial is offered none');
select pg_temp.act_as('none');
insert into tollgate.stripe_customers (customer_id, account_id) values ('cus_team1', current_setting('test.team')::uuid);
insert into tollgate.stripe_subscriptions (subscription_id, account_id, customer_id, status, plan_id, trial_end,
                                           last_event_created, last_event_id)
values ('sub_team1', current_setting('test.team')::uuid, 'cus_team1', 'canceled', 'pro', now(), now(), 'evt_t');
select pg_temp.act_as('service_role');
select is(tollgate.checkout_target(current_setting('test.team')::uuid, null, 'pro') -> 'trial_days', 'null',
  'nor one whose earlier subscription trialed');

-- one live subscription at a time: plans change in the portal
select pg_temp.act_as('none');
update tollgate.stripe_subscriptions set status = 'past_due' where subscription_id = 'sub_team1';
select pg_temp.act_as('service_role');
select throws_ok($$ select tollgate.checkout_target(current_setting('test.team')::uuid, null, 'pro') $$,
  'TGC05', format('Cannot start a subscription checkout: account %s already has subscription sub_team1 (past_due); '
                  'change plans in the customer portal', current_setting('test.team')),
  'an account with a live subscription cannot start a second one (TGC05)');
select is(tollgate.checkout_target(current_setting('test.team')::uuid, null, p_pack_id => 'small') ->> 'mode',
  'payment', 'but buys packs');

-- as a signed-in user over PostgREST: none of it is callable
select pg_temp.act_as('authenticated', 'f4000000-0000-4000-8000-00000000000f');
select throws_ok($$ select tollgate.checkout_target(null, 'f4000000-0000-4000-8000-00000000000f', 'pro') $$,
  '42501', null, 'a user cannot call checkout_target (it names Stripe customers)');
select throws_ok($$ select tollgate.link_stripe_customer('f4000000-0000-4000-8000-00000000000f', 'cus_mine') $$,
  '42501', null, 'nor link a customer to their account');

select * from finish();
rollback;
