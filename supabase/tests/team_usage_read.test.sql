-- The usage read API on a team account (get_usage_breakdown, get_quota_status with p_account_id): a member reads
-- their own calls, owners and admins (and the service role naming no member) every call of the account, a
-- non-member nothing (TG403); the quota state is the account's, shared by its members.
begin;
select plan(8);

insert into auth.users (id, email) values
  ('b1000000-0000-4000-8000-00000000000b', 'owner@example.com'),
  ('b2000000-0000-4000-8000-00000000000b', 'member@example.com'),
  ('b3000000-0000-4000-8000-00000000000b', 'outsider@example.com');
create function pg_temp.act_as(p_role text, p_sub uuid default null) returns void language sql as $$
  select set_config('role', p_role, true),
         set_config('request.jwt.claims', json_build_object('role', p_role, 'sub', p_sub)::text, true) $$;
create function pg_temp.calls() returns bigint language sql as $$
  select coalesce(sum(calls), 0)::bigint from tollgate.get_usage_breakdown(now() - interval '1 day',
    now() + interval '1 day', p_account_id => current_setting('test.team')::uuid)
$$;

select pg_temp.act_as('authenticated', 'b1000000-0000-4000-8000-00000000000b');
select set_config('test.team', tollgate.create_team_account('Readers')::text, true);
select tollgate.add_account_member(current_setting('test.team')::uuid, 'b2000000-0000-4000-8000-00000000000b');
select tollgate.log_ai_usage('o1', 'gpt-4o', 10, 10, p_account_id => current_setting('test.team')::uuid);
select tollgate.log_ai_usage('o2', 'gpt-4o', 10, 10, p_account_id => current_setting('test.team')::uuid);
select tollgate.consume_credits('q1', 0, 'default', null, null, current_setting('test.team')::uuid);
select pg_temp.act_as('authenticated', 'b2000000-0000-4000-8000-00000000000b');
select tollgate.log_ai_usage('m1', 'gpt-4o', 10, 10, p_account_id => current_setting('test.team')::uuid);

select is(pg_temp.calls(), 1::bigint, 'a member''s breakdown counts their own call only');
select results_eq($$ select used from tollgate.get_quota_status('default', p_account_id =>
                      current_setting('test.team')::uuid) where period = 'day' $$,
  $$ values (1::bigint) $$, 'while the quota state is the account''s, the owner''s request included');
select is((select count(*) from tollgate.get_usage_breakdown(now() - interval '1 day', now() + interval '1 day'))::int,
  0, 'without p_account_id it is their personal account''s, where they made no call');

select pg_temp.act_as('authenticated', 'b1000000-0000-4000-8000-00000000000b');
select is(pg_temp.calls(), 3::bigint, 'the owner''s counts every member''s calls');

select pg_temp.act_as('authenticated', 'b3000000-0000-4000-8000-00000000000b');
select throws_ok($$ select pg_temp.calls() $$, 'TG403', null, 'a non-member reads no breakdown');
select throws_ok(format($$ select * from tollgate.get_quota_status('default', p_account_id => %L) $$,
  current_setting('test.team')), 'TG403', null, 'nor the quota state');

select pg_temp.act_as('service_role');
select is(pg_temp.calls(), 3::bigint, 'the service role naming the account and no member reads every call');
select is((select coalesce(sum(calls), 0)::bigint from tollgate.get_usage_breakdown(now() - interval '1 day',
  now() + interval '1 day', 'b2000000-0000-4000-8000-00000000000b', current_setting('test.team')::uuid)), 1::bigint,
  'and naming a member reads what that member may');

select * from finish();
rollback;
