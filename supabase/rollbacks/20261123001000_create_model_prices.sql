-- Rollback of 20261123001000_create_model_prices.sql: the table (its triggers and policy go with it), then the
-- trigger function.

drop table if exists public.model_prices;
drop function if exists public._refuse_model_price_change();
