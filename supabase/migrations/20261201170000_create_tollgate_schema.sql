-- Tollgate lives in its own schema so it can enter a project that already has its own `plans`, `accounts` or
-- `usage_counters` in public, and leave it again without touching them. Nothing of Tollgate goes into public.
--
-- A new schema has none of Supabase's default grants: every table and function grants exactly what it needs in
-- the file that creates it, and every function first revokes the execute PostgreSQL gives PUBLIC by default.
-- PostgREST serves the schema once it is listed in [api] schemas of config.toml (hosted: Settings > API > Exposed
-- schemas); supabase-js reads it with supabase.schema('tollgate').

create schema if not exists tollgate;
comment on schema tollgate is
  'Tollgate: credits, usage metering, plan quotas and Stripe subscriptions. Written only by its own functions.';

grant usage on schema tollgate to anon, authenticated, service_role;
