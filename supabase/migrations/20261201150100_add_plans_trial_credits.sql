-- A trial grants its plan's trial credits (once per account, ever), not a paid month's allowance.
alter table public.plans add column if not exists trial_credits bigint not null default 0
  check (trial_credits >= 0);
comment on column public.plans.trial_credits is
  'Tollgate: credits a trialing subscription of this plan grants, once per account ever; they end with the trial.';
