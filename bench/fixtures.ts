/**
 * What every benchmark runs against: a `bench` plan whose request limits never bind (so the quota counters are
 * still written on every consume), N users on it with a large top-up, and the bare baseline table.
 */
import { psql } from "../scripts/lib/stack.ts";

/** Bench users are numbered 1..N; this is the uuid of user n (the same expression pgbench scripts use). */
export function benchUserId(n: number): string {
  return `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
}

/** SQL for the uuid of bench user `expr` (an integer expression), inlined by the planner. */
export const UID_SQL = (expr: string) => `bench.uid(${expr})`;

/** Credits every bench user and bare row starts with: enough that no run ever exhausts them. */
export const START_CREDITS = 1_000_000_000;

/** Creates the bench schema, plan and users (set up once per run, in a few seconds for 10,000 users). */
export async function createFixtures(dbUrl: string, users: number): Promise<void> {
  await psql(
    dbUrl,
    `
    create schema if not exists bench;
    create or replace function bench.uid(n integer) returns uuid
      language sql immutable parallel safe
      as $$ select ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid $$;
    -- pgbench calls it after switching to the caller's role, as the functions do.
    grant usage on schema bench to service_role, authenticated;

    -- Limits far above any run, on both periods the seeded tiers use, so every consume still counts itself.
    insert into tollgate.plans (id, name, monthly_credits) values ('bench', 'Bench', 0) on conflict (id) do nothing;
    insert into tollgate.plan_limits (plan_id, feature, period, request_limit)
    values ('bench', 'default', 'day', 1000000000000), ('bench', 'default', 'month', 1000000000000)
    on conflict (plan_id, feature, period) do nothing;

    -- Real signups (the trigger opens each account), then the bench plan and one large top-up each.
    insert into auth.users (id, email)
    select bench.uid(i), 'bench' || i || '@bench.example.com' from generate_series(1, ${users}) i
    on conflict (id) do nothing;
    update tollgate.accounts set plan_id = 'bench' where id in (select bench.uid(i) from generate_series(1, ${users}) i);
    select count(tollgate.grant_credits(bench.uid(i), ${START_CREDITS}, 'bench-top-up', 'top_up'))
      from generate_series(1, ${users}) i;

    -- The physical anchor: a plain table with the same key, guarded by one UPDATE.
    create table if not exists bench.plain_accounts (user_id uuid primary key, credits bigint not null);
    insert into bench.plain_accounts select bench.uid(i), ${START_CREDITS} from generate_series(1, ${users}) i
    on conflict (user_id) do nothing;
    `,
  );
  await psql(dbUrl, "vacuum analyze");
}

/** Whether a SQL function exists (pieces other issues deliver are detected, not assumed). */
export async function hasFunction(dbUrl: string, signature: string): Promise<boolean> {
  return (await psql(dbUrl, `select to_regprocedure('${signature}') is not null`)) === "t";
}

/** Signature of the usage meter, as the log-ai-usage issue defines it. */
export const LOG_AI_USAGE_SIGNATURE =
  "tollgate.log_ai_usage(text, text, bigint, bigint, text, text, bigint, integer, text, text, boolean, text, text, jsonb, uuid, uuid, bigint, uuid)";

/** Signature of the Stripe event handler, as the stripe-webhook issue defines it. */
export const HANDLE_STRIPE_EVENT_SIGNATURE = "tollgate.handle_stripe_event(jsonb)";

/** A priced model if the model_prices catalogue exists (so the meter prices its calls), else a stand-in name. */
export async function benchModel(dbUrl: string): Promise<string> {
  const hasPrices = (await psql(dbUrl, "select to_regclass('tollgate.model_prices') is not null")) === "t";
  if (!hasPrices) return "bench-model";
  const model = await psql(dbUrl, "select model from tollgate.model_prices order by model limit 1");
  return model || "bench-model";
}
