-- tollgate.log_ai_usage / _log_ai_usage at pinned times: pricing, counters, replay and conflict, unpriced models,
-- post-paid charges below zero, the consume link, full-text storage, validation and lazy settling.
begin;
select plan(43);

-- An account anchored on 31 Jan 2030 10:00 UTC (period to 28 Feb 10:00) with 10 top-up credits; its signup lot
-- has long expired by then and is settled away by the first call.
insert into auth.users (id, email) values ('55555555-0000-4000-8000-000000000001', 'meter@example.com');
update tollgate.accounts
   set period_anchor = '2030-01-31 10:00Z', period_start = '2030-01-31 10:00Z', period_end = '2030-02-28 10:00Z'
 where id = '55555555-0000-4000-8000-000000000001';
select lives_ok($$ select tollgate.grant_credits('55555555-0000-4000-8000-000000000001', 10, 'meter', 'top_up') $$,
  'the account gets 10 top-up credits');

-- _log_ai_usage with the public function's defaults, at a pinned time.
create function pg_temp.log(
  p_request_id text, p_model text, p_input bigint, p_output bigint, p_at timestamptz,
  p_cached bigint default 0, p_charge boolean default false, p_prompt text default null,
  p_response text default null, p_feature text default 'chat', p_status text default 'success',
  p_error_code text default null, p_metadata jsonb default null
) returns jsonb language sql as $$
  select tollgate._log_ai_usage('55555555-0000-4000-8000-000000000001', p_request_id, p_model, p_input, p_output,
                              'test-provider', p_feature, p_cached, 120, p_status, p_error_code, p_charge, p_prompt,
                              p_response, p_metadata, p_at)
$$;
create function pg_temp.balance() returns bigint language sql as $$
  select balance from tollgate.accounts where id = '55555555-0000-4000-8000-000000000001'
$$;

-- This user's rows only (the database may hold other users' calls).
create temp view mine as
  select u.tableoid::regclass::text as partition, u.* from tollgate.ai_usage u
   where u.account_id = '55555555-0000-4000-8000-000000000001';

-- a priced call
create temp table first_call as
  select pg_temp.log('r1', 'gpt-4o', 1000, 500, '2030-02-10 12:00Z', p_cached => 2000, p_prompt => 'hello',
                     p_response => 'world', p_metadata => '{"conversation": 7}') as answer;
select is((select answer - 'usage_id' from first_call),
  '{"cost_usd": "0.01", "credits_charged": 0, "balance": 10, "hold_released": 0, "unpriced": false, "replayed": false}'::jsonb,
  'gpt-4o at 2.50/10/1.25 USD per million: 1,000 in + 500 out + 2,000 cached cost 0.01 USD, nothing charged');
select results_eq($$
  select request_id, model, provider, feature, input_tokens, output_tokens, cached_input_tokens, latency_ms, status,
         cost_usd, unpriced, price_effective_from, credits_charged, metadata, created_at
    from mine where id = (select (answer->>'usage_id')::uuid from first_call) $$,
  $$ values ('r1', 'gpt-4o', 'test-provider', 'chat', 1000::bigint, 500::bigint, 2000::bigint, 120, 'success',
             0.01::numeric, false, '2024-01-01 00:00Z'::timestamptz, 0::bigint, '{"conversation": 7}'::jsonb,
             '2030-02-10 12:00Z'::timestamptz) $$,
  'one ai_usage row holds the call, its frozen cost, the price row used and the time of the call');
select results_eq($$
  select prompt_sha256, prompt_length, response_sha256, response_length, prompt, response
    from mine where request_id = 'r1' $$,
  $$ values (encode(sha256('hello'::bytea), 'hex'), 5, encode(sha256('world'::bytea), 'hex'), 5, null::text,
             null::text) $$,
  'prompt and response are kept as sha256 and length only, while full-text storage is off');
select is((select partition from mine where request_id = 'r1'), 'tollgate.ai_usage_default',
  'a call years ahead of the partitions is not refused: it waits in the DEFAULT partition');
select results_eq($$
  select period::text, window_start, window_end, requests, input_tokens, output_tokens, cached_input_tokens, cost_usd
    from tollgate.usage_counters where account_id = '55555555-0000-4000-8000-000000000001' and feature = 'chat'
   order by period $$,
  $$ values ('day', '2030-02-10 00:00Z'::timestamptz, '2030-02-11 00:00Z'::timestamptz, 0::bigint, 1000::bigint,
             500::bigint, 2000::bigint, 0.01::numeric),
            ('month', '2030-01-31 10:00Z'::timestamptz, '2030-02-28 10:00Z'::timestamptz, 0::bigint, 1000::bigint,
             500::bigint, 2000::bigint, 0.01::numeric) $$,
  'tokens and cost go to the feature''s UTC-day and credit-period counters, without counting a request');

-- replay and conflict
select is(pg_temp.log('r1', 'gpt-4o', 1000, 500, '2030-02-10 12:05Z', p_cached => 2000, p_prompt => 'hello',
                      p_response => 'world', p_metadata => '{"conversation": 7}'),
  (select answer || '{"replayed": true}' from first_call),
  'the same request_id and body answer the first result again with replayed true');
select is((select count(*) from mine where request_id = 'r1')::int, 1, 'a replay records no second row');
select is((select input_tokens from tollgate.usage_counters where account_id = '55555555-0000-4000-8000-000000000001'
            and feature = 'chat' and period = 'day'), 1000::bigint, 'a replay adds nothing to the counters');
select throws_ok($$ select pg_temp.log('r1', 'gpt-4o', 1001, 500, '2030-02-10 12:05Z', p_cached => 2000,
  p_prompt => 'hello', p_response => 'world', p_metadata => '{"conversation": 7}') $$, 'TG409', null,
  'the same request_id with other token counts is an idempotency conflict');
select throws_ok($$ select pg_temp.log('r1', 'gpt-4o', 1000, 500, '2030-02-10 12:05Z', p_cached => 2000,
  p_prompt => 'hello!', p_response => 'world', p_metadata => '{"conversation": 7}') $$, 'TG409', null,
  'the same request_id with another prompt is an idempotency conflict');

-- unpriced models, post-paid charges
select is(pg_temp.log('r2', 'my-finetune', 5000, 5000, '2030-02-10 13:00Z', p_charge => true) - 'usage_id',
  '{"cost_usd": "0", "credits_charged": 0, "balance": 10, "hold_released": 0, "unpriced": true, "replayed": false}'::jsonb,
  'a model without a price is recorded at cost 0 with unpriced true, and charges nothing');
select is((select unpriced and price_effective_from is null from mine where request_id = 'r2'), true,
  'the unpriced row names no price');
select is(pg_temp.log('r3', 'gpt-4o', 1000, 500, '2030-02-10 13:00Z', p_charge => true) - 'usage_id',
  '{"cost_usd": "0.0075", "credits_charged": 1, "balance": 9, "hold_released": 0, "unpriced": false, "replayed": false}'::jsonb,
  'a charged call of 0.0075 USD at 100 credits per USD rounds 0.75 up to 1 credit');
select results_eq($$ select reason, delta, idempotency_key from tollgate.credit_ledger
   where account_id = '55555555-0000-4000-8000-000000000001' and reason = 'usage' $$,
  $$ values ('usage', -1::bigint, 'r3') $$, 'the charge is one usage ledger entry keyed by the request_id');
select is((select charge_entry_id from mine where request_id = 'r3'),
  (select id from tollgate.credit_ledger where account_id = '55555555-0000-4000-8000-000000000001' and reason = 'usage'
      and idempotency_key = 'r3'), 'the usage row links its charge entry');
select is(pg_temp.log('r4', 'claude-sonnet-4', 100000, 20000, '2030-02-10 14:00Z', p_charge => true) - 'usage_id',
  '{"cost_usd": "0.6", "credits_charged": 60, "balance": -51, "hold_released": 0, "unpriced": false, "replayed": false}'::jsonb,
  'a post-paid charge of 60 credits against a balance of 9 is recorded and takes the balance to -51');
select results_eq($$ select balance, overdraft from tollgate.accounts
   where id = '55555555-0000-4000-8000-000000000001' $$, $$ values (-51::bigint, 51::bigint) $$,
  'what the lots could not cover is overdraft');
select throws_ok($$ select tollgate._consume_credits('55555555-0000-4000-8000-000000000001', 'after-debt', 1,
  'unlisted', null, '2030-02-10 15:00Z') $$, 'TG402', null, 'the next consume is refused with TG402');
select is(pg_temp.log('r5', 'gpt-4o', 1000, 500, '2030-02-10 15:00Z', p_charge => true)->>'balance', '-52',
  'logging never refuses for balance: a further charge goes deeper');
update tollgate.usage_settings set credits_per_usd = 1000;
select is(pg_temp.log('r6', 'gpt-4o', 1000, 500, '2030-02-10 15:00Z', p_charge => true)->>'credits_charged', '8',
  'credits_per_usd is a setting: at 1000 credits per USD, 0.0075 USD is 7.5, rounded up to 8 credits');
select is(pg_temp.log('r7', 'text-embedding-3-small', 0, 0, '2030-02-10 15:00Z', p_cached => 1000000)->>'cost_usd',
  '0.02', 'a model without a cached-input price bills cached tokens at its input price');
select is(pg_temp.log('r8', 'gpt-4o', 0, 0, '2030-02-10 15:00Z', p_charge => true) - 'usage_id',
  '{"cost_usd": "0", "credits_charged": 0, "balance": -60, "hold_released": 0, "unpriced": false, "replayed": false}'::jsonb,
  'a charged call that cost nothing debits nothing');
select is((select count(*) from tollgate.credit_ledger where account_id = '55555555-0000-4000-8000-000000000001'
            and reason = 'usage' and idempotency_key = 'r8')::int, 0, 'and writes no ledger entry');
select is_empty($$ select * from tollgate.check_ledger('55555555-0000-4000-8000-000000000001') $$,
  'the ledger check finds nothing after post-paid charges');

-- lazy settling: the first call after the anniversary rolls the period (and the plan grant repays overdraft)
select is(pg_temp.log('r9', 'gpt-4o', 1000, 0, '2030-03-01 09:00Z')->>'balance', '-57',
  'a call after the anniversary settles the account first: the 3 plan credits repay overdraft');
select is((select period_start from tollgate.accounts where id = '55555555-0000-4000-8000-000000000001'),
  '2030-02-28 10:00Z'::timestamptz, 'the account is in its new credit period');
select is((select window_start from tollgate.usage_counters where account_id = '55555555-0000-4000-8000-000000000001'
            and feature = 'chat' and period = 'month' order by window_start desc limit 1),
  '2030-02-28 10:00Z'::timestamptz, 'the call''s tokens count in the new period''s month window');

-- the consume link, errors, full text
select lives_ok($$ select tollgate._consume_credits('55555555-0000-4000-8000-000000000001', 'job-1', 0, 'unlisted',
  null, '2030-03-01 09:00Z') $$, 'a zero-credit consume of key job-1 passes');
select lives_ok($$ select tollgate._consume_credits('55555555-0000-4000-8000-000000000001', 'job-2', 0, 'unlisted',
  null, '2030-03-01 09:00Z') $$, 'so does job-2');
select is((select consume_entry_id from mine where request_id = 'r9'), null,
  'a call without a consume of the same key links none');
update tollgate.usage_settings set credits_per_usd = 100;
select is((tollgate.grant_credits('55555555-0000-4000-8000-000000000001', 100, 'repay', 'top_up'))->>'balance', '43',
  'a top-up of 100 repays the overdraft of 57 first');
select lives_ok($$ select tollgate._consume_credits('55555555-0000-4000-8000-000000000001', 'job-3', 1, 'unlisted',
  null, '2030-03-01 09:00Z') $$, 'a consume of key job-3 debits a credit');
create temp table job3 as select pg_temp.log('job-3', 'gpt-4o', 10, 10, '2030-03-01 09:01Z') as answer;
select is((select (answer->>'usage_id')::uuid from job3), (select id from mine where request_id = 'job-3'),
  'logging the same key as request_id records the call');
select is((select consume_entry_id from mine where request_id = 'job-3'),
  (select id from tollgate.credit_ledger where account_id = '55555555-0000-4000-8000-000000000001' and reason = 'consume'
      and idempotency_key = 'job-3'), 'and links the consume ledger entry that used it');
select lives_ok($$ select pg_temp.log('e1', 'gpt-4o', 10, 0, '2030-03-01 09:02Z', p_status => 'error',
  p_error_code => 'rate_limited') $$, 'a failed call is recorded too');
select results_eq($$ select status, error_code from mine where request_id = 'e1' $$,
  $$ values ('error', 'rate_limited') $$, 'with its status and error code');
update tollgate.usage_settings set store_full_text = true;
select lives_ok($$ select pg_temp.log('f1', 'gpt-4o', 1, 1, '2030-03-01 09:03Z', p_prompt => 'Summarise this',
  p_response => 'A summary') $$, 'a call is logged while full-text storage is on');
select results_eq($$ select prompt, response, prompt_length, prompt_sha256 from mine where request_id = 'f1' $$,
  $$ values ('Summarise this', 'A summary', 14, encode(sha256('Summarise this'::bytea), 'hex')) $$,
  'with full-text storage on, the text is stored beside its hash and length');

-- validation
select throws_ok($$ select pg_temp.log('v1', 'gpt-4o', -1, 0, now()) $$, 'TG400',
  'Invalid token counts: input, output, cached input and cache write tokens must be 0 to 1000000000',
  'negative tokens are refused with a clear message');
select throws_ok($$ select pg_temp.log('v2', 'gpt-4o', 1, 1, now(), p_status => 'maybe') $$, 'TG400',
  'Invalid status: must be success or error', 'an unknown status is refused');
select throws_ok($$ select pg_temp.log('v3', '', 1, 1, now()) $$, 'TG400',
  'Invalid model: must be 1 to 128 characters', 'an empty model is refused');
select throws_ok($$ select pg_temp.log(repeat('k', 256), 'gpt-4o', 1, 1, now()) $$, 'TG400',
  'Invalid request_id: must be 1 to 255 characters', 'a request_id over 255 characters is refused');

select * from finish();
rollback;
