/**
 * Checkout and the customer portal through the gateway, against the local fake of the Stripe API: a user buys a
 * pack and the fake completes the session by delivering the signed events Stripe would, so the account gets
 * exactly the catalogue's credits; a team admin subscribes with a trial, the team gets the trial credits, then the
 * allowance when the trial converts, and cannot start a second subscription; a member who is not an admin is
 * refused; redirects outside TOLLGATE_ALLOWED_REDIRECTS, unknown plans and packs and inactive prices are clear 4xx;
 * Stripe down is 503; the portal answers a URL for an account with a customer and 404 without.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { BASE_URL, call, db, newUser } from "./_helpers.ts";
import { fakeStripe, SECRET } from "./stripe_support.ts";
import { parseForm } from "../../scripts/lib/fake_stripe_checkout.ts";

const sql = db();
const WEBHOOK = { webhook_url: `${BASE_URL}/functions/v1/stripe-webhook`, webhook_secret: SECRET };
const URLS = {
  success_url: "http://localhost:3000/billing?session_id={CHECKOUT_SESSION_ID}",
  cancel_url: "http://localhost:3000/billing",
};
const rand = () => crypto.randomUUID().replaceAll("-", "").slice(0, 12);
type User = { id: string; token: string };

/** A Stripe product and price in the fake (one-time unless `interval`), as the operator created them. */
async function stripePrice(opts: { amount: number; interval?: "month" | "year"; active?: boolean }) {
  const product = { id: `prod_${rand()}`, object: "product", name: "E2E product", active: true };
  const price = {
    id: `price_${rand()}`,
    object: "price",
    active: opts.active ?? true,
    currency: "usd",
    unit_amount: opts.amount,
    product: product.id,
    recurring: opts.interval ? { interval: opts.interval, interval_count: 1 } : null,
    created: Math.floor(Date.now() / 1000),
  };
  await fakeStripe.put(product, price);
  return price.id;
}

async function pack(credits: number, expiresAfterDays: number | null = null) {
  const id = `e2e-pack-${rand()}`;
  const price = await stripePrice({ amount: 900 });
  await sql`insert into tollgate.credit_packs (id, name, credits, stripe_price_id, expires_after_days)
            values (${id}, 'E2E pack', ${credits}, ${price}, ${expiresAfterDays})`;
  return { id, price };
}

async function trialPlan() {
  const id = `e2e-plan-${rand()}`;
  const price = await stripePrice({ amount: 2900, interval: "month" });
  await sql`insert into tollgate.plans (id, name, monthly_credits, stripe_price_ids, trial_days, trial_credits,
                                        sort_order)
            values (${id}, 'E2E plan', 400, ${[price]}, 7, 60, 5)`;
  return { id, price };
}

async function team(): Promise<{ id: string; owner: User; admin: User; member: User }> {
  const [owner, admin, member] = [await newUser(sql), await newUser(sql), await newUser(sql)];
  const id = await sql.begin(async (tx: postgres.TransactionSql) => {
    await tx`select set_config('request.jwt.claims', ${JSON.stringify({ role: "service_role" })}, true)`;
    const [row] = await tx`select tollgate.create_team_account('E2E checkout team', ${owner.id}) as id`;
    await tx`select tollgate.add_account_member(${row.id}, ${admin.id}, 'admin')`;
    await tx`select tollgate.add_account_member(${row.id}, ${member.id})`;
    return row.id as string;
  });
  return { id, owner, admin, member };
}

const balance = async (accountId: string) =>
  (await sql`select balance::int from tollgate.accounts where id = ${accountId}`)[0].balance as number;
const checkout = (user: User, body: Record<string, unknown>) =>
  call("create-checkout-session", { ...URLS, ...body }, { token: user.token });

Deno.test("a pack checkout grants exactly the catalogue's credits when the fake completes it", async () => {
  const user = await newUser(sql);
  const { id: packId, price } = await pack(250, 30);
  const before = await balance(user.id);

  const res = await checkout(user, { pack_id: packId });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const sessionId = res.body.session_id as string;
  assert.match(res.body.url as string, /^https:\/\/checkout\.stripe\.com\//);
  const [link] = await sql`select customer_id from tollgate.stripe_customers where account_id = ${user.id}`;
  assert.ok(link, "the customer is linked before the session exists, so the webhook never waits");
  const [mirrored] =
    await sql`select unit_amount::int, currency from tollgate.stripe_prices where price_id = ${price}`;
  assert.deepEqual({ ...mirrored }, { unit_amount: 900, currency: "usd" }, "the pricing mirror was filled");

  const again = await checkout(user, { pack_id: packId });
  assert.equal(
    again.body.session_id,
    sessionId,
    "the same request gets the same session (Stripe idempotency)",
  );
  const other = await checkout(user, { pack_id: packId, idempotency_key: rand() });
  assert.notEqual(other.body.session_id, sessionId, "a new attempt with its own key gets a new session");
  const [session] = (await fakeStripe.requests("/v1/checkout/sessions")).filter((r) =>
    r.method === "POST" && r.body.includes(user.id)
  );
  assert.ok(session.body.includes(`customer=${link.customer_id}`), "the session is for the linked customer");
  const customers = (await fakeStripe.requests("/v1/customers")).filter((r) =>
    r.method === "POST" && r.body.includes(user.id)
  );
  assert.equal(customers.length, 1, "one customer created for the account, then reused");

  const delivered = await fakeStripe.completeSession(sessionId, WEBHOOK);
  assert.deepEqual(delivered.events.map((e) => [e.type, e.status]), [["checkout.session.completed", 200]]);
  assert.equal(await balance(user.id), before + 250, "exactly the pack's 250 credits");
  const [lot] =
    await sql`select amount::int, source::text, expires_at > now() + interval '29 days' as expires_later
                            from tollgate.credit_lots where grant_key = ${`top_up:stripe:${sessionId}`}`;
  assert.deepEqual({ ...lot }, { amount: 250, source: "top_up", expires_later: true });
  const [problems] = await sql`select count(*)::int as n from tollgate.check_ledger(${user.id}::uuid)`;
  assert.equal(problems.n, 0);
});

Deno.test("a team admin's subscription checkout with a trial: trial credits, then the allowance on conversion", async () => {
  const t = await team();
  const plan = await trialPlan();

  const refused = await checkout(t.member, { plan_id: plan.id, account_id: t.id });
  assert.equal(refused.status, 403, JSON.stringify(refused.body));
  assert.equal((refused.body.error as { code: string }).code, "forbidden");

  const res = await checkout(t.admin, { plan_id: plan.id, account_id: t.id });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const [created] = (await fakeStripe.requests("/v1/checkout/sessions")).filter((r) =>
    r.method === "POST" && r.body.includes(encodeURIComponent(t.id)) && r.status === 200
  );
  const trialDays = (body: string) =>
    (parseForm(body).subscription_data as { trial_period_days?: string } | undefined)?.trial_period_days;
  assert.equal(trialDays(created.body), "7", "the plan's 7 trial days");

  const delivered = await fakeStripe.completeSession(res.body.session_id as string, WEBHOOK);
  assert.ok(delivered.events.every((e) => e.status === 200), JSON.stringify(delivered));
  const [sub] =
    await sql`select subscription_id, status from tollgate.stripe_subscriptions where account_id = ${t.id}`;
  assert.equal(sub.status, "trialing");
  assert.equal(await balance(t.id), 60, "the plan's trial credits, no allowance while trialing");
  const [acct] = await sql`select plan_id from tollgate.accounts where id = ${t.id}`;
  assert.equal(acct.plan_id, plan.id);

  const converted = await fakeStripe.endTrial(sub.subscription_id, WEBHOOK);
  assert.ok(converted.events.every((e) => e.status === 200), JSON.stringify(converted));
  assert.equal(await balance(t.id), 400, "the trial credits end, the plan's monthly 400 are granted");

  const second = await checkout(t.owner, { plan_id: plan.id, account_id: t.id, idempotency_key: rand() });
  assert.equal(second.status, 400, JSON.stringify(second.body));
  assert.match((second.body.error as { message: string }).message, /already has subscription/);
});

Deno.test("create-checkout-session answers clear 4xx for redirects, unknown plans and packs, inactive prices", async () => {
  const user = await newUser(sql);
  const { id: packId } = await pack(10);
  const cases: [string, Record<string, unknown>, number, string][] = [
    [
      "a success_url on another origin",
      { pack_id: packId, success_url: "https://evil.example.com/" },
      400,
      "invalid_request",
    ],
    [
      "a cancel_url on another port",
      { pack_id: packId, cancel_url: "http://localhost:4000/" },
      400,
      "invalid_request",
    ],
    [
      "a redirect that is not http(s)",
      { pack_id: packId, success_url: "javascript:alert(1)" },
      400,
      "invalid_request",
    ],
    ["an unknown plan", { plan_id: "no-such-plan" }, 404, "not_found"],
    ["an unknown pack", { pack_id: "no-such-pack" }, 404, "not_found"],
    ["a plan without a price", { plan_id: "free" }, 400, "invalid_request"],
    ["a plan and a pack", { plan_id: "free", pack_id: packId }, 400, "invalid_request"],
    ["another user's account", { pack_id: packId, account_id: crypto.randomUUID() }, 403, "forbidden"],
  ];
  for (const [what, body, status, code] of cases) {
    const res = await checkout(user, body);
    assert.equal(res.status, status, `${what}: ${JSON.stringify(res.body)}`);
    assert.equal((res.body.error as { code: string }).code, code, what);
  }
  const inactive = await stripePrice({ amount: 100, active: false });
  await sql`insert into tollgate.credit_packs (id, name, credits, stripe_price_id)
            values (${`e2e-inactive-${rand()}`}, 'Inactive', 5, ${inactive}) returning id`.then(
    async ([row]) => {
      const res = await checkout(user, { pack_id: row.id });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.match((res.body.error as { message: string }).message, /not active in Stripe/);
    },
  );
  assert.equal(
    (await sql`select count(*)::int as n from tollgate.stripe_customers where account_id = ${user.id}`)[0].n,
    0,
    "no refused request created a customer",
  );
});

Deno.test("create-checkout-session answers 503 when Stripe cannot be reached, and works on the retry", async () => {
  const user = await newUser(sql);
  const { id: packId } = await pack(10);
  // Both attempts the SDK makes (one retry) fail; only this test creates customers meanwhile.
  await fakeStripe.fail({ method: "POST", path: "/v1/customers", status: 503, times: 2 });
  const down = await checkout(user, { pack_id: packId });
  assert.equal(down.status, 503, JSON.stringify(down.body));
  assert.equal(down.headers.get("retry-after"), "1");
  const up = await checkout(user, { pack_id: packId });
  assert.equal(up.status, 200, JSON.stringify(up.body));
});

Deno.test("create-portal-session answers a URL for an account with a customer, 404 without, 403 for a member", async () => {
  const user = await newUser(sql);
  const none = await call("create-portal-session", { return_url: "http://localhost:3000/billing" }, {
    token: user.token,
  });
  assert.equal(none.status, 404, JSON.stringify(none.body));
  const { id: packId } = await pack(10);
  assert.equal((await checkout(user, { pack_id: packId })).status, 200);
  const res = await call("create-portal-session", { return_url: "http://localhost:3000/billing" }, {
    token: user.token,
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.match(res.body.url as string, /^https:\/\/billing\.stripe\.com\//);
  const evil = await call("create-portal-session", { return_url: "https://evil.example.com/" }, {
    token: user.token,
  });
  assert.equal(evil.status, 400);

  const t = await team();
  const member = await call("create-portal-session", { return_url: URLS.cancel_url, account_id: t.id }, {
    token: t.member.token,
  });
  assert.equal(member.status, 403, JSON.stringify(member.body));
  const admin = await call("create-portal-session", { return_url: URLS.cancel_url, account_id: t.id }, {
    token: t.admin.token,
  });
  assert.equal(admin.status, 404, "the team has no customer yet");
});

Deno.test("teardown: close the database connection", async () => {
  await sql.end();
});
