-- Role matrix of the credit tables: anon sees nothing, the owner sees only their rows, another user sees none of
-- them, service_role reads everything, and nobody writes but the SQL functions. The ledger is append-only.
begin;
select plan(37);

insert into auth.users (id, email) values
  ('aaaaaaaa-0000-4000-8000-00000000000a', 'owner@example.com'),
  ('bbbbbbbb-0000-4000-8000-00000000000b', 'other@example.com');
select tollgate._consume_credits('aaaaaaaa-0000-4000-8000-00000000000a', 'k1', 1, 'default', null, now());
select tollgate._consume_credits('bbbbbbbb-0000-4000-8000-00000000000b', 'k1', 1, 'default', null, now());
-- A debit keeps its replay record on its ledger entry; a consume of nothing writes one to idempotency_keys.
select tollgate._consume_credits('aaaaaaaa-0000-4000-8000-00000000000a', 'k0', 0, 'default', null, now());

-- as anon
set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok('select * from tollgate.accounts', '42501', null, 'anon cannot read accounts');
select throws_ok('select * from tollgate.credit_lots', '42501', null, 'anon cannot read credit lots');
select throws_ok('select * from tollgate.credit_ledger', '42501', null, 'anon cannot read the ledger');
select throws_ok('select * from tollgate.usage_counters', '42501', null, 'anon cannot read usage counters');
select throws_ok('select * from tollgate.idempotency_keys', '42501', null, 'anon cannot read idempotency records');
select isnt_empty('select * from tollgate.plans', 'anon can read the plan catalogue');
select isnt_empty('select * from tollgate.plan_limits', 'anon can read plan limits');
select throws_ok($$ select tollgate.consume_credits('x') $$, '42501', null, 'anon cannot consume');
select throws_ok($$ select tollgate.grant_credits('aaaaaaaa-0000-4000-8000-00000000000a', 5, 'x') $$, '42501', null,
  'anon cannot grant credits');
select throws_ok($$ select * from tollgate.check_ledger() $$, '42501', null, 'anon cannot run the ledger check');
reset role;

-- as the owner
set local role authenticated;
select set_config('request.jwt.claims', '{"role": "authenticated", "sub": "aaaaaaaa-0000-4000-8000-00000000000a"}',
  true);
select results_eq('select id from tollgate.accounts', $$ values ('aaaaaaaa-0000-4000-8000-00000000000a'::uuid) $$,
  'the owner sees exactly their own account');
select ok((select count(*) from tollgate.credit_lots) > 0
  and (select bool_and(account_id = 'aaaaaaaa-0000-4000-8000-00000000000a') from tollgate.credit_lots),
  'the owner sees only their own lots');
select is((select count(*) from tollgate.credit_ledger)::int, 2, 'the owner sees their two ledger rows');
select ok((select bool_and(account_id = 'aaaaaaaa-0000-4000-8000-00000000000a') from tollgate.usage_counters),
  'the owner sees only their own counters');
select throws_ok('select * from tollgate.idempotency_keys', '42501', null, 'the owner cannot read idempotency records');
select throws_ok($$ update tollgate.accounts set balance = 1000000 $$, '42501', null,
  'the owner cannot write their balance');
select throws_ok($$ insert into tollgate.credit_lots (account_id, source, amount, remaining, grant_key)
  values ('aaaaaaaa-0000-4000-8000-00000000000a', 'top_up', 99, 99, 'free') $$, '42501', null,
  'the owner cannot mint a lot');
select throws_ok($$ insert into tollgate.credit_ledger (account_id, seq, delta, balance_after, reason)
  values ('aaaaaaaa-0000-4000-8000-00000000000a', 99, 99, 99, 'grant') $$, '42501', null,
  'the owner cannot write the ledger');
select throws_ok($$ delete from tollgate.usage_counters $$, '42501', null, 'the owner cannot reset their counters');
select throws_ok($$ update tollgate.plans set monthly_credits = 999999 $$, '42501', null,
  'the owner cannot edit the plan catalogue');
select throws_ok($$ select tollgate.grant_credits('aaaaaaaa-0000-4000-8000-00000000000a', 5, 'x') $$, '42501', null,
  'the owner cannot grant themselves credits');
select throws_ok($$ select tollgate._consume_credits('aaaaaaaa-0000-4000-8000-00000000000a', 'x', 1, 'd', null,
  now() - interval '1 year') $$, '42501', null, 'the owner cannot call the internal consume and choose the time');
reset role;

-- as another user
set local role authenticated;
select set_config('request.jwt.claims', '{"role": "authenticated", "sub": "bbbbbbbb-0000-4000-8000-00000000000b"}',
  true);
select is_empty($$ select * from tollgate.accounts where id = 'aaaaaaaa-0000-4000-8000-00000000000a' $$,
  'another user cannot see the owner''s account');
select is_empty($$ select * from tollgate.credit_lots where account_id = 'aaaaaaaa-0000-4000-8000-00000000000a' $$,
  'another user cannot see the owner''s lots');
select is_empty($$ select * from tollgate.credit_ledger where account_id = 'aaaaaaaa-0000-4000-8000-00000000000a' $$,
  'another user cannot see the owner''s ledger');
select is_empty($$ select * from tollgate.usage_counters where account_id = 'aaaaaaaa-0000-4000-8000-00000000000a' $$,
  'another user cannot see the owner''s counters');
select throws_ok($$ select tollgate.consume_credits('x', 1, 'default', null, 'aaaaaaaa-0000-4000-8000-00000000000a') $$,
  'TG403', null, 'another user cannot consume the owner''s credits');
reset role;

-- as service_role
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select ok((select count(*) from tollgate.accounts where id in ('aaaaaaaa-0000-4000-8000-00000000000a',
  'bbbbbbbb-0000-4000-8000-00000000000b')) = 2, 'service_role reads every account');
select ok((select count(*) from tollgate.credit_ledger) >= 4, 'service_role reads the whole ledger');
select isnt_empty('select * from tollgate.idempotency_keys', 'service_role reads idempotency records');
select throws_ok($$ update tollgate.accounts set balance = 0 $$, '42501', null,
  'service_role cannot write balances directly either');
select throws_ok($$ update tollgate.credit_ledger set delta = 0 $$, '42501', null,
  'service_role cannot update the ledger');
select throws_ok($$ delete from tollgate.credit_ledger $$, '42501', null, 'service_role cannot delete from the ledger');
select lives_ok($$ select tollgate.grant_credits('aaaaaaaa-0000-4000-8000-00000000000a', 5, 'svc', 'promo') $$,
  'service_role grants credits through the function');
reset role;

-- even the table owner: the append-only trigger refuses
select throws_ok($$ update tollgate.credit_ledger set delta = 0 $$, 'TGLOG', null,
  'the ledger refuses UPDATE even for its owner');
select throws_ok($$ delete from tollgate.credit_ledger $$, 'TGLOG', null,
  'the ledger refuses DELETE even for its owner');
select throws_ok($$ truncate tollgate.credit_ledger $$, 'TGLOG', null, 'the ledger refuses TRUNCATE');

select * from finish();
rollback;
