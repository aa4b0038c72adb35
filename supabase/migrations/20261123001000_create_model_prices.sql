-- Model prices are a versioned public catalogue: a price change is a new row with a later effective_from, never an
-- edit, so the cost frozen on every ai_usage row can always be traced back to the price that produced it.

create table if not exists public.model_prices (
  model text not null check (length(model) between 1 and 128),
  effective_from timestamptz not null,
  provider text check (provider is null or length(provider) between 1 and 64),
  -- USD per million tokens. Cached input falls back to the input price when null.
  input_usd_per_mtok numeric(12, 6) not null check (input_usd_per_mtok >= 0),
  output_usd_per_mtok numeric(12, 6) not null check (output_usd_per_mtok >= 0),
  cached_input_usd_per_mtok numeric(12, 6) check (cached_input_usd_per_mtok >= 0),
  created_at timestamptz not null default now(),
  primary key (model, effective_from)
);
comment on table public.model_prices is
  'Tollgate: USD per million input/output/cached-input tokens per model, versioned by effective_from; rows are never edited.';

-- Append-only for every role, the owner included: add a row with a later effective_from instead.
create or replace function public._refuse_model_price_change() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'model_prices is append-only: % is not allowed', tg_op
    using errcode = 'TGPRC', hint = 'Insert a new row with a later effective_from to change a price.';
end
$$;
revoke execute on function public._refuse_model_price_change() from public, anon, authenticated, service_role;

drop trigger if exists model_prices_append_only on public.model_prices;
create trigger model_prices_append_only before update or delete on public.model_prices
  for each row execute function public._refuse_model_price_change();
drop trigger if exists model_prices_no_truncate on public.model_prices;
create trigger model_prices_no_truncate before truncate on public.model_prices
  for each statement execute function public._refuse_model_price_change();

alter table public.model_prices enable row level security;

-- A public catalogue, like plans: anyone reads it; the service role (or the SQL editor) adds prices.
revoke all on table public.model_prices from anon, authenticated, service_role;
grant select on table public.model_prices to anon, authenticated;
grant select, insert on table public.model_prices to service_role;

drop policy if exists model_prices_public_read on public.model_prices;
create policy model_prices_public_read on public.model_prices for select to anon, authenticated using (true);
