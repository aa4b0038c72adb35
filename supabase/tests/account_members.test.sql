-- The four member functions over rpc: create_team_account, add_account_member, remove_account_member and
-- set_member_cap, as the owner, an admin, a member, a non-member, anon and the service role: every rule and its
-- SQLSTATE (TGM01 personal account, TGM02 not an owner or admin, TGM03 not an owner, TGM04 no such user, TGM05 the
-- last owner, TGM06 not a member; TG403 not a member of the account, the same whether or not it exists).
begin;
select plan(51);

insert into auth.users (id, email) values
  ('a1000000-0000-4000-8000-00000000000a', 'owner@example.com'),
  ('a2000000-0000-4000-8000-00000000000a', 'admin@example.com'),
  ('a3000000-0000-4000-8000-00000000000a', 'member@example.com'),
  ('a4000000-0000-4000-8000-00000000000a', 'outsider@example.com'),
  ('a5000000-0000-4000-8000-00000000000a', 'second-owner@example.com');

-- Acts as a role (and user) for the rest of the transaction, as PostgREST would.
create function pg_temp.act_as(p_role text, p_sub uuid default null) returns void language sql as $$
  select set_config('role', p_role, true),
         set_config('request.jwt.claims', json_build_object('role', p_role, 'sub', p_sub)::text, true) $$;
create function pg_temp.members(p_account uuid) returns table (user_id uuid, role text) language sql as $$
  select user_id, role::text from tollgate.account_members where account_id = p_account order by user_id $$;

-- as the owner: a team of their own
select pg_temp.act_as('authenticated', 'a1000000-0000-4000-8000-00000000000a');
select set_config('test.team', tollgate.create_team_account('  Acme  ')::text, true);
select pg_temp.act_as('none');
select results_eq($$ select kind::text, name, plan_id, balance, seats from tollgate.accounts
                     where id = current_setting('test.team')::uuid $$,
  $$ values ('team', 'Acme', 'free', 0::bigint, 0) $$,
  'create_team_account opens a team on the default plan, named without the spaces, with no credits: no free allowance');
select results_eq($$ select * from pg_temp.members(current_setting('test.team')::uuid) $$,
  $$ values ('a1000000-0000-4000-8000-00000000000a'::uuid, 'owner') $$, 'its creator is its only member, the owner');
select is_empty($$ select * from tollgate.credit_ledger where account_id = current_setting('test.team')::uuid $$,
  'and nothing was granted');
select pg_temp.act_as('authenticated', 'a1000000-0000-4000-8000-00000000000a');
select throws_ok($$ select tollgate.create_team_account('Acme', 'a4000000-0000-4000-8000-00000000000a') $$, 'TG403',
  'Forbidden: a user may act only for themselves', 'a user cannot create a team owned by someone else');
select throws_ok($$ select tollgate.create_team_account('   ') $$, 'TG400', null, 'a blank name is refused');
select throws_ok($$ select tollgate.create_team_account(repeat('x', 101)) $$, 'TG400', null,
  'a name over 100 characters is refused');

select lives_ok($$ select tollgate.add_account_member(current_setting('test.team')::uuid,
  'a2000000-0000-4000-8000-00000000000a', 'admin') $$, 'the owner adds an admin');
select is((tollgate.add_account_member(current_setting('test.team')::uuid,
  'a3000000-0000-4000-8000-00000000000a')).role::text, 'member', 'and a member, the default role, getting the row back');
select is((tollgate.add_account_member(current_setting('test.team')::uuid,
  'a3000000-0000-4000-8000-00000000000a', 'member')).role::text, 'member',
  'adding a member again with the same role changes nothing');
select is((select count(*)::int from tollgate.account_members where account_id = current_setting('test.team')::uuid),
  3, 'three members, no duplicate');
select throws_ok($$ select tollgate.add_account_member(current_setting('test.team')::uuid,
  'a3000000-0000-4000-8000-00000000000a', 'boss') $$, 'TG400', 'Invalid role boss: owner, admin or member',
  'an unknown role is refused');
select throws_ok($$ select tollgate.add_account_member(current_setting('test.team')::uuid,
  'ffffffff-0000-4000-8000-00000000000f') $$, 'TGM04', null, 'a user who does not exist is refused');
select throws_ok($$ select tollgate.add_account_member(current_setting('test.team')::uuid,
  'a1000000-0000-4000-8000-00000000000a', 'admin') $$, 'TGM05', null,
  'the last owner cannot step down to admin');
select throws_ok($$ select tollgate.remove_account_member(current_setting('test.team')::uuid,
  'a1000000-0000-4000-8000-00000000000a') $$, 'TGM05', null, 'nor leave');
select throws_ok($$ select tollgate.add_account_member('a1000000-0000-4000-8000-00000000000a',
  'a3000000-0000-4000-8000-00000000000a') $$, 'TGM01', null, 'a personal account takes no other members');
select is((tollgate.add_account_member('a1000000-0000-4000-8000-00000000000a',
  'a1000000-0000-4000-8000-00000000000a', 'owner')).role::text, 'owner',
  'adding a personal account''s owner as its owner is the no-op it looks like');
select throws_ok($$ select tollgate.set_member_cap('a1000000-0000-4000-8000-00000000000a',
  'a1000000-0000-4000-8000-00000000000a', 5, 'day') $$, 'TGM01', null, 'a personal account has no member caps');

select results_eq($$ select cap_credits, cap_period::text from tollgate.set_member_cap(
  current_setting('test.team')::uuid, 'a3000000-0000-4000-8000-00000000000a', 10, 'day') $$,
  $$ values (10::bigint, 'day') $$, 'the owner caps a member at 10 credits a day');
select throws_ok($$ select tollgate.set_member_cap(current_setting('test.team')::uuid,
  'a3000000-0000-4000-8000-00000000000a', 10, 'week') $$, 'TG400', null, 'a cap period is day or month');
select throws_ok($$ select tollgate.set_member_cap(current_setting('test.team')::uuid,
  'a3000000-0000-4000-8000-00000000000a', -1, 'day') $$, 'TG400', null, 'a negative cap is refused');
select throws_ok($$ select tollgate.set_member_cap(current_setting('test.team')::uuid,
  'a4000000-0000-4000-8000-00000000000a', 10, 'day') $$, 'TGM06', null, 'a non-member cannot be capped');

-- as an admin
select pg_temp.act_as('authenticated', 'a2000000-0000-4000-8000-00000000000a');
select throws_ok($$ select tollgate.add_account_member(current_setting('test.team')::uuid,
  'a5000000-0000-4000-8000-00000000000a', 'owner') $$, 'TGM03', null, 'an admin cannot make an owner');
select throws_ok($$ select tollgate.add_account_member(current_setting('test.team')::uuid,
  'a1000000-0000-4000-8000-00000000000a', 'member') $$, 'TGM03', null, 'nor demote one');
select throws_ok($$ select tollgate.remove_account_member(current_setting('test.team')::uuid,
  'a1000000-0000-4000-8000-00000000000a') $$, 'TGM03', null, 'nor remove one');
select throws_ok($$ select tollgate.set_member_cap(current_setting('test.team')::uuid,
  'a1000000-0000-4000-8000-00000000000a', 1, 'day') $$, 'TGM03', null, 'nor cap one');
select is((tollgate.add_account_member(current_setting('test.team')::uuid,
  'a5000000-0000-4000-8000-00000000000a', 'admin')).role::text, 'admin', 'an admin adds another admin');
select is(tollgate.remove_account_member(current_setting('test.team')::uuid, 'a5000000-0000-4000-8000-00000000000a'),
  true, 'and removes them');
select is((tollgate.set_member_cap(current_setting('test.team')::uuid, 'a3000000-0000-4000-8000-00000000000a', null,
  'day')).cap_period, null, 'an admin lifts a cap: null credits clear the period too');

-- as a member
select pg_temp.act_as('authenticated', 'a3000000-0000-4000-8000-00000000000a');
select throws_ok($$ select tollgate.add_account_member(current_setting('test.team')::uuid,
  'a4000000-0000-4000-8000-00000000000a') $$, 'TGM02', null, 'a member cannot add anyone');
select throws_ok($$ select tollgate.remove_account_member(current_setting('test.team')::uuid,
  'a2000000-0000-4000-8000-00000000000a') $$, 'TGM02', null, 'nor remove anyone else');
select throws_ok($$ select tollgate.set_member_cap(current_setting('test.team')::uuid,
  'a3000000-0000-4000-8000-00000000000a', null, null) $$, 'TGM02', null, 'nor lift their own cap');

-- as a non-member: the same refusal for an account that exists and one that does not
select pg_temp.act_as('authenticated', 'a4000000-0000-4000-8000-00000000000a');
select throws_ok(format($$ select tollgate.add_account_member(%L, 'a4000000-0000-4000-8000-00000000000a') $$,
  current_setting('test.team')), 'TG403', format('Forbidden: you are not a member of account %s',
  current_setting('test.team')), 'a non-member cannot add themselves to a team');
select throws_ok($$ select tollgate.add_account_member('eeeeeeee-0000-4000-8000-00000000000e',
  'a4000000-0000-4000-8000-00000000000a') $$, 'TG403',
  'Forbidden: you are not a member of account eeeeeeee-0000-4000-8000-00000000000e',
  'and an account that does not exist answers the same, so nobody learns which accounts exist');
select throws_ok(format($$ select tollgate.remove_account_member(%L, 'a3000000-0000-4000-8000-00000000000a') $$,
  current_setting('test.team')), 'TG403', null, 'a non-member removes nobody');
select throws_ok(format($$ select tollgate.set_member_cap(%L, 'a3000000-0000-4000-8000-00000000000a', 0, 'day') $$,
  current_setting('test.team')), 'TG403', null, 'nor caps anyone');
select throws_ok($$ select tollgate.remove_account_member('a1000000-0000-4000-8000-00000000000a',
  'a1000000-0000-4000-8000-00000000000a') $$, 'TG403', null, 'nor touches another user''s personal account');

-- leaving
select pg_temp.act_as('authenticated', 'a3000000-0000-4000-8000-00000000000a');
select is(tollgate.remove_account_member(current_setting('test.team')::uuid, 'a3000000-0000-4000-8000-00000000000a'),
  true, 'any member may leave');
select throws_ok(format($$ select tollgate.remove_account_member(%L, 'a3000000-0000-4000-8000-00000000000a') $$,
  current_setting('test.team')), 'TG403', null, 'and is then a non-member');

-- owners change hands
select pg_temp.act_as('authenticated', 'a1000000-0000-4000-8000-00000000000a');
select is(tollgate.remove_account_member(current_setting('test.team')::uuid, 'a3000000-0000-4000-8000-00000000000a'),
  false, 'removing someone who is not a member changes nothing');
select lives_ok($$ select tollgate.add_account_member(current_setting('test.team')::uuid,
  'a2000000-0000-4000-8000-00000000000a', 'owner') $$, 'an owner makes the admin an owner');
select is((tollgate.add_account_member(current_setting('test.team')::uuid,
  'a1000000-0000-4000-8000-00000000000a', 'admin')).role::text, 'admin',
  'and, no longer the last owner, steps down to admin');
select pg_temp.act_as('authenticated', 'a2000000-0000-4000-8000-00000000000a');
select throws_ok(format($$ select tollgate.remove_account_member(%L, 'a2000000-0000-4000-8000-00000000000a') $$,
  current_setting('test.team')), 'TGM05', null, 'the new last owner cannot leave either');

-- as anon
select pg_temp.act_as('anon');
select throws_ok($$ select tollgate.create_team_account('Anon') $$, '42501', null, 'anon cannot create a team');
select throws_ok(format($$ select tollgate.add_account_member(%L, 'a4000000-0000-4000-8000-00000000000a') $$,
  current_setting('test.team')), '42501', null, 'nor add a member');

-- as the service role: any account, the same rules
select pg_temp.act_as('service_role');
select throws_ok($$ select tollgate.create_team_account('Ops') $$, 'TG400', null,
  'the service role names the owner of a team it creates');
select set_config('test.ops', tollgate.create_team_account('Ops', 'a4000000-0000-4000-8000-00000000000a')::text,
  true);
select results_eq($$ select * from pg_temp.members(current_setting('test.ops')::uuid) $$,
  $$ values ('a4000000-0000-4000-8000-00000000000a'::uuid, 'owner') $$, 'and that user owns it');
select is((tollgate.add_account_member(current_setting('test.team')::uuid,
  'a4000000-0000-4000-8000-00000000000a', 'owner')).role::text, 'owner', 'the service role grants the owner role');
select throws_ok($$ select tollgate.add_account_member('eeeeeeee-0000-4000-8000-00000000000e',
  'a4000000-0000-4000-8000-00000000000a') $$, 'TG404', null, 'and is told when an account does not exist');
select throws_ok($$ select tollgate.add_account_member('a1000000-0000-4000-8000-00000000000a',
  'a4000000-0000-4000-8000-00000000000a') $$, 'TGM01', null,
  'a personal account takes no members from the service role either');
select throws_ok(format($$ select tollgate.remove_account_member(%L, 'a4000000-0000-4000-8000-00000000000a') $$,
  current_setting('test.ops')), 'TGM05', null, 'nor does any account lose its last owner');
select pg_temp.act_as('none');

select results_eq($$ select * from pg_temp.members(current_setting('test.team')::uuid) $$,
  $$ values ('a1000000-0000-4000-8000-00000000000a'::uuid, 'admin'), ('a2000000-0000-4000-8000-00000000000a', 'owner'),
            ('a4000000-0000-4000-8000-00000000000a', 'owner') $$,
  'the team ends with the members every allowed call left');

select * from finish();
rollback;
