-- tollgate.log_ai_usage_batch / _log_ai_usage_batch at pinned times: a batch answers and books exactly what the same
-- events sent one by one would (answers, ledger rows in order, counters, rows), replays, duplicate ids inside one
-- batch, per-event errors (conflict, unknown account, another user, a bad value), limits and grants.
begin;
select plan(29);

insert into auth.users (id, email) values
  ('ba000000-0000-4000-8000-00000000000a', 'batch-a@example.com'),
  ('ba000000-0000-4000-8000-00000000000b', 'batch-b@example.com'),
  ('ba000000-0000-4000-8000-00000000000c', 'batch-c@example.com'),
  ('5e000000-0000-4000-8000-00000000000a', 'single-a@example.com'),
  ('5e000000-0000-4000-8000-00000000000b', 'single-b@example.com'),
  ('ba000000-0000-4000-8000-00000000000d', 'batch-d@example.com'),
  ('5e000000-0000-4000-8000-00000000000d', 'single-d@example.com');
select tollgate.grant_credits(id, 10, 'batch-test', 'top_up')
  from auth.users where email like 'batch-%' or email like 'single-%';

create function pg_temp.act_as(p_role text, p_sub uuid default null) returns void language sql as $$
  select set_config('role', p_role, true),
         set_config('request.jwt.claims', json_build_object('role', p_role, 'sub', p_sub)::text, true) $$;

-- The events, for accounts called A and B; :A and :B become a batch's or a single run's users.
create function pg_temp.events(p_a uuid, p_b uuid) returns jsonb language sql as $$
  select replace(replace($j$[
    {"request_id": "e1", "model": "gpt-4o", "input_tokens": 1000, "output_tokens": 500, "user_id": ":A",
     "charge_credits": true, "feature": "chat"},
    {"request_id": "e2", "model": "gpt-4o", "input_tokens": 200000, "output_tokens": 100000, "user_id": ":A",
     "charge_credits": true, "cached_input_tokens": 4000, "feature": "chat", "prompt": "hi", "metadata": {"n": 2}},
    {"request_id": "e3", "model": "no-such-model", "input_tokens": 5, "output_tokens": 5, "user_id": ":A",
     "charge_credits": true},
    {"request_id": "e1", "model": "gpt-4o", "input_tokens": 1000, "output_tokens": 500, "user_id": ":A",
     "charge_credits": true, "feature": "chat"},
    {"request_id": "e1", "model": "gpt-4o", "input_tokens": 1001, "output_tokens": 500, "user_id": ":A",
     "charge_credits": true, "feature": "chat"},
    {"request_id": "e4", "model": "claude-sonnet-4", "input_tokens": 300000, "output_tokens": 0, "user_id": ":B",
     "charge_credits": true, "status": "error", "error_code": "timeout"},
    {"request_id": "e5", "model": "gpt-4o-mini", "input_tokens": 10, "output_tokens": 10, "user_id": ":B"},
    {"request_id": "e6", "model": "", "input_tokens": 10, "output_tokens": 10, "user_id": ":B"},
    {"request_id": "e7", "model": "gpt-4o", "input_tokens": 400000, "output_tokens": 900000, "user_id": ":B",
     "charge_credits": true, "feature": "chat"},
    {"request_id": "e8", "model": "gpt-4o", "input_tokens": 1, "output_tokens": 1,
     "user_id": "ba000000-dead-4000-8000-00000000000f"},
    {"request_id": "e9", "model": "gpt-4o", "input_tokens": "many", "output_tokens": 1, "user_id": ":A"}
  ]$j$, ':A', p_a::text), ':B', p_b::text)::jsonb
$$;

-- The reference: the same events one by one through log_ai_usage's own function, each error as the batch shows it.
create function pg_temp.one_by_one(p_events jsonb, p_now timestamptz) returns jsonb language plpgsql as $$
declare
  v_out jsonb := '[]';
  v_answer jsonb;
  v_state text;
  v_message text;
  v_detail text;
  e jsonb;
begin
  for e in select * from jsonb_array_elements(p_events) loop
    begin
      select tollgate._log_ai_usage(m.account_id, e ->> 'request_id', e ->> 'model', (e ->> 'input_tokens')::bigint,
               (e ->> 'output_tokens')::bigint, e ->> 'provider', coalesce(e ->> 'feature', 'default'),
               coalesce((e ->> 'cached_input_tokens')::bigint, 0), (e ->> 'latency_ms')::integer,
               coalesce(e ->> 'status', 'success'), e ->> 'error_code', coalesce((e ->> 'charge_credits')::boolean, false),
               e ->> 'prompt', e ->> 'response', e -> 'metadata', p_now, m.user_id)
        into v_answer
        from tollgate._acting_member((e ->> 'account_id')::uuid, (e ->> 'user_id')::uuid) m;
    exception when others then
      get stacked diagnostics v_state = returned_sqlstate, v_message = message_text, v_detail = pg_exception_detail;
      v_answer := jsonb_build_object('error', jsonb_build_object('sqlstate', v_state, 'message', v_message,
                                                                 'detail', nullif(v_detail, '')));
    end;
    v_out := v_out || jsonb_build_array(v_answer);
  end loop;
  return v_out;
end
$$;
-- Answers without their usage ids (random), and the books of a pair of accounts, named A and B.
create function pg_temp.comparable(p_answers jsonb) returns jsonb language sql as $$
  select jsonb_agg(a - 'usage_id' order by o) from jsonb_array_elements(p_answers) with ordinality x (a, o) $$;
create function pg_temp.books(p_a uuid, p_b uuid) returns jsonb language sql as $$
  select jsonb_build_object(
    'ledger', (select jsonb_agg(jsonb_build_array(case account_id when p_a then 'A' else 'B' end, seq, delta,
                                                  balance_after, reason,
                                                  case reason when 'usage' then idempotency_key end,
                                                  metadata - 'usage_id')
                                order by account_id = p_b, seq)
                 from tollgate.credit_ledger where account_id in (p_a, p_b)),
    'accounts', (select jsonb_agg(jsonb_build_array(balance, overdraft, ledger_seq) order by id = p_b)
                   from tollgate.accounts where id in (p_a, p_b)),
    'lots', (select jsonb_agg(jsonb_build_array(account_id = p_b, source, amount, remaining, expires_at)
                              order by account_id = p_b, expires_at nulls last, priority, created_at)
               from tollgate.credit_lots where account_id in (p_a, p_b)),
    'events', (select jsonb_agg(jsonb_build_array(account_id = p_b, type, occurrence, data)
                                order by account_id = p_b, type, occurrence)
                 from tollgate.billing_events where account_id in (p_a, p_b) and type like 'balance.%'),
    'counters', (select jsonb_agg(jsonb_build_array(account_id = p_b, feature, period, input_tokens, output_tokens,
                                                    cached_input_tokens, cost_usd)
                                  order by account_id = p_b, feature, period)
                   from tollgate.usage_counters where account_id in (p_a, p_b)),
    'usage', (select jsonb_agg(jsonb_build_array(account_id = p_b, request_id, model, feature, input_tokens,
                                                 cost_usd, unpriced, credits_charged, prompt_sha256, metadata,
                                                 status, charge_entry_id is not null)
                               order by account_id = p_b, request_id)
                from tollgate.ai_usage where account_id in (p_a, p_b)))
$$;

-- The service role's claims, as the database's owner: the functions at pinned times are the owner's alone.
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
create temp table runs as
  select pg_temp.one_by_one(pg_temp.events('5e000000-0000-4000-8000-00000000000a',
                                           '5e000000-0000-4000-8000-00000000000b'), '2030-03-10 12:00Z') as single,
         tollgate._log_ai_usage_batch(pg_temp.events('ba000000-0000-4000-8000-00000000000a',
                                                     'ba000000-0000-4000-8000-00000000000b'), '2030-03-10 12:00Z')
           as batch;

-- as the service role: a batch is its events one by one
select is(jsonb_array_length((select batch from runs)), 11, 'a batch answers each of its 11 events');
select is(pg_temp.comparable((select batch from runs)), pg_temp.comparable((select single from runs)),
  'every answer is the one the event gets sent alone, in order: priced, unpriced, replayed, conflicting, refused');
select is((select batch -> 3 from runs), (select batch -> 0 || '{"replayed": true}' from runs),
  'an id repeated in the batch with the same body replays the first event''s answer, usage id included');
select is((select batch -> 4 -> 'error' ->> 'sqlstate' from runs), 'TG409',
  'the same id with another body in the same batch is that event''s idempotency conflict');
select is((select batch -> 9 -> 'error' ->> 'sqlstate' from runs), 'TG404',
  'an event naming a user without an account answers TG404 alone');
select is((select batch -> 10 -> 'error' ->> 'sqlstate' from runs), '22P02',
  'an event with a value of the wrong type answers 22P02 alone');
select is((select batch -> 7 -> 'error' ->> 'sqlstate' from runs), 'TG400', 'an invalid event answers TG400 alone');
select is((select batch -> 2 ->> 'unpriced' from runs), 'true', 'a model without a price is recorded unpriced');
select is(pg_temp.books('ba000000-0000-4000-8000-00000000000a', 'ba000000-0000-4000-8000-00000000000b'),
          pg_temp.books('5e000000-0000-4000-8000-00000000000a', '5e000000-0000-4000-8000-00000000000b'),
  'ledger rows in the batch''s order with the same balances, accounts, lots drawn, balance events, counters and '
  'usage rows as one by one');
select is((select balance from tollgate.accounts where id = 'ba000000-0000-4000-8000-00000000000b'), -1077::bigint,
  'post-paid charges take the balance below zero: 13 - 90 (e4) - 1,000 (e7)');
select is_empty($$ select * from tollgate.check_ledger() $$, 'the ledger check finds nothing');

-- the same batch again
select is(pg_temp.comparable(tollgate._log_ai_usage_batch(pg_temp.events('ba000000-0000-4000-8000-00000000000a',
            'ba000000-0000-4000-8000-00000000000b'), '2030-03-10 12:05Z')),
          pg_temp.comparable(pg_temp.one_by_one(pg_temp.events('5e000000-0000-4000-8000-00000000000a',
            '5e000000-0000-4000-8000-00000000000b'), '2030-03-10 12:05Z')),
  'the same batch again: the replays and errors the events get alone');
select is((select count(*) from tollgate.ai_usage where account_id = 'ba000000-0000-4000-8000-00000000000a')::int,
  3, 'a replayed batch records nothing twice');
select is(pg_temp.books('ba000000-0000-4000-8000-00000000000a', 'ba000000-0000-4000-8000-00000000000b'),
          pg_temp.books('5e000000-0000-4000-8000-00000000000a', '5e000000-0000-4000-8000-00000000000b'),
  'and books nothing twice');

-- charges that leave lots partly drawn: the earliest expiry first, in both
create function pg_temp.two_charges(p_user uuid) returns jsonb language sql as $$
  select jsonb_build_array(e || jsonb_build_object('request_id', 'd1', 'user_id', p_user),
                           e || jsonb_build_object('request_id', 'd2', 'user_id', p_user))
    from (select '{"model": "gpt-4o", "input_tokens": 1000, "output_tokens": 500, "charge_credits": true}'::jsonb
                   as e) x
$$;
select is(pg_temp.comparable(tollgate._log_ai_usage_batch(pg_temp.two_charges('ba000000-0000-4000-8000-00000000000d'),
                                                          '2030-03-10 12:10Z'))
            || jsonb_build_array(pg_temp.books('ba000000-0000-4000-8000-00000000000d',
                                               'ba000000-0000-4000-8000-00000000000d')),
          pg_temp.comparable(pg_temp.one_by_one(pg_temp.two_charges('5e000000-0000-4000-8000-00000000000d'),
                                                '2030-03-10 12:10Z'))
            || jsonb_build_array(pg_temp.books('5e000000-0000-4000-8000-00000000000d',
                                               '5e000000-0000-4000-8000-00000000000d')),
  'two charges that leave the lots partly drawn answer and book as one by one');

-- charge_credits false books nothing but the counters
select is((tollgate._log_ai_usage_batch('[{"request_id": "f1", "model": "gpt-4o", "input_tokens": 1000000,
  "output_tokens": 0, "user_id": "ba000000-0000-4000-8000-00000000000a"}]', '2030-03-10 13:00Z') -> 0) - 'usage_id',
  '{"cost_usd": "2.5", "credits_charged": 0, "balance": -139, "hold_released": 0, "unpriced": false,
    "replayed": false}'::jsonb,
  'without charge_credits an event is priced and counted, never charged');

-- an event that settles a hold takes the single call's path, inside the same batch
select set_config('test.hold', tollgate.consume_credits('h1', 5, p_user_id => 'ba000000-0000-4000-8000-00000000000c',
                                                        p_hold => true) ->> 'hold_id', true);
create temp table settled as select tollgate._log_ai_usage_batch(format($j$[
  {"request_id": "h1", "model": "gpt-4o", "input_tokens": 1000, "output_tokens": 500,
   "user_id": "ba000000-0000-4000-8000-00000000000c", "hold_id": "%s"},
  {"request_id": "h2", "model": "gpt-4o", "input_tokens": 1000, "output_tokens": 500, "charge_credits": true,
   "user_id": "ba000000-0000-4000-8000-00000000000c"}]$j$, current_setting('test.hold'))::jsonb, now()) as answers;
select is((select array[answers -> 0 ->> 'credits_charged', answers -> 0 ->> 'hold_released',
                        answers -> 1 ->> 'credits_charged'] from settled),
  array['1', '4', '1'], 'the hold is charged 1 credit and releases 4, beside an event charged post-paid');
select is((select array[balance, held] from tollgate.accounts where id = 'ba000000-0000-4000-8000-00000000000c'),
  array[11, 0]::bigint[], 'from 13 credits two are taken and nothing stays held');
select is_empty($$ select * from tollgate.check_ledger('ba000000-0000-4000-8000-00000000000c') $$,
  'the ledger check finds nothing for the account');

-- limits
select throws_ok($$ select tollgate._log_ai_usage_batch('[]', now()) $$, 'TG400', null, 'an empty batch is refused');
select throws_ok($$ select tollgate._log_ai_usage_batch((select jsonb_agg('{}'::jsonb) from generate_series(1, 1001)),
  now()) $$, 'TG400', null, 'a batch of 1,001 events is refused');
select throws_ok($$ select tollgate._log_ai_usage_batch('{"request_id": "x"}', now()) $$, 'TG400', null,
  'events that are not an array are refused');

-- as a user
select pg_temp.act_as('authenticated', 'ba000000-0000-4000-8000-00000000000a');
create temp table mine as select tollgate.log_ai_usage_batch('[
  {"request_id": "u1", "model": "gpt-4o", "input_tokens": 10, "output_tokens": 10},
  {"request_id": "u2", "model": "gpt-4o", "input_tokens": 10, "output_tokens": 10,
   "user_id": "ba000000-0000-4000-8000-00000000000b"},
  {"request_id": "u3", "model": "gpt-4o", "input_tokens": 10, "output_tokens": 10,
   "account_id": "ba000000-0000-4000-8000-00000000000b"}]') as answers;
select is((select answers -> 0 ->> 'replayed' from mine), 'false', 'a user''s event is recorded on their account');
select is((select array[answers -> 1 -> 'error' ->> 'sqlstate', answers -> 2 -> 'error' ->> 'sqlstate'] from mine),
  array['TG403', 'TG403'], 'an event naming another user, or an account not theirs, answers TG403 alone');
select pg_temp.act_as('authenticated');
select throws_ok($$ select tollgate.log_ai_usage_batch('[{"request_id": "n1", "model": "gpt-4o", "input_tokens": 1,
  "output_tokens": 1}]') $$, 'TG401', null, 'a request with neither a user nor the service role is refused whole');
reset role;
select is((select array_agg(request_id order by request_id) from tollgate.ai_usage
            where request_id in ('u1', 'u2', 'u3')), array['u1'], 'and only the user''s own event is recorded');

-- grants
select ok(has_function_privilege('authenticated', 'tollgate.log_ai_usage_batch(jsonb)', 'execute')
          and has_function_privilege('service_role', 'tollgate.log_ai_usage_batch(jsonb)', 'execute'),
  'users and the service role may log a batch');
select ok(not has_function_privilege('anon', 'tollgate.log_ai_usage_batch(jsonb)', 'execute'), 'anon may not');
select ok(not has_function_privilege('authenticated', 'tollgate._log_ai_usage_batch(jsonb, timestamptz)', 'execute')
          and not has_function_privilege('service_role', 'tollgate._log_ai_usage_batch(jsonb, timestamptz)',
                                         'execute'),
  'nobody but its owner runs the batch at a chosen time');

select * from finish();
rollback;
