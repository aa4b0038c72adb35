-- Rollback of 20261123001010_seed_model_prices.sql: the seeded example prices, if the table is still there. Price
-- rows are append-only, so the trigger is switched off for this one statement (ALTER TABLE needs the owner).

do $$
begin
  if to_regclass('public.model_prices') is not null then
    alter table public.model_prices disable trigger model_prices_append_only;
    delete from public.model_prices
     where effective_from = '2024-01-01 00:00Z'
       and model in ('gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4', 'claude-3-5-haiku', 'gemini-2.0-flash',
                     'text-embedding-3-small');
    alter table public.model_prices enable trigger model_prices_append_only;
  end if;
end
$$;
