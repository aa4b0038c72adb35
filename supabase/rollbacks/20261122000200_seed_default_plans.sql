-- Rollback of 20261122000200_seed_default_plans.sql: the seeded tiers, if their tables are still there.

do $$
begin
  if to_regclass('public.plan_limits') is not null then
    delete from public.plan_limits
     where plan_id in ('free', 'starter', 'pro', 'business') and feature = 'default';
  end if;
  if to_regclass('public.plans') is not null then
    delete from public.plans p
     where p.id in ('free', 'starter', 'pro', 'business')
       and not exists (select 1 from public.plan_limits l where l.plan_id = p.id);
  end if;
end
$$;
