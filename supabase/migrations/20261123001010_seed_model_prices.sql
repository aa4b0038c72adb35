-- Example prices of a few common models, so log-ai-usage prices calls on a fresh deployment (db push never runs
-- seed.sql). They are list prices at the time of writing and meant to be checked and extended by operators; on
-- conflict do nothing keeps whatever they added.

insert into public.model_prices (model, provider, effective_from, input_usd_per_mtok, output_usd_per_mtok,
                                 cached_input_usd_per_mtok) values
  ('gpt-4o', 'openai', '2024-01-01 00:00Z', 2.50, 10.00, 1.25),
  ('gpt-4o-mini', 'openai', '2024-01-01 00:00Z', 0.15, 0.60, 0.075),
  ('claude-sonnet-4', 'anthropic', '2024-01-01 00:00Z', 3.00, 15.00, 0.30),
  ('claude-3-5-haiku', 'anthropic', '2024-01-01 00:00Z', 0.80, 4.00, 0.08),
  ('gemini-2.0-flash', 'google', '2024-01-01 00:00Z', 0.10, 0.40, 0.025),
  ('text-embedding-3-small', 'openai', '2024-01-01 00:00Z', 0.02, 0, null)
on conflict (model, effective_from) do nothing;
