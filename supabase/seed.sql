-- Local development data only: hosted `supabase db push` never runs this file.
-- Two demo users; the signup trigger opens their accounts on the default plan.
insert into auth.users (id, email, raw_user_meta_data)
values
  ('00000000-0000-4000-8000-000000000001', 'ada@example.com', '{"name": "Ada"}'),
  ('00000000-0000-4000-8000-000000000002', 'grace@example.com', '{"name": "Grace"}')
on conflict (id) do nothing;

-- Ada also bought a pack of 100 credits.
select tollgate.grant_credits('00000000-0000-4000-8000-000000000001', 100, 'seed-top-up', 'top_up');
