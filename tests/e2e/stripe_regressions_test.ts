/**
 * The findings of issue 15, each reproduced through the webhook with events signed by the real SDK: orders and
 * payloads in which Tollgate invented or lost money while check_ledger stayed empty.
 */
import assert from "node:assert/strict";
import { db } from "./_helpers.ts";
import { freshIds, PRICES } from "../fixtures/stripe/fixtures.ts";
import {
  account,
  booksBalance,
  customer,
  deliver,
  event,
  eventRow,
  fakeStripe,
  mapFixturePrices,
  ok,
  subscription,
  subscriptionEvent,
} from "./stripe_support.ts";

const sql = db();
await mapFixturePrices(sql);
const now = () => Math.floor(Date.now() / 1000);

Deno.test("a refund delivered before its pack takes the refunded share back once the pack arrives", async () => {
  const ids = await customer(sql);
  await ok(event("checkout.session.completed.subscription", ids)); // the customer is linked already
  const refund = event("charge.refunded", ids); // half of the $10 pack
  await ok(refund);
  assert.equal((await eventRow(sql, refund.id)).status, "pending", "the refund waits for its payment");
  await ok(event("checkout.session.completed.payment", ids));
  assert.equal((await account(sql, ids.user)).balance, 53, "3 free + 100 bought - 50 refunded, not 103");
  assert.equal((await eventRow(sql, refund.id)).status, "processed");
  await booksBalance(sql, ids.user);
});

Deno.test("six packs and their six full refunds sent at once leave only the free credits", async () => {
  const ids = await customer(sql);
  const packs = Array.from({ length: 6 }, () => ({ ...freshIds(ids.user), customer: ids.customer }));
  const events = packs.flatMap((p) => [
    event("checkout.session.completed.payment", p),
    event("charge.refunded", p, { object: { amount_refunded: 1000, refunded: true } }),
  ]);
  const answers = await Promise.all(events.map((e) => deliver(e)));
  for (const a of answers) assert.equal(a.status, 200, JSON.stringify(a.body));
  assert.deepEqual(await account(sql, ids.user), { plan_id: "free", balance: 3, overdraft: 0 });
  await booksBalance(sql, ids.user);
});

Deno.test("a refund of a pack that expired takes back only what did not expire", async () => {
  const ids = await customer(sql);
  await ok(event("checkout.session.completed.payment", ids, {
    object: { metadata: { credits: "100", credits_expire_days: "30" } },
  }));
  // Thirty days later: the pack's lot is past its expiry and the next settle expires it.
  await sql`update tollgate.credit_lots set expires_at = now() - interval '1 second'
             where grant_key = ${`top_up:stripe:${ids.packSession}`}`;
  await sql`update tollgate.accounts set next_expiry_at = now() - interval '1 second' where id = ${ids.user}`;
  await ok(event("charge.refunded", ids));
  assert.deepEqual(
    await account(sql, ids.user),
    { plan_id: "free", balance: 3, overdraft: 0 },
    "the 100 expired; the refund of half takes nothing more, not 50 of the free credits or overdraft",
  );
  await booksBalance(sql, ids.user);
});

for (const order of ["in order", "reversed"]) {
  Deno.test(`two customer.subscription.updated of the same second, ${order}, end in Stripe's current state`, async () => {
    const ids = await customer(sql);
    const t = now() - 600;
    const pro = subscription(ids, { price: PRICES.pro, anchor: t });
    const business = subscription(ids, { price: PRICES.business, anchor: t });
    await ok(event("checkout.session.completed.subscription", ids, { created: t }));
    await ok(subscriptionEvent("created", ids, pro, t));
    // Within one second: upgraded to business, then back to pro. Stripe's current state is pro.
    const up = subscriptionEvent("updated", ids, business, t + 60);
    const down = subscriptionEvent("updated", ids, pro, t + 60);
    await fakeStripe.put(pro);
    for (const e of order === "in order" ? [up, down] : [down, up]) await ok(e);
    assert.deepEqual(
      await account(sql, ids.user),
      { plan_id: "pro", balance: 500, overdraft: 0 },
      "pro with its allowance, not business (an upgrade nobody paid for) and not pro with nothing left",
    );
    const asked = await fakeStripe.requests(`/v1/subscriptions/${ids.subscription}`);
    assert.ok(asked.length >= 1, "the tie was settled by retrieving the subscription");
    await booksBalance(sql, ids.user);
  });
}

Deno.test("a second Stripe customer for the same user still gets the paid pack", async () => {
  const ids = await customer(sql);
  await ok(event("checkout.session.completed.payment", ids));
  // A second session created without `customer`: Stripe made a new customer for the same user.
  const second = { ...freshIds(ids.user) };
  const e = event("checkout.session.completed.payment", second);
  await ok(e);
  assert.equal((await eventRow(sql, e.id)).status, "processed");
  assert.equal((await account(sql, ids.user)).balance, 203, "both packs are granted");
  const links = await sql`select customer_id from tollgate.stripe_customers where account_id = ${ids.user}
                           order by customer_id`;
  assert.deepEqual(links.map((r) => r.customer_id), [ids.customer, second.customer].sort());
  await booksBalance(sql, ids.user);
});

Deno.test("a trial of a plan without trial credits grants nothing until it converts", async () => {
  const ids = await customer(sql);
  const t = now() - 600;
  await ok(event("checkout.session.completed.subscription", ids, { created: t }));
  const trialEnd = t + 14 * 86400;
  const trialing = subscription(ids, { price: PRICES.pro, status: "trialing", anchor: trialEnd, trialEnd });
  await ok(subscriptionEvent("created", ids, trialing, t));
  assert.deepEqual(
    await account(sql, ids.user),
    { plan_id: "pro", balance: 0, overdraft: 0 },
    "the pro plan's features during the trial, not its 500 credits",
  );
  await ok(subscriptionEvent("updated", ids, { ...trialing, status: "active" } as typeof trialing, t + 60));
  assert.equal((await account(sql, ids.user)).balance, 500, "conversion to active starts the allowance");
  await booksBalance(sql, ids.user);
});

Deno.test("a trial grants the plan's trial credits once per account, and conversion starts the allowance", async () => {
  await sql`insert into tollgate.plans (id, name, monthly_credits, trial_credits, stripe_price_ids, sort_order)
            values ('e2e_trial', 'Trial test', 700, 50, '{price_e2e_trial}', 25) on conflict (id) do nothing`;
  const ids = await customer(sql);
  const t = now() - 600;
  await ok(event("checkout.session.completed.subscription", ids, { created: t }));
  const trialing = subscription(ids, {
    price: "price_e2e_trial",
    status: "trialing",
    anchor: t + 14 * 86400,
    trialEnd: t + 14 * 86400,
  });
  await ok(subscriptionEvent("created", ids, trialing, t));
  assert.deepEqual(
    await account(sql, ids.user),
    { plan_id: "e2e_trial", balance: 50, overdraft: 0 },
    "50 trial credits, not the 700 of a paid month",
  );
  // A second trial on another subscription of the same account grants nothing more.
  const again = { ...freshIds(ids.user), customer: ids.customer };
  await ok(subscriptionEvent("created", again, { ...trialing, id: again.subscription }, t + 1));
  assert.equal((await account(sql, ids.user)).balance, 50, "trial credits come once per account, ever");
  // The first trial converts: the normal allowance starts; the trial's credits end.
  const active = { ...trialing, status: "active", trial_end: t + 60 } as typeof trialing;
  await ok(subscriptionEvent("updated", ids, active, t + 60));
  const [lots] = await sql`select coalesce(sum(remaining) filter (where source = 'plan'), 0)::int as plan,
                                  coalesce(sum(remaining) filter (where grant_key = 'trial'), 0)::int as trial
                             from tollgate.credit_lots where account_id = ${ids.user}`;
  assert.deepEqual({ ...lots }, { plan: 700, trial: 0 });
  await booksBalance(sql, ids.user);
});

Deno.test("a test-mode deployment stores a livemode event visibly and applies none of it", async () => {
  const ids = await customer(sql);
  const live = event("checkout.session.completed.payment", ids, { livemode: true });
  await ok(live);
  assert.equal((await eventRow(sql, live.id)).status, "refused");
  assert.match(String((await eventRow(sql, live.id)).error), /livemode/);
  assert.equal(
    (await account(sql, ids.user)).balance,
    3,
    "no credits from a live-mode event on a test deployment",
  );
  const links = await sql`select 1 from tollgate.stripe_customers where customer_id = ${ids.customer}`;
  assert.equal(links.length, 0, "nothing is linked either");
});

Deno.test("a pack checkout that needed no payment (a 100% coupon) grants its credits", async () => {
  const ids = await customer(sql);
  await ok(event("checkout.session.completed.payment", ids, {
    object: { payment_status: "no_payment_required", amount_total: 0, payment_intent: null },
  }));
  assert.equal((await account(sql, ids.user)).balance, 103);
});

Deno.test("a dispute takes a pack's credits back, and a won dispute gives them back, each once", async () => {
  const ids = await customer(sql);
  await ok(event("checkout.session.completed.payment", ids));
  const created = event("charge.dispute.created", ids);
  await ok(created);
  await ok(created);
  await ok(event("charge.dispute.funds_withdrawn", ids));
  assert.equal(
    (await account(sql, ids.user)).balance,
    3,
    "the charged-back pack's 100 credits are taken back once",
  );
  await ok(event("charge.dispute.funds_reinstated", ids));
  await ok(event("charge.dispute.closed", ids));
  assert.equal((await account(sql, ids.user)).balance, 103, "the won dispute gives the 100 back once");
  await booksBalance(sql, ids.user);
});

Deno.test("a lost dispute keeps the pack's credits taken back", async () => {
  const ids = await customer(sql);
  await ok(event("charge.dispute.closed", ids, { object: { status: "lost" } }));
  await ok(event("checkout.session.completed.payment", ids));
  assert.equal(
    (await account(sql, ids.user)).balance,
    3,
    "the dispute, pending until the pack arrived, took it back",
  );
  await booksBalance(sql, ids.user);
});

Deno.test({
  name: "teardown: close the database connection",
  fn: () => sql.end(),
  sanitizeResources: false,
});
