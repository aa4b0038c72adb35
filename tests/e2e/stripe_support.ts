/** What the Stripe end-to-end tests share: signed delivery through the gateway, event builders, the books. */
import assert from "node:assert/strict";
import type postgres from "postgres";
import type Stripe from "stripe";
import { call, newUser } from "./_helpers.ts";
import { FakeStripeControl } from "../../scripts/lib/fake_stripe.ts";
import {
  type Fixture,
  freshIds,
  type Ids,
  PRICES,
  signature,
  stripeEvent,
} from "../fixtures/stripe/fixtures.ts";

export const FN = "stripe-webhook";
export const SECRET = Deno.env.get("STRIPE_WEBHOOK_SECRET") ?? "whsec_tollgate_local_only";

function requireEnv(name: string): string {
  const value = Deno.env.get(name);
  if (!value) throw new Error(`${name} is not set: run the end-to-end tests through npm test`);
  return value;
}

/** The local fake of the Stripe API the functions call (npm test starts it and passes STRIPE_API_BASE). */
export const fakeStripe = new FakeStripeControl(requireEnv("STRIPE_API_BASE"));

/** Maps the fixtures' prices to the seeded pro and business plans (idempotent). */
export async function mapFixturePrices(sql: postgres.Sql): Promise<void> {
  for (const [plan, price] of Object.entries(PRICES)) {
    await sql`update tollgate.plans set stripe_price_ids = array(select distinct unnest(stripe_price_ids || ${[
      price,
    ]}::text[])) where id = ${plan}`;
  }
}

/** Delivers an event as Stripe does: the raw JSON body, signed. */
export async function deliver(event: Stripe.Event, opts: { secret?: string; url?: string } = {}) {
  const body = JSON.stringify(event);
  const headers = { "Stripe-Signature": await signature(body, opts.secret ?? SECRET) };
  if (!opts.url) return call(FN, body, { headers });
  const res = await fetch(opts.url, { method: "POST", headers, body });
  return { status: res.status, body: await res.json() as Record<string, unknown> };
}

/** Delivers and expects Stripe's happy answer. */
export async function ok(event: Stripe.Event): Promise<void> {
  const res = await deliver(event);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.deepEqual(res.body, { received: true });
}

/** A new user and the ids of their Stripe story. */
export async function customer(sql: postgres.Sql): Promise<Ids> {
  const user = await newUser(sql);
  return freshIds(user.id);
}

/** A fixture event for `ids`, with `created` and fields of its object replaced. */
export function event(
  name: Fixture,
  ids: Ids,
  opts: { created?: number; object?: Record<string, unknown>; livemode?: boolean } = {},
): Stripe.Event {
  const e = stripeEvent(name, ids);
  if (opts.created !== undefined) e.created = opts.created;
  if (opts.livemode !== undefined) e.livemode = opts.livemode;
  Object.assign(e.data.object, opts.object ?? {});
  return e;
}

/** A subscription (the created fixture's object) on `price` in `status`, anchored at `anchor`. */
export function subscription(
  ids: Ids,
  opts: { price: string; status?: string; anchor?: number; trialEnd?: number | null },
): Stripe.Subscription {
  const sub = structuredClone(event("customer.subscription.created", ids).data.object) as Stripe.Subscription;
  const anchor = opts.anchor ?? sub.billing_cycle_anchor;
  const item = sub.items.data[0] as unknown as Record<string, Record<string, unknown>>;
  item.price.id = opts.price;
  item.plan.id = opts.price;
  Object.assign(item, { current_period_start: anchor, current_period_end: anchor + 30 * 86400 });
  Object.assign(sub, {
    status: opts.status ?? "active",
    billing_cycle_anchor: anchor,
    start_date: anchor,
    created: anchor,
    trial_end: opts.trialEnd ?? null,
  });
  return sub;
}

/** A customer.subscription.* event carrying `sub`, created at `created`. */
export function subscriptionEvent(
  type: "created" | "updated" | "deleted",
  ids: Ids,
  sub: Stripe.Subscription,
  created: number,
): Stripe.Event {
  const e = event(`customer.subscription.${type}`, ids, { created });
  e.data.object = structuredClone(sub);
  return e;
}

export async function account(sql: postgres.Sql, userId: string) {
  const [row] = await sql`select plan_id, balance::int as balance, overdraft::int as overdraft
                            from tollgate.accounts where id = ${userId}`;
  return { ...row };
}

export async function eventRow(sql: postgres.Sql, id: string) {
  const [row] = await sql`select status, attempts, error from tollgate.stripe_events where id = ${id}`;
  return row;
}

export async function booksBalance(sql: postgres.Sql, userId: string): Promise<void> {
  const problems = await sql`select * from tollgate.check_ledger(${userId}::uuid)`;
  assert.deepEqual([...problems], [], "check_ledger finds nothing wrong");
}

/**
 * Everything money-related an account ends with, comparable across delivery orders: plan and credit period,
 * balance, overdraft, the ledger's sum, every lot with credits left, the subscription mirror, what each payment
 * took back and each dispute's state, and what check_ledger finds.
 */
export async function books(sql: postgres.Sql, userId: string) {
  const [row] = await sql`
    select a.plan_id, a.period_start, a.period_end, a.balance::int as balance, a.overdraft::int as overdraft,
           (select coalesce(sum(delta), 0)::int from tollgate.credit_ledger where account_id = a.id) as ledger_sum,
           (select coalesce(jsonb_agg(jsonb_build_array(l.grant_key, l.source, l.remaining, l.expires_at)
                                      order by l.grant_key), '[]')
              from tollgate.credit_lots l where l.account_id = a.id and l.remaining > 0) as lots,
           (select coalesce(jsonb_agg(jsonb_build_array(s.subscription_id, s.status, s.plan_id)
                                      order by s.subscription_id), '[]')
              from tollgate.stripe_subscriptions s where s.account_id = a.id) as subscriptions,
           (select coalesce(jsonb_agg(jsonb_build_array(p.id, p.refunded_credits, p.taken_back)
                                      order by p.id), '[]')
              from tollgate.stripe_payments p where p.account_id = a.id) as payments,
           (select coalesce(jsonb_agg(jsonb_build_array(d.dispute_id, d.status) order by d.dispute_id), '[]')
              from tollgate.stripe_disputes d join tollgate.stripe_payments p on p.id = d.payment_id
             where p.account_id = a.id) as disputes,
           (select count(*)::int from tollgate.check_ledger(a.id)) as problems
      from tollgate.accounts a where a.id = ${userId}`;
  return { ...row };
}
