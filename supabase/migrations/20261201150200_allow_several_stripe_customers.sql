-- An account may have several Stripe customers (a Checkout Session created without `customer` makes a new one),
-- and a paid checkout must never fail for it. A customer still belongs to one user.
alter table public.stripe_customers drop constraint if exists stripe_customers_user_id_key;
create index if not exists stripe_customers_user_idx on public.stripe_customers (user_id);
comment on table public.stripe_customers is
  'Tollgate: service-only. Stripe customers linked to users by checkout client_reference_id; a user may have several.';
