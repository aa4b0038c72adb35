-- The tiers a fresh deployment needs (db push never runs seed.sql); on conflict do nothing keeps operators' edits.

insert into public.plans (id, name, monthly_credits, is_default, sort_order) values
  ('free', 'Free', 3, true, 0),
  ('starter', 'Starter', 100, false, 10),
  ('pro', 'Pro', 500, false, 20),
  ('business', 'Business', 2500, false, 30)
on conflict (id) do nothing;

-- Request limits on feature 'default', so an app that never names a feature gets them.
insert into public.plan_limits (plan_id, feature, period, request_limit) values
  ('free', 'default', 'month', 5),
  ('free', 'default', 'day', 2),
  ('starter', 'default', 'month', 50),
  ('starter', 'default', 'day', 10),
  ('pro', 'default', 'month', 200),
  ('pro', 'default', 'day', 50),
  ('business', 'default', 'month', 1000)
on conflict (plan_id, feature, period) do nothing;
