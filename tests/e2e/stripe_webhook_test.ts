import assert from "node:assert/strict";
import type Stripe from "stripe";
import { call, db, spawnAsDeployed } from "./_helpers.ts";
import { freePort, waitForPort } from "../../scripts/lib/stack.ts";
import {
  FIXTURES,
  freshIds,
  HANDLED_EVENT_TYPES,
  type Ids,
  PRICES,
  signature,
  stripeEvent,
} from "../fixtures/stripe/fixtures.ts";
import * as stripe from "./stripe_support.ts";
import { FN, SECRET } from "./stripe_support.ts";

const sql = db();
await stripe.mapFixturePrices(sql);

const deliver = stripe.deliver;
const ok = stripe.ok;
const customer = (): Promise<Ids> => stripe.customer(sql);
const event = (name: Parameters<typeof stripe.event>[0], ids: Ids) => stripe.event(name, ids);
const account = (userId: string) => stripe.account(sql, userId);
const eventRow = (id: string) => stripe.eventRow(sql, id);
const booksBalance = (userId: string) => stripe.booksBalance(sql, userId);

Deno.test("stripe-webhook answers 400 invalid_signature and stores nothing when the signature is missing or wrong", async () => {
  const ids = await customer();
  const cases: [string, (e: Stripe.Event) => Promise<{ status: number; body: Record<string, unknown> }>][] = [
    ["no signature", (e) => call(FN, JSON.stringify(e))],
    ["another secret", (e) => deliver(e, { secret: "whsec_someone_else" })],
    ["a tampered body", async (e) => {
      const body = JSON.stringify(e);
      const headers = { "Stripe-Signature": await signature(body, SECRET) };
      const tampered = body.replace('"credits":"100"', '"credits":"100000"');
      assert.notEqual(tampered, body);
      return call(FN, tampered, { headers });
    }],
  ];
  for (const [name, send] of cases) {
    const e = event("checkout.session.completed.payment", ids);
    const res = await send(e);
    assert.equal(res.status, 400, name);
    assert.equal((res.body.error as { code: string }).code, "invalid_signature", name);
    assert.equal(await eventRow(e.id), undefined, `${name}: the event is not stored`);
  }
  assert.equal((await account(ids.user)).balance, 3, "no credits were granted");
});

Deno.test("every event type the webhook handles has a realistic fixture", () => {
  const covered = new Set(FIXTURES.map((f) => stripeEvent(f, freshIds(crypto.randomUUID())).type));
  for (const type of HANDLED_EVENT_TYPES) assert.ok(covered.has(type), `no fixture for ${type}`);
});

Deno.test("stripe-webhook answers 413 to a body over 1 MiB", async () => {
  const res = await call(FN, "x".repeat(1024 * 1024 + 1), { headers: { "Stripe-Signature": "t=1,v1=x" } });
  assert.equal(res.status, 413);
});

Deno.test("a paid credit-pack checkout links the customer, grants its credits and records the payment", async () => {
  const ids = await customer();
  const e = event("checkout.session.completed.payment", ids);
  // Quotes and dollar signs in a payload travel as data, never as SQL.
  (e.data.object as { metadata: Record<string, string> }).metadata.note = "it's $$ fine $tg0$ '); --";
  await ok(e);
  assert.equal((await account(ids.user)).balance, 103);
  const [stored] =
    await sql`select payload #>> '{data,object,metadata,note}' as note from tollgate.stripe_events
                              where id = ${e.id}`;
  assert.equal(stored.note, "it's $$ fine $tg0$ '); --");
  const [link] =
    await sql`select account_id from tollgate.stripe_customers where customer_id = ${ids.customer}`;
  assert.equal(link.account_id, ids.user);
  const [payment] =
    await sql`select kind, amount::int, credits::int, payment_intent_id from tollgate.stripe_payments
                               where id = ${ids.packSession}`;
  assert.deepEqual({ ...payment }, {
    kind: "checkout",
    amount: 1000,
    credits: 100,
    payment_intent_id: ids.paymentIntent,
  });
  assert.equal((await eventRow(e.id)).status, "processed");
});

Deno.test("one event delivered 5 times, concurrently, has one effect", async () => {
  const ids = await customer();
  const e = event("checkout.session.completed.payment", ids);
  const answers = await Promise.all(Array.from({ length: 5 }, () => deliver(e)));
  for (const a of answers) assert.equal(a.status, 200, JSON.stringify(a.body));
  assert.equal((await account(ids.user)).balance, 103, "the pack is granted once");
  const lots =
    await sql`select 1 from tollgate.credit_lots where account_id = ${ids.user} and source = 'top_up'`;
  assert.equal(lots.length, 1);
  assert.deepEqual({ ...(await eventRow(e.id)) }, { status: "processed", attempts: 5, error: null });
});

Deno.test("a subscription created, upgraded and deleted moves the account to pro, business, then free", async () => {
  const ids = await customer();
  await ok(event("checkout.session.completed.subscription", ids));
  assert.equal((await account(ids.user)).plan_id, "free", "a subscription checkout alone changes no plan");

  await ok(event("customer.subscription.created", ids));
  assert.deepEqual({ ...(await account(ids.user)) }, { plan_id: "pro", balance: 500, overdraft: 0 });
  const [period] =
    await sql`select period_anchor = to_timestamp(1795000000) as anchored, period_end > now() as current
                               from tollgate.accounts where id = ${ids.user}`;
  assert.deepEqual({ ...period }, { anchored: true, current: true }, "periods count from the billing anchor");

  await ok(event("customer.subscription.updated", ids));
  assert.deepEqual({ ...(await account(ids.user)) }, { plan_id: "business", balance: 2500, overdraft: 0 });

  await ok(event("customer.subscription.deleted", ids));
  assert.deepEqual({ ...(await account(ids.user)) }, { plan_id: "free", balance: 3, overdraft: 0 });
  const [sub] = await sql`select status, plan_id, price_id from tollgate.stripe_subscriptions
                           where subscription_id = ${ids.subscription}`;
  assert.deepEqual({ ...sub }, { status: "canceled", plan_id: "business", price_id: PRICES.business });
  await booksBalance(ids.user);
});

Deno.test("deleted followed by an older updated leaves the subscription canceled", async () => {
  const ids = await customer();
  await ok(event("checkout.session.completed.subscription", ids));
  await ok(event("customer.subscription.created", ids));
  await ok(event("customer.subscription.deleted", ids));
  const late = event("customer.subscription.updated", ids);
  await ok(late);
  const row = await eventRow(late.id);
  assert.equal(row.status, "ignored");
  assert.match(row.error, /^Older than event/);
  const [sub] =
    await sql`select status from tollgate.stripe_subscriptions where subscription_id = ${ids.subscription}`;
  assert.equal(sub.status, "canceled");
  assert.equal((await account(ids.user)).plan_id, "free");
});

Deno.test("customer.subscription.created arriving before checkout.session.completed is applied once the link arrives", async () => {
  const ids = await customer();
  const early = event("customer.subscription.created", ids);
  await ok(early);
  assert.equal((await eventRow(early.id)).status, "pending");
  assert.equal((await account(ids.user)).plan_id, "free");

  await ok(event("checkout.session.completed.subscription", ids));
  assert.equal((await eventRow(early.id)).status, "processed");
  assert.deepEqual({ ...(await account(ids.user)) }, { plan_id: "pro", balance: 500, overdraft: 0 });
  await ok(early);
  assert.equal((await account(ids.user)).balance, 500, "a redelivery after the link changes nothing");
});

Deno.test("invoice.paid records a payment and invoice.payment_failed a failure", async () => {
  const ids = await customer();
  await ok(event("checkout.session.completed.subscription", ids));
  await ok(event("invoice.payment_failed", ids));
  await ok(event("invoice.paid", ids));
  const [failure] =
    await sql`select invoice_id, amount::int, attempt_count from tollgate.stripe_payment_failures
                               where account_id = ${ids.user}`;
  assert.deepEqual({ ...failure }, { invoice_id: ids.invoice, amount: 2000, attempt_count: 1 });
  const [payment] = await sql`select kind, amount::int, payment_intent_id from tollgate.stripe_payments
                               where id = ${ids.invoice}`;
  assert.deepEqual({ ...payment }, {
    kind: "invoice",
    amount: 2000,
    payment_intent_id: "pi_3TgSampleInvPI001",
  });
});

Deno.test("charge.refunded claws back the refunded share of a pack once, however often it arrives", async () => {
  const ids = await customer();
  await ok(event("checkout.session.completed.payment", ids));
  const refund = event("charge.refunded", ids);
  await ok(refund);
  await ok(refund);
  await ok(event("charge.refunded", ids)); // another event for the same refunded amount
  assert.equal(
    (await account(ids.user)).balance,
    53,
    "half of $10 refunded takes back 50 of the 100 credits",
  );
  const entries =
    await sql`select delta::int from tollgate.credit_ledger where account_id = ${ids.user} and reason = 'refund'`;
  assert.deepEqual(entries.map((r) => r.delta), [-50]);
  await booksBalance(ids.user);
});

Deno.test("checkout.session.async_payment_succeeded grants a delayed pack, expiring a year after the payment", async () => {
  const ids = await customer();
  const e = event("checkout.session.async_payment_succeeded", ids);
  await ok(e);
  const [lot] =
    await sql`select amount::int, expires_at = to_timestamp(${e.created}) + interval '365 days' as expiry
                            from tollgate.credit_lots where grant_key = ${`top_up:stripe:${ids.packSession}`}`;
  assert.deepEqual(
    { ...lot },
    { amount: 100, expiry: true },
    "the expiry counts from the event, in any order",
  );
});

Deno.test("an event type Tollgate does not handle is stored as ignored and answered 200", async () => {
  const ids = await customer();
  const e = event("invoice.paid", ids);
  (e as { type: string }).type = "invoice.finalized";
  await ok(e);
  assert.equal((await eventRow(e.id)).status, "ignored");
});

Deno.test("50 distinct events posted concurrently are all applied once", async () => {
  const users = await Promise.all(Array.from({ length: 10 }, () => customer()));
  const events = users.flatMap((u) =>
    Array.from({ length: 5 }, () => {
      const fresh = freshIds(u.user);
      return event("checkout.session.completed.payment", { ...fresh, customer: u.customer });
    })
  );
  const answers = await Promise.all(events.map((e) => deliver(e)));
  for (const a of answers) assert.equal(a.status, 200, JSON.stringify(a.body));
  const [stored] = await sql`select count(*)::int as n from tollgate.stripe_events
                              where id = any(${
    events.map((e) => e.id)
  }) and status = 'processed' and attempts = 1`;
  assert.equal(stored.n, 50);
  for (const u of users) {
    assert.equal((await account(u.user)).balance, 503, "five packs of 100 on 3 free credits");
    await booksBalance(u.user);
  }
});

Deno.test("a Stripe API failure while settling a tie answers 500 and keeps nothing; Stripe's retry applies it", async () => {
  const ids = await customer();
  const t = Math.floor(Date.now() / 1000) - 600;
  const pro = stripe.subscription(ids, { price: PRICES.pro, anchor: t });
  const business = stripe.subscription(ids, { price: PRICES.business, anchor: t });
  await ok(stripe.event("checkout.session.completed.subscription", ids, { created: t }));
  await ok(stripe.subscriptionEvent("updated", ids, pro, t + 60));
  await stripe.fakeStripe.put(business);
  // The SDK retries once: both attempts fail.
  await stripe.fakeStripe.fail({ path: `/v1/subscriptions/${ids.subscription}`, status: 500, times: 2 });
  const tie = stripe.subscriptionEvent("updated", ids, business, t + 60);
  const res = await deliver(tie);
  assert.equal(res.status, 500);
  assert.equal((res.body.error as { code: string }).code, "internal");
  assert.equal(await eventRow(tie.id), undefined, "nothing of the event is kept");
  assert.equal((await account(ids.user)).plan_id, "pro");
  await ok(tie); // Stripe's retry: the API answers now
  const row = await eventRow(tie.id);
  assert.deepEqual([row.status, row.attempts], ["processed", 1]);
  assert.deepEqual(await account(ids.user), { plan_id: "business", balance: 2500, overdraft: 0 });
  const calls = await stripe.fakeStripe.requests(`/v1/subscriptions/${ids.subscription}`);
  assert.deepEqual(calls.map((c) => [c.status, c.apiKey?.startsWith("sk_test_")]), [
    [500, true],
    [500, true],
    [200, true],
  ]);
  await booksBalance(ids.user);
});

Deno.test("while STRIPE_WEBHOOK_SECRET lists two secrets during a rotation, either signature is accepted", async () => {
  const port = freePort();
  // The suite's function environment already points STRIPE_API_BASE at the local fake.
  const child = spawnAsDeployed(FN, { STRIPE_WEBHOOK_SECRET: `whsec_rotated_out, ${SECRET}` }, port);
  try {
    const url = `http://127.0.0.1:${port}`;
    await waitForPort(port, 30_000, FN);
    const ids = await customer();
    const oldSigned = event("checkout.session.completed.payment", ids);
    const newSigned = event("invoice.paid", ids);
    assert.equal((await deliver(oldSigned, { url, secret: "whsec_rotated_out" })).status, 200);
    assert.equal((await deliver(newSigned, { url })).status, 200);
    assert.equal((await deliver(event("invoice.paid", ids), { url, secret: "whsec_never_set" })).status, 400);
    assert.equal((await eventRow(oldSigned.id)).status, "processed");
    assert.equal((await eventRow(newSigned.id)).status, "processed");
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
});

Deno.test({
  name: "teardown: close the database connection",
  fn: () => sql.end(),
  sanitizeResources: false,
});
