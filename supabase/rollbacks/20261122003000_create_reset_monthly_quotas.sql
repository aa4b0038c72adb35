drop function if exists public.reset_monthly_quotas(timestamptz);
