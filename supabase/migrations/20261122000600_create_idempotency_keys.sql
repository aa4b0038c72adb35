-- Idempotency records of user-facing calls: the first success is replayed, a different body is a conflict.

create table if not exists public.idempotency_keys (
  user_id uuid not null references public.accounts (user_id) on delete cascade,
  scope text not null check (scope in ('consume', 'usage')),
  key text not null check (length(key) between 1 and 255),
  request_hash text not null,
  response jsonb,
  created_at timestamptz not null default now(),
  primary key (user_id, scope, key)
);
comment on table public.idempotency_keys is 'Tollgate: service-only. Idempotency keys of consume and usage calls.';

alter table public.idempotency_keys enable row level security;
revoke all on table public.idempotency_keys from anon, authenticated, service_role;
grant select on table public.idempotency_keys to service_role;
