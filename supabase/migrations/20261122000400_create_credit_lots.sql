-- Every grant is a lot that is drawn down, so plan credits can expire while bought top-ups survive.

do $$ begin
  create type public.credit_source as enum ('plan', 'top_up', 'promo', 'refund', 'adjustment');
exception when duplicate_object then null;
end $$;

create table if not exists public.credit_lots (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.accounts (user_id) on delete cascade,
  source public.credit_source not null,
  amount bigint not null check (amount > 0),
  remaining bigint not null check (remaining between 0 and amount),
  expires_at timestamptz,
  -- Among lots expiring at the same time, the lower priority is drawn first.
  priority integer not null default 100,
  -- The grant's idempotency key: one lot per key and user, whatever the retries.
  grant_key text not null check (length(grant_key) between 1 and 300),
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  unique (user_id, grant_key)
);
comment on table public.credit_lots is 'Tollgate: credit grants and what is left of them; drawn earliest expiry first.';

-- The draw-down order, over lots with something left.
create index if not exists credit_lots_draw_idx on public.credit_lots (user_id, expires_at, priority, created_at)
  where remaining > 0;

alter table public.credit_lots enable row level security;
revoke all on table public.credit_lots from anon, authenticated, service_role;
grant select on table public.credit_lots to authenticated, service_role;

drop policy if exists credit_lots_select_own on public.credit_lots;
create policy credit_lots_select_own on public.credit_lots for select to authenticated
  using (user_id = (select auth.uid()));
