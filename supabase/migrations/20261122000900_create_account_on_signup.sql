-- Every auth user gets an account on the default plan, with the first period's allowance, as they sign up.

create or replace function public._on_auth_user_created() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform public._open_account(new.id, now());
  return new;
end
$$;
revoke execute on function public._on_auth_user_created() from public, anon, authenticated, service_role;

drop trigger if exists tollgate_on_auth_user_created on auth.users;
create trigger tollgate_on_auth_user_created after insert on auth.users
  for each row execute function public._on_auth_user_created();

-- Backfill the users that signed up before Tollgate was installed.
select public._open_account(u.id, now())
  from auth.users u
 where not exists (select 1 from public.accounts a where a.user_id = u.id);
