-- The hourly reset: rolls every account whose credit period has ended into the period containing p_now,
-- expires the lots that are due (leftover plan credits, expired promos) and grants each rolled account its plan
-- allowance once. A thin service-role entry point over public._settle_accounts (set-based, skips accounts locked
-- by a concurrent consume, which settles them itself). Re-running it at the same p_now changes nothing.
create or replace function public.reset_monthly_quotas(
  p_now timestamptz default now(),
  out accounts_rolled bigint, out credits_granted bigint, out credits_expired bigint
)
language sql
security definer
set search_path = ''
as $$
  select s.accounts_rolled, s.credits_granted, s.credits_expired from public._settle_accounts(p_now) s
$$;
revoke execute on function public.reset_monthly_quotas(timestamptz) from public, anon, authenticated, service_role;
grant execute on function public.reset_monthly_quotas(timestamptz) to service_role;
