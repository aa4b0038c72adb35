-- Local stand-in for what every hosted Supabase project already has before our migrations run.
-- Never part of supabase/migrations: hosted projects have all of this, and `db push` must not recreate it.
-- Idempotent: applied on every `npm start` and by `npm test` on its throwaway cluster, as the cluster's superuser
-- (supabase_admin, as on hosted). Migrations then run as `postgres`, which is NOT a superuser, as on hosted: it gets
-- what hosted gives it and nothing more, so whatever needs more fails here as it would there.

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'postgres') then
    create role postgres login;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'supabase_auth_admin') then
    create role supabase_auth_admin login noinherit createrole;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
end
$$;

-- Hosted's postgres role: owns the database, may create roles and databases, bypasses RLS; no superuser.
-- (Not when this connection is postgres itself, on a database SUPABASE_DB_URL names: never demote the caller.)
do $$
begin
  if current_user <> 'postgres' then
    alter role postgres nosuperuser createrole createdb replication bypassrls;
  end if;
end
$$;
alter database postgres owner to postgres;

grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres with admin option;

-- Extensions hosted projects have enabled (pg_cron after "enable pg_cron", docs/deploy.md step 3), created by the
-- superuser in schema extensions; postgres may use them, as on hosted.
create schema if not exists extensions;
grant usage on schema extensions to postgres, anon, authenticated, service_role;
create extension if not exists pgcrypto with schema extensions;
create extension if not exists "uuid-ossp" with schema extensions;
do $$
begin
  create extension if not exists pg_cron;
  grant usage on schema cron to postgres with grant option;
  grant all on all tables in schema cron to postgres with grant option;
  grant all on all sequences in schema cron to postgres with grant option;
  grant all on all functions in schema cron to postgres with grant option;
exception when others then
  -- A database without pg_cron in shared_preload_libraries (SUPABASE_DB_URL elsewhere): migrations skip the jobs.
  raise notice 'pg_cron is not available here: %', sqlerrm;
end
$$;

-- The auth schema as GoTrue leaves it, reduced to what Tollgate touches: owned by supabase_auth_admin, with the
-- privileges hosted gives postgres on auth.users (select, insert, update, delete, references, trigger).
create schema if not exists auth authorization supabase_auth_admin;
alter schema auth owner to supabase_auth_admin;
grant usage on schema auth to postgres, anon, authenticated, service_role;

create table if not exists auth.users (
  id uuid primary key,
  email text,
  role text default 'authenticated',
  aud text default 'authenticated',
  raw_app_meta_data jsonb default '{}'::jsonb,
  raw_user_meta_data jsonb default '{}'::jsonb,
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);
alter table auth.users owner to supabase_auth_admin;
grant all on table auth.users to postgres, service_role;

-- Same bodies as hosted Supabase: claims come from the request.jwt.claims setting that PostgREST
-- (or our functions' db layer) sets per transaction.
create or replace function auth.uid() returns uuid
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

create or replace function auth.role() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

create or replace function auth.jwt() returns jsonb
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

alter function auth.uid() owner to supabase_auth_admin;
alter function auth.role() owner to supabase_auth_admin;
alter function auth.jwt() owner to supabase_auth_admin;
grant execute on function auth.uid(), auth.role(), auth.jwt() to postgres, anon, authenticated, service_role;

-- Hosted lets postgres drop triggers on auth.users, which it does not own (supautils' drop_trigger_grants):
-- for one DROP TRIGGER statement at a time, postgres owns auth.users, and the owner is restored when it ends
-- (or rolled back with it when it fails).
create schema if not exists supabase_stand_in;
revoke all on schema supabase_stand_in from public;

create or replace function supabase_stand_in.lend_auth_users() returns event_trigger
language plpgsql security definer set search_path = ''
as $$
begin
  if session_user = 'postgres' then
    alter table auth.users owner to postgres;
  end if;
end
$$;

create or replace function supabase_stand_in.return_auth_users() returns event_trigger
language plpgsql security definer set search_path = ''
as $$
begin
  if session_user = 'postgres' then
    alter table auth.users owner to supabase_auth_admin;
    -- Changing the owner twice folded postgres' own grant into the owner's: give it back.
    grant all on table auth.users to postgres;
  end if;
end
$$;

drop event trigger if exists supabase_stand_in_lend_auth_users;
create event trigger supabase_stand_in_lend_auth_users on ddl_command_start when tag in ('DROP TRIGGER')
  execute function supabase_stand_in.lend_auth_users();
drop event trigger if exists supabase_stand_in_return_auth_users;
create event trigger supabase_stand_in_return_auth_users on ddl_command_end when tag in ('DROP TRIGGER')
  execute function supabase_stand_in.return_auth_users();

-- Hosted pre-creates the publication Realtime reads, owned by postgres.
do $$
begin
  if not exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;
end
$$;
alter publication supabase_realtime owner to postgres;

-- Supabase's default privileges: everything created in public is granted to the API roles.
-- Without these a forgotten `revoke` would pass every local test and leak in production.
grant usage on schema public to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on sequences to anon, authenticated, service_role;

-- Hosted projects put the extensions schema on the search path, so `create extension ... schema extensions`
-- objects resolve unqualified in the SQL editor (and in pgTAP files).
alter database postgres set search_path = "$user", public, extensions;
