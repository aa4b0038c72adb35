-- One service-only row of metering settings, so operators change how usage is charged and stored with an UPDATE
-- instead of a migration.

create table if not exists public.usage_settings (
  id boolean primary key default true check (id),
  -- log-ai-usage with charge_credits debits ceil(cost_usd * credits_per_usd) credits (100: 1 credit = 1 US cent).
  credits_per_usd numeric(20, 6) not null default 100 check (credits_per_usd > 0),
  -- Off: prompts and responses are kept only as sha256 and length. On: the full text is stored as well.
  store_full_text boolean not null default false,
  updated_at timestamptz not null default now()
);
comment on table public.usage_settings is
  'Tollgate: service-only. Metering settings (one row): credits_per_usd for charged usage, store_full_text.';

insert into public.usage_settings (id) values (true) on conflict (id) do nothing;

alter table public.usage_settings enable row level security;
revoke all on table public.usage_settings from anon, authenticated, service_role;
-- No insert or delete: there is exactly one row.
grant select, update on table public.usage_settings to service_role;
