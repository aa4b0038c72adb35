-- Request quotas of tollgate.consume_credits at pinned times: exactly at a limit passes, one over is TG429 with
-- nothing applied; the day window is the UTC day, the month window the account's credit period (anniversary).
begin;
select plan(31);

-- An account on the free plan (5 a month, 2 a day on feature 'default'), anchored on 31 Jan 2030 10:00 UTC, so
-- its period runs to the clamped anniversary, 28 Feb 10:00. A top-up keeps credits out of the way.
insert into auth.users (id, email) values ('44444444-0000-4000-8000-000000000001', 'quota@example.com');
update tollgate.accounts
   set period_anchor = '2030-01-31 10:00Z', period_start = '2030-01-31 10:00Z', period_end = '2030-02-28 10:00Z'
 where id = '44444444-0000-4000-8000-000000000001';
select lives_ok($$ select tollgate.grant_credits('44444444-0000-4000-8000-000000000001', 100, 'quota-test', 'top_up') $$,
  'a top-up keeps credits out of the way');

-- Runs a statement that must fail; answers its SQLSTATE and JSON detail (the failed statement applies nothing).
create function pg_temp.refusal(p_sql text) returns jsonb language plpgsql as $$
declare
  v_detail text;
begin
  execute p_sql;
  return null;
exception when others then
  get stacked diagnostics v_detail = pg_exception_detail;
  return jsonb_build_object('sqlstate', sqlstate, 'detail', nullif(v_detail, '')::jsonb);
end
$$;
create function pg_temp.consume(p_key text, p_at timestamptz, p_feature text default 'default') returns jsonb
language sql as $$
  select tollgate._consume_credits('44444444-0000-4000-8000-000000000001', p_key, 1, p_feature, null, p_at)
$$;
create function pg_temp.state() returns jsonb language sql as $$
  select jsonb_build_object(
    'balance', (select balance from tollgate.accounts where id = '44444444-0000-4000-8000-000000000001'),
    'requests', (select coalesce(jsonb_object_agg(period || ' ' || window_start, requests), '{}')
                   from tollgate.usage_counters where account_id = '44444444-0000-4000-8000-000000000001'),
    'keys', (select count(*) from tollgate.idempotency_keys where account_id = '44444444-0000-4000-8000-000000000001'),
    'ledger', (select count(*) from tollgate.credit_ledger where account_id = '44444444-0000-4000-8000-000000000001'))
$$;
create temp table snap (name text primary key, state jsonb);

-- the day window
select is(pg_temp.consume('d1', '2030-02-10 12:00Z')->'quota'->0->>'used', '1', 'the first request of the day is counted');
select is((pg_temp.consume('d2', '2030-02-10 12:00Z')->'quota'),
  '[{"feature": "default", "period": "day", "used": 2, "limit": 2, "resets_at": "2030-02-11T00:00:00+00:00"},
    {"feature": "default", "period": "month", "used": 2, "limit": 5, "resets_at": "2030-02-28T10:00:00+00:00"}]'::jsonb,
  'exactly at the daily limit passes, and the answer lists each limit of the plan');
insert into snap values ('day full', pg_temp.state());
select is(pg_temp.refusal($$ select pg_temp.consume('d3', '2030-02-10 12:00Z') $$),
  '{"sqlstate": "TG429", "detail": {"feature": "default", "period": "day", "limit": 2, "used": 2,
    "resets_at": "2030-02-11T00:00:00+00:00", "retry_after": 43200}}'::jsonb,
  'one over the daily limit is TG429 with the window, its end and the seconds until then');
select is(pg_temp.state(), (select state from snap where name = 'day full'),
  'the refused request applied nothing: balance, counters, idempotency keys and ledger are unchanged');
select is(pg_temp.refusal($$ select pg_temp.consume('d3', '2030-02-10 23:59:59.5Z') $$)->'detail'->>'retry_after', '1',
  'half a second before midnight UTC it is still refused, with Retry-After rounded up to 1 second');
select is(pg_temp.consume('d1', '2030-02-10 18:00Z')->>'replayed', 'true',
  'a replay of an earlier request still answers when the day is full, and is not counted');
select is(pg_temp.consume('d3', '2030-02-11 00:00Z')->'quota'->0,
  '{"feature": "default", "period": "day", "used": 1, "limit": 2, "resets_at": "2030-02-12T00:00:00+00:00"}'::jsonb,
  'at midnight UTC a new day window starts and the refused key now succeeds');
select is((select requests from tollgate.usage_counters where account_id = '44444444-0000-4000-8000-000000000001'
            and period = 'day' and window_start = '2030-02-10 00:00Z'), 2::bigint,
  'the old day window keeps its count: nothing is ever zeroed');

-- the month window (credit period)
select lives_ok($$ select pg_temp.consume('m4', '2030-02-12 09:00Z') $$, 'the fourth request of the period passes');
select is(pg_temp.consume('m5', '2030-02-13 09:00Z')->'quota'->1->>'used', '5',
  'the fifth request passes: exactly at the monthly limit');
insert into snap values ('month full', pg_temp.state());
select is(pg_temp.refusal($$ select pg_temp.consume('m6', '2030-02-13 09:00Z') $$),
  '{"sqlstate": "TG429", "detail": {"feature": "default", "period": "month", "limit": 5, "used": 5,
    "resets_at": "2030-02-28T10:00:00+00:00", "retry_after": 1299600}}'::jsonb,
  'the sixth is TG429 for the month, resetting at the period''s anniversary');
select is(pg_temp.state(), (select state from snap where name = 'month full'),
  'a refusal by the month limit also rolls back the day counter it had already incremented');
select is(pg_temp.refusal($$ select pg_temp.consume('m6', '2030-02-28 09:59:59Z') $$)->'detail'->>'period', 'month',
  'one second before the anniversary the month is still full');
select is(pg_temp.consume('m6', '2030-02-28 10:00Z')->'quota'->1,
  '{"feature": "default", "period": "month", "used": 1, "limit": 5, "resets_at": "2030-03-31T10:00:00+00:00"}'::jsonb,
  'at the anniversary (28 Feb for a 31 Jan anchor) a new period starts, ending on 31 Mar');
select is((select period_start from tollgate.accounts where id = '44444444-0000-4000-8000-000000000001'),
  '2030-02-28 10:00Z'::timestamptz, 'the consume rolled the account into the new period itself');
select is((select requests from tollgate.usage_counters where account_id = '44444444-0000-4000-8000-000000000001'
            and period = 'month' and window_start = '2030-01-31 10:00Z'), 5::bigint,
  'the ended period''s counter keeps its 5 requests');

-- other features and plans
select is(pg_temp.consume('u1', '2030-02-28 10:00Z', 'unlisted')->'quota', '[]'::jsonb,
  'a feature without plan_limits rows is unlimited');
insert into tollgate.plans (id, name) values ('quota-test', 'Quota test');
insert into tollgate.plan_limits (plan_id, feature, period, request_limit) values ('quota-test', 'blocked', 'day', 0),
  ('quota-test', 'default', 'month', 1);
update tollgate.accounts set plan_id = 'quota-test' where id = '44444444-0000-4000-8000-000000000001';
select is(pg_temp.refusal($$ select pg_temp.consume('z1', '2030-03-01 10:00Z', 'blocked') $$)->'detail'->>'used', '0',
  'a limit of 0 refuses every request');
select is(pg_temp.refusal($$ select pg_temp.consume('z2', '2030-03-01 10:00Z') $$)->'detail'->>'limit', '1',
  'limits follow the account''s current plan: the new plan''s monthly limit of 1 is already used');
select is(pg_temp.consume('z3', '2030-03-01 10:00Z', 'free-form')->'quota', '[]'::jsonb,
  'the new plan leaves other features unlimited');
update tollgate.plan_limits set request_limit = 3 where plan_id = 'quota-test' and feature = 'default';
select is(pg_temp.consume('z2', '2030-03-01 10:00Z')->'quota'->0->>'limit', '3',
  'an operator raising a limit takes effect on the next request, without a migration');

-- get_quota_status at pinned times (the read side of the same counters)
select results_eq($$ select feature, period::text, used, request_limit, remaining, resets_at
  from tollgate._quota_status('44444444-0000-4000-8000-000000000001', 'default', '2030-03-01 12:00Z') $$,
  $$ values ('default', 'month', 2::bigint, 3::bigint, 1::bigint, '2030-03-31 10:00Z'::timestamptz) $$,
  'the quota status lists the plan''s limit with what is used, what remains and when it resets');
select results_eq($$ select used, remaining from tollgate._quota_status('44444444-0000-4000-8000-000000000001',
  'default', '2030-04-01 12:00Z') $$, $$ values (0::bigint, 3::bigint) $$,
  'a period that has ended but is not settled yet shows as the new, empty period');
update tollgate.accounts set plan_id = 'free' where id = '44444444-0000-4000-8000-000000000001';
select results_eq($$ select period::text, used, request_limit, remaining, resets_at
  from tollgate._quota_status('44444444-0000-4000-8000-000000000001', 'default', '2030-02-28 12:00Z') $$,
  $$ values ('day', 1::bigint, 2::bigint, 1::bigint, '2030-03-01 00:00Z'::timestamptz),
            ('month', 2::bigint, 5::bigint, 3::bigint, '2030-03-31 10:00Z'::timestamptz) $$,
  'on the free plan both the day and the month limit are listed');
select is_empty($$ select * from tollgate._quota_status('44444444-0000-4000-8000-000000000001', 'unlisted',
  '2030-02-28 12:00Z') $$, 'an unlimited feature has no quota rows');
select throws_ok($$ select * from tollgate._quota_status('44444444-0000-4000-8000-000000000001', '', now()) $$,
  'TG400', null, 'an empty feature name is refused');
select throws_ok($$ select * from tollgate._quota_status('44444444-0000-4000-8000-00000000dead', 'default', now()) $$,
  'TG404', null, 'an unknown user has no quota status');

-- the UTC day does not depend on the session's time zone (a DST change day in New York)
set local timezone = 'America/New_York';
select is((pg_temp.consume('tz1', '2030-11-03 12:00Z')->'quota'->0->>'resets_at')::timestamptz,
  '2030-11-04 00:00Z'::timestamptz,
  'on a DST change day in a non-UTC session the day window still ends at the next UTC midnight');
select is((select resets_at from tollgate._quota_status('44444444-0000-4000-8000-000000000001', 'default',
  '2030-11-03 12:00Z') where period = 'day'), '2030-11-04 00:00Z'::timestamptz,
  'the quota status agrees in a non-UTC session');
reset timezone;

select is_empty($$ select * from tollgate.check_ledger('44444444-0000-4000-8000-000000000001') $$,
  'the ledger check finds nothing after all of it');

select * from finish();
rollback;
