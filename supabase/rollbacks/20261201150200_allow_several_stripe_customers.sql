-- Rollback of 20261201150200_allow_several_stripe_customers.sql: one customer per user again (fails while a user
-- has several; unlink the extra ones first).
drop index if exists public.stripe_customers_user_idx;
do $$ begin
  alter table public.stripe_customers add constraint stripe_customers_user_id_key unique (user_id);
exception when duplicate_table or duplicate_object or undefined_table then null;
end $$;
do $$ begin
  comment on table public.stripe_customers is
    'Tollgate: service-only. Stripe customer linked to a user by checkout client_reference_id.';
exception when undefined_table then null;
end $$;
