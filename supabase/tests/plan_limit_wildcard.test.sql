-- Plan limits on feature '*': one window for every request of the plan, whatever feature the
-- caller names, beside a named feature's own limits; without a '*' row an unnamed feature stays unlimited.
begin;
select plan(13);

-- A plan with 3 requests a UTC day across all features, and 2 a day for 'chat' of those.
insert into tollgate.plans (id, name) values ('wild', 'Wildcard test');
insert into tollgate.plan_limits (plan_id, feature, period, request_limit) values
  ('wild', '*', 'day', 3),
  ('wild', 'chat', 'day', 2);
insert into auth.users (id, email) values
  ('5e000000-0000-4000-8000-000000000001', 'wild@example.com'),
  ('5e000000-0000-4000-8000-000000000002', 'free@example.com');
update tollgate.accounts set plan_id = 'wild' where id = '5e000000-0000-4000-8000-000000000001';
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select tollgate.grant_credits(u, 100, 'wild', 'top_up')
  from unnest(array['5e000000-0000-4000-8000-000000000001', '5e000000-0000-4000-8000-000000000002']::uuid[]) u;

-- A zero-credit consume at a pinned time (late in the UTC day), or its SQLSTATE and detail when refused.
create function pg_temp.consume(p_user uuid, p_key text, p_feature text) returns jsonb language plpgsql as $$
declare
  v_detail text;
begin
  return tollgate._consume_credits(p_user, p_key, 0, p_feature, null, '2027-03-10 23:59Z');
exception when others then
  get stacked diagnostics v_detail = pg_exception_detail;
  return jsonb_build_object('sqlstate', sqlstate, 'detail', nullif(v_detail, '')::jsonb);
end
$$;

select is((select jsonb_agg(jsonb_build_array(q ->> 'feature', q ->> 'used', q ->> 'limit'))
             from jsonb_array_elements(pg_temp.consume('5e000000-0000-4000-8000-000000000001', 'c1', 'chat')
                                       -> 'quota') q),
  '[["chat", "1", "2"], ["*", "1", "3"]]'::jsonb,
  'a request counts against its feature''s limit and the plan-wide one, the feature''s listed first');
select is(pg_temp.consume('5e000000-0000-4000-8000-000000000001', 'c2', 'chat') ->> 'replayed', 'false',
  'the second chat request passes');
select is(pg_temp.consume('5e000000-0000-4000-8000-000000000001', 'c3', 'chat') #>> '{detail,feature}', 'chat',
  'a third is refused by the chat limit');
select is((pg_temp.consume('5e000000-0000-4000-8000-000000000001', 's1', 'summarize') -> 'quota') -> 0 ->> 'used',
  '3', 'a feature the plan does not name still counts against the plan-wide window');
select is(pg_temp.consume('5e000000-0000-4000-8000-000000000001', 'x1', 'made-up-by-the-client'),
  jsonb_build_object('sqlstate', 'TG429', 'detail', jsonb_build_object('feature', '*', 'period', 'day',
    'limit', 3, 'used', 3, 'resets_at', '2027-03-11T00:00:00+00:00', 'retry_after', 60)),
  'so naming any other feature cannot escape it: TG429 for feature *');
select throws_ok($$ select tollgate._consume_credits('5e000000-0000-4000-8000-000000000001', 'x2', 0, 'other', null,
  '2027-03-10 23:59Z') $$, 'TG429', 'Quota exceeded: 3 requests per day across all features',
  'the message says the limit is across all features');
select is((select requests from tollgate.usage_counters where account_id = '5e000000-0000-4000-8000-000000000001'
            and feature = '*' and period = 'day'), 3::bigint, 'the plan-wide window counted the 3 admitted requests');
select is((select requests from tollgate.usage_counters where account_id = '5e000000-0000-4000-8000-000000000001'
            and feature = 'chat' and period = 'day'), 2::bigint, 'refused requests counted nothing');
select is(pg_temp.consume('5e000000-0000-4000-8000-000000000001', 'c1', 'chat') ->> 'replayed', 'true',
  'a replay is still answered when the plan-wide window is full');
select is((tollgate._consume_credits('5e000000-0000-4000-8000-000000000001', 'n2', 0, 'summarize', null,
  '2027-03-11 00:00Z') -> 'quota') -> 0 ->> 'used', '1', 'at midnight UTC the plan-wide window starts again');
select results_eq($$ select feature, period::text, used, request_limit from tollgate._quota_status(
    '5e000000-0000-4000-8000-000000000001', 'summarize', '2027-03-11 00:00Z') $$,
  $$ values ('*'::text, 'day'::text, 1::bigint, 3::bigint) $$,
  'quota status for a feature lists the plan-wide limits too');

-- without a '*' row
select is((select count(*) from generate_series(1, 10) i
            where pg_temp.consume('5e000000-0000-4000-8000-000000000002', 'f' || i, 'chat') ? 'sqlstate')::int, 0,
  'on the free plan (limits on default only) 10 requests of a feature it does not name all pass: unlimited');
select is_empty($$ select 1 from tollgate.plan_limits l join tollgate.plans p on p.id = l.plan_id
                   where l.feature <> 'default' and p.id in ('free', 'starter', 'pro', 'business') $$,
  'the seeded plans limit feature default only');

select * from finish();
rollback;
