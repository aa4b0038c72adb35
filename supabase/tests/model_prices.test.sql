-- The model_prices catalogue: public read, service-role inserts, append-only for everyone, and a price change
-- that leaves the cost of past ai_usage rows untouched.
begin;
select plan(18);

insert into auth.users (id, email) values ('66666666-0000-4000-8000-000000000001', 'prices@example.com');

select isnt_empty($$ select * from tollgate.model_prices where model = 'gpt-4o-mini' $$,
  'a fresh deployment has example prices');

-- as anon
set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select isnt_empty('select * from tollgate.model_prices', 'anon can read the price catalogue');
select throws_ok($$ insert into tollgate.model_prices (model, effective_from, input_usd_per_mtok, output_usd_per_mtok)
  values ('free-lunch', now(), 0, 0) $$, '42501', null, 'anon cannot add a price');
reset role;

-- as a user
set local role authenticated;
select set_config('request.jwt.claims', '{"role": "authenticated", "sub": "66666666-0000-4000-8000-000000000001"}',
  true);
select isnt_empty('select * from tollgate.model_prices', 'a user can read the price catalogue');
select throws_ok($$ insert into tollgate.model_prices (model, effective_from, input_usd_per_mtok, output_usd_per_mtok)
  values ('free-lunch', now(), 0, 0) $$, '42501', null, 'a user cannot add a price');
select throws_ok($$ update tollgate.model_prices set input_usd_per_mtok = 0 $$, '42501', null,
  'a user cannot change a price');
reset role;

-- as service_role
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select lives_ok($$ insert into tollgate.model_prices (model, provider, effective_from, input_usd_per_mtok,
  output_usd_per_mtok, cached_input_usd_per_mtok) values ('test-model', 'test', '2030-01-01 00:00Z', 1, 2, 0.5) $$,
  'service_role adds a price');
select throws_ok($$ update tollgate.model_prices set input_usd_per_mtok = 9 where model = 'test-model' $$, '42501',
  null, 'service_role has no grant to edit a price row');
select throws_ok($$ delete from tollgate.model_prices where model = 'test-model' $$, '42501', null,
  'service_role has no grant to delete a price row');
reset role;

-- even the table owner
select throws_ok($$ update tollgate.model_prices set output_usd_per_mtok = 0 where model = 'test-model' $$, 'TGPRC',
  'model_prices is append-only: UPDATE is not allowed', 'the owner cannot edit a price row either');
select throws_ok($$ delete from tollgate.model_prices where model = 'test-model' $$, 'TGPRC',
  'model_prices is append-only: DELETE is not allowed', 'nor delete one');
select throws_ok($$ truncate tollgate.model_prices $$, 'TGPRC', null, 'nor truncate the catalogue');
select throws_ok($$ insert into tollgate.model_prices (model, effective_from, input_usd_per_mtok, output_usd_per_mtok)
  values ('test-model', '2030-01-01 00:00Z', 5, 5) $$, '23505', null,
  'a second price for the same model and effective_from is refused: add a later one instead');

-- a price change is a new row; past rows keep the price they were written with
select lives_ok($$ select tollgate._log_ai_usage('66666666-0000-4000-8000-000000000001', 'before', 'test-model',
  1000000, 1000000, null, 'default', 1000000, null, 'success', null, false, null, null, null, '2030-02-01 00:00Z') $$,
  'a call is logged under the first price (1 + 2 + 0.5 USD per million)');
insert into tollgate.model_prices (model, effective_from, input_usd_per_mtok, output_usd_per_mtok)
  values ('test-model', '2030-03-01 00:00Z', 10, 20);
select is((tollgate._log_ai_usage('66666666-0000-4000-8000-000000000001', 'after', 'test-model', 1000000, 1000000, null,
  'default', 1000000, null, 'success', null, false, null, null, null, '2030-03-01 00:00Z'))->>'cost_usd', '40',
  'from its effective_from the new price applies (cached input falls back to the new input price)');
select is((tollgate._log_ai_usage('66666666-0000-4000-8000-000000000001', 'between', 'test-model', 1000000, 0, null,
  'default', 0, null, 'success', null, false, null, null, null, '2030-02-28 23:59:59Z'))->>'cost_usd', '1',
  'a call just before the new price still pays the old one');
select results_eq($$ select request_id, cost_usd, price_effective_from from tollgate.ai_usage
   where account_id = '66666666-0000-4000-8000-000000000001' order by created_at $$,
  $$ values ('before', 3.5::numeric, '2030-01-01 00:00Z'::timestamptz),
            ('between', 1::numeric, '2030-01-01 00:00Z'::timestamptz),
            ('after', 40::numeric, '2030-03-01 00:00Z'::timestamptz) $$,
  'the row written before the change keeps its cost and names the price row it used');
select is((tollgate._log_ai_usage('66666666-0000-4000-8000-000000000001', 'early', 'test-model', 1, 1, null,
  'default', 0, null, 'success', null, false, null, null, null, '2029-12-31 23:59:59Z'))->>'unpriced', 'true',
  'a call before a model''s first price is unpriced');

select * from finish();
rollback;
