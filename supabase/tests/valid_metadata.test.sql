-- metadata over rpc: consume_credits, log_ai_usage and grant_credits take a JSON object of at most
-- 16384 bytes as PostgreSQL prints it, and refuse anything else with TG400 naming metadata, before writing.
begin;
select plan(11);

insert into auth.users (id, email) values ('5d000000-0000-4000-8000-000000000001', 'metadata@example.com');

-- An object that prints as exactly p_bytes bytes: {"k": "xx…x"} is 9 bytes plus the x's.
create function pg_temp.object_of(p_bytes int) returns jsonb language sql as $$
  select jsonb_build_object('k', repeat('x', p_bytes - 9))
$$;
select is(octet_length(pg_temp.object_of(16384)::text), 16384, 'the helper builds an object of the given size');

-- as the user, over rpc
select set_config('request.jwt.claims',
  '{"role": "authenticated", "sub": "5d000000-0000-4000-8000-000000000001"}', true);
set local role authenticated;
select throws_ok($$ select tollgate.consume_credits('m1', 0, 'unlimited', '[1, 2]') $$, 'TG400',
  'Invalid metadata: must be a JSON object, not array', 'consume_credits refuses an array as metadata');
select throws_ok($$ select tollgate.consume_credits('m2', 0, 'unlimited', '"text"') $$, 'TG400',
  'Invalid metadata: must be a JSON object, not string', 'and a string');
select throws_ok($$ select tollgate.consume_credits('m3', 0, 'unlimited', pg_temp.object_of(16385)) $$, 'TG400',
  'Invalid metadata: must be at most 16384 bytes as JSON, not 16385', 'and an object one byte over 16 KiB');
select lives_ok($$ select tollgate.consume_credits('m4', 0, 'unlimited', pg_temp.object_of(16384)) $$,
  'an object of exactly 16 KiB is taken');
select lives_ok($$ select tollgate.consume_credits('m5', 0, 'unlimited', null) $$, 'and no metadata at all');
select throws_ok($$ select tollgate.log_ai_usage('u1', 'gpt-4o', 1, 1, p_metadata => '[]') $$, 'TG400', null,
  'log_ai_usage refuses an array as metadata');
select throws_ok($$ select tollgate.log_ai_usage('u2', 'gpt-4o', 1, 1, p_metadata => pg_temp.object_of(20000)) $$,
  'TG400', null, 'and an oversized object');
reset role;

select is((select count(*) from tollgate.idempotency_keys where account_id = '5d000000-0000-4000-8000-000000000001'
            and key in ('m1', 'm2', 'm3', 'u1', 'u2'))::int, 0, 'a refused call binds no idempotency key');

-- as the service role
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
set local role service_role;
select throws_ok($$ select tollgate.grant_credits('5d000000-0000-4000-8000-000000000001', 5, 'g1', 'promo', null,
  '[]') $$, 'TG400', null, 'grant_credits refuses an array as metadata');
reset role;

select throws_ok($$ select tollgate._valid_metadata('true') $$, 'TG400', null,
  'the check is one function, refusing a boolean too');

select * from finish();
rollback;
