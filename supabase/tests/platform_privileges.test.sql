-- The role migrations and these tests run as has what hosted gives postgres and no more: not a superuser, no
-- ownership of auth.users, yet allowed the triggers Tollgate puts on it.
begin;
select plan(6);

select is(current_user::text, 'postgres', 'pgTAP runs as postgres, as `supabase test db` does');
select is((select rolsuper from pg_roles where rolname = current_user), false, 'postgres is not a superuser');
select is((select rolbypassrls from pg_roles where rolname = current_user), true, 'postgres bypasses RLS, as on hosted');

select throws_ok($$ alter table auth.users add column tollgate_probe int $$, '42501', null,
  'postgres cannot alter auth.users, which Supabase Auth owns');
select throws_ok($$ set local session_replication_role = replica $$, '42501', null,
  'postgres cannot switch triggers off with session_replication_role');

drop trigger tollgate_on_auth_user_created on auth.users;
create trigger tollgate_on_auth_user_created after insert on auth.users
  for each row execute function tollgate._on_auth_user_created();
select is((select relowner::regrole::text from pg_class where oid = 'auth.users'::regclass), 'supabase_auth_admin',
  'postgres may drop and re-create its trigger on auth.users, which stays Supabase Auth''s');

select * from finish();
rollback;
