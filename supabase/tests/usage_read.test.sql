-- The usage read side: role matrix of ai_usage (parent and partitions) and usage_settings, the grants of every new
-- function, and get_usage_breakdown / get_quota_status as each role.
begin;
select plan(46);

insert into auth.users (id, email) values
  ('88888888-0000-4000-8000-00000000000a', 'owner@example.com'),
  ('88888888-0000-4000-8000-00000000000b', 'other@example.com');
select lives_ok($$
  select tollgate._log_ai_usage('88888888-0000-4000-8000-00000000000a', 'a1', 'gpt-4o', 1000, 500, 'openai', 'chat', 0,
                              100, 'success', null, false, null, null, null, now());
  select tollgate._log_ai_usage('88888888-0000-4000-8000-00000000000a', 'a2', 'gpt-4o', 2000, 1000, 'openai', 'chat',
                              0, 100, 'error', 'timeout', true, null, null, null, now());
  select tollgate._log_ai_usage('88888888-0000-4000-8000-00000000000a', 'a3', 'gpt-4o-mini', 10, 10, 'openai',
                              'default', 0, 100, 'success', null, false, null, null, null, now());
  select tollgate._log_ai_usage('88888888-0000-4000-8000-00000000000b', 'b1', 'gpt-4o', 1, 1, 'openai', 'chat', 0,
                              100, 'success', null, false, null, null, null, now());
  select tollgate._consume_credits('88888888-0000-4000-8000-00000000000a', 'q1', 0, 'default', null, now())
$$, 'the owner logs three calls and one request, another user one call');

-- The partition this month's rows live in.
select set_config('test.partition', (select tableoid::regclass::text from tollgate.ai_usage where request_id = 'a1'
  and account_id = '88888888-0000-4000-8000-00000000000a'), true) is not null as partition_known;

-- grants of every new function: (anon, authenticated, service_role)
select results_eq($$
  select f, has_function_privilege('anon', f, 'execute'), has_function_privilege('authenticated', f, 'execute'),
         has_function_privilege('service_role', f, 'execute')
    from (values
      ('tollgate.log_ai_usage(text,text,bigint,bigint,text,text,bigint,integer,text,text,boolean,text,text,jsonb,uuid,uuid,bigint,uuid)'),
      ('tollgate.get_usage_breakdown(timestamptz,timestamptz,uuid,uuid)'),
      ('tollgate.get_quota_status(text,uuid,uuid)'),
      ('tollgate.maintain_ai_usage_partitions(integer,timestamptz)'),
      ('tollgate._log_ai_usage(uuid,text,text,bigint,bigint,text,text,bigint,integer,text,text,boolean,text,text,jsonb,timestamptz,uuid,bigint,uuid)'),
      ('tollgate._quota_status(uuid,text,timestamptz)'),
      ('tollgate._secure_ai_usage_partition(regclass)'),
      ('tollgate._refuse_model_price_change()'),
      ('tollgate._count_request(tollgate.accounts,text,timestamptz)')) fns(f) $$,
  $$ values
      ('tollgate.log_ai_usage(text,text,bigint,bigint,text,text,bigint,integer,text,text,boolean,text,text,jsonb,uuid,uuid,bigint,uuid)',
       false, true, true),
      ('tollgate.get_usage_breakdown(timestamptz,timestamptz,uuid,uuid)', false, true, true),
      ('tollgate.get_quota_status(text,uuid,uuid)', false, true, true),
      ('tollgate.maintain_ai_usage_partitions(integer,timestamptz)', false, false, true),
      ('tollgate._log_ai_usage(uuid,text,text,bigint,bigint,text,text,bigint,integer,text,text,boolean,text,text,jsonb,timestamptz,uuid,bigint,uuid)',
       false, false, false),
      ('tollgate._quota_status(uuid,text,timestamptz)', false, false, false),
      ('tollgate._secure_ai_usage_partition(regclass)', false, false, false),
      ('tollgate._refuse_model_price_change()', false, false, false),
      ('tollgate._count_request(tollgate.accounts,text,timestamptz)', false, false, false) $$,
  'users may log and read their usage, only service_role maintains partitions, internal helpers are granted to nobody');

-- as anon
set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok('select * from tollgate.ai_usage', '42501', null, 'anon cannot read ai_usage');
select throws_ok(format('select * from %s', current_setting('test.partition')), '42501', null,
  'anon cannot read a partition directly');
select throws_ok('select * from tollgate.ai_usage_default', '42501', null, 'anon cannot read the DEFAULT partition');
select throws_ok('select * from tollgate.usage_settings', '42501', null, 'anon cannot read the settings');
select throws_ok($$ select tollgate.log_ai_usage(p_request_id => 'x', p_model => 'gpt-4o', p_input_tokens => 1,
  p_output_tokens => 1) $$, '42501', null, 'anon cannot log usage');
select throws_ok($$ select * from tollgate.get_usage_breakdown(now() - interval '1 day', now()) $$, '42501', null,
  'anon cannot read a usage breakdown');
select throws_ok($$ select * from tollgate.get_quota_status() $$, '42501', null, 'anon cannot read quota status');
reset role;

-- as the owner
set local role authenticated;
select set_config('request.jwt.claims', '{"role": "authenticated", "sub": "88888888-0000-4000-8000-00000000000a"}',
  true);
select results_eq($$ select request_id from tollgate.ai_usage order by request_id $$,
  $$ values ('a1'), ('a2'), ('a3') $$, 'the owner sees exactly their own calls through the parent table');
select throws_ok(format('select * from %s', current_setting('test.partition')), '42501', null,
  'the owner cannot read a partition directly (that would bypass the parent''s policy)');
select throws_ok('select * from tollgate.ai_usage_default', '42501', null,
  'the owner cannot read the DEFAULT partition directly');
select throws_ok('select * from tollgate.usage_settings', '42501', null, 'the owner cannot read the settings');
select throws_ok($$ update tollgate.ai_usage set cost_usd = 0 $$, '42501', null, 'the owner cannot rewrite a cost');
select throws_ok($$ delete from tollgate.ai_usage $$, '42501', null, 'the owner cannot delete their usage');
select throws_ok($$ insert into tollgate.ai_usage (user_id, request_id, model, feature, input_tokens, output_tokens,
  status, cost_usd, unpriced) values ('88888888-0000-4000-8000-00000000000a', 'forged', 'm', 'f', 0, 0, 'success', 0,
  false) $$, '42501', null, 'the owner cannot insert usage rows directly');
select throws_ok($$ update tollgate.usage_settings set credits_per_usd = 1 $$, '42501', null,
  'the owner cannot change the credit price');
select is((tollgate.log_ai_usage(p_request_id => 'own', p_model => 'gpt-4o-mini', p_input_tokens => 1,
  p_output_tokens => 1, p_feature => 'chat'))->>'replayed', 'false', 'the owner logs their own call by named arguments');
select throws_ok($$ select tollgate.log_ai_usage(p_request_id => 'x', p_model => 'gpt-4o', p_input_tokens => 1,
  p_output_tokens => 1, p_user_id => '88888888-0000-4000-8000-00000000000b') $$, 'TG403', null,
  'the owner cannot log usage for another user');
select results_eq($$ select feature, model, calls, errors, input_tokens, output_tokens, credits
  from tollgate.get_usage_breakdown(now() - interval '1 hour', now() + interval '1 hour') $$,
  $$ values ('chat', 'gpt-4o', 2::bigint, 1::bigint, 3000::bigint, 1500::bigint, 2::bigint),
            ('chat', 'gpt-4o-mini', 1::bigint, 0::bigint, 1::bigint, 1::bigint, 0::bigint),
            ('default', 'gpt-4o-mini', 1::bigint, 0::bigint, 10::bigint, 10::bigint, 0::bigint) $$,
  'the breakdown groups the owner''s calls by day, feature and model with tokens, errors and credits');
select is((select sum(cost_usd) from tollgate.get_usage_breakdown(now() - interval '1 hour', now() + interval '1 hour')),
  (select sum(cost_usd) from tollgate.ai_usage), 'the breakdown''s cost adds up to the rows''');
select is((tollgate.log_ai_usage(p_request_id => 'cache', p_model => 'gpt-4o-mini', p_input_tokens => 100,
  p_output_tokens => 1, p_feature => 'cache', p_cached_input_tokens => 40, p_cache_write_tokens => 25))->>'replayed',
  'false', 'the owner logs a call that read and wrote the prompt cache');
select is((select (cached_input_tokens, cache_write_tokens)::text from tollgate.get_usage_breakdown(
    now() - interval '1 hour', now() + interval '1 hour') where feature = 'cache'), '(40,25)',
  'the breakdown sums cached input and cache write tokens apart');
select is((select day from tollgate.get_usage_breakdown(now() - interval '1 hour', now() + interval '1 hour') limit 1),
  (now() at time zone 'UTC')::date, 'days are UTC dates');
select is_empty($$ select * from tollgate.get_usage_breakdown(now() + interval '1 hour', now() + interval '2 hours') $$,
  'a range without calls is empty');
select throws_ok($$ select * from tollgate.get_usage_breakdown(now(), now() - interval '1 day') $$, 'TG400',
  'Invalid range: p_from must be before p_to', 'a reversed range is refused');
select throws_ok($$ select * from tollgate.get_usage_breakdown(now() - interval '1 day', now(),
  '88888888-0000-4000-8000-00000000000b') $$, 'TG403', null, 'the owner cannot read another user''s breakdown');
select results_eq($$ select feature, period::text, used, "limit", remaining from tollgate.get_quota_status() $$,
  $$ values ('default', 'day', 1::bigint, 2::bigint, 1::bigint), ('default', 'month', 1::bigint, 5::bigint, 4::bigint) $$,
  'the quota status lists the free plan''s day and month limits of feature default with the one request made');
select is_empty($$ select * from tollgate.get_quota_status('chat') $$, 'a feature without limits has no quota rows');
select throws_ok($$ select * from tollgate.get_quota_status('default', '88888888-0000-4000-8000-00000000000b') $$,
  'TG403', null, 'the owner cannot read another user''s quota status');
select throws_ok($$ select * from tollgate.maintain_ai_usage_partitions() $$, '42501', null,
  'the owner cannot create partitions');
select throws_ok($$ select tollgate._log_ai_usage('88888888-0000-4000-8000-00000000000a', 'x', 'gpt-4o', 1, 1, null,
  'default', 0, null, 'success', null, false, null, null, null, now() - interval '1 year') $$, '42501', null,
  'the owner cannot call the internal function and choose the time');
reset role;

-- as another user
set local role authenticated;
select set_config('request.jwt.claims', '{"role": "authenticated", "sub": "88888888-0000-4000-8000-00000000000b"}',
  true);
select is_empty($$ select * from tollgate.ai_usage where user_id = '88888888-0000-4000-8000-00000000000a' $$,
  'another user cannot see the owner''s calls');
select results_eq($$ select request_id from tollgate.ai_usage $$, $$ values ('b1') $$,
  'another user sees only their own call');
select results_eq($$ select calls from tollgate.get_usage_breakdown(now() - interval '1 hour', now() + interval '1 hour') $$,
  $$ values (1::bigint) $$, 'another user''s breakdown holds only their own call');
reset role;

-- as service_role
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select ok((select count(*) from tollgate.ai_usage where user_id in ('88888888-0000-4000-8000-00000000000a',
  '88888888-0000-4000-8000-00000000000b')) = 6, 'service_role reads every user''s calls');
select isnt_empty(format('select * from %s', current_setting('test.partition')),
  'service_role can read a partition directly');
select results_eq($$ select credits_per_usd, store_full_text from tollgate.usage_settings $$,
  $$ values (100::numeric, false) $$, 'service_role reads the settings: 100 credits per USD, full text off');
select lives_ok($$ update tollgate.usage_settings set store_full_text = true $$,
  'service_role switches full-text storage on with an UPDATE');
select throws_ok($$ delete from tollgate.usage_settings $$, '42501', null, 'the settings row cannot be deleted');
select throws_ok($$ update tollgate.ai_usage set cost_usd = 0 $$, '42501', null,
  'service_role cannot rewrite usage rows either');
select is((tollgate.log_ai_usage(p_request_id => 'svc', p_model => 'gpt-4o', p_input_tokens => 1, p_output_tokens => 1,
  p_user_id => '88888888-0000-4000-8000-00000000000a'))->>'replayed', 'false',
  'service_role logs a call for a named user');
select throws_ok($$ select tollgate.log_ai_usage(p_request_id => 'svc2', p_model => 'gpt-4o', p_input_tokens => 1,
  p_output_tokens => 1) $$, 'TG400', null, 'service_role must name the user');
select is((select sum(calls) from tollgate.get_usage_breakdown(now() - interval '1 hour', now() + interval '1 hour',
  '88888888-0000-4000-8000-00000000000a'))::int, 6, 'service_role reads any user''s breakdown');
select is((select count(*) from tollgate.get_quota_status('default', '88888888-0000-4000-8000-00000000000a'))::int, 2,
  'service_role reads any user''s quota status');
select lives_ok($$ select * from tollgate.maintain_ai_usage_partitions() $$, 'service_role maintains partitions');
reset role;

select * from finish();
rollback;
