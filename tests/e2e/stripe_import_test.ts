/**
 * `npx tollgate stripe-import` (docs/adoption.md) as an operator runs it, against a fake Stripe API of its own
 * with several pages of customers and a customer with several pages of subscriptions, and the database the
 * functions use (behind pgbouncer on the second pass): a dry run keeps nothing; the run links customers named by
 * metadata and by a --map query, lists the unmapped, puts accounts on their plans through the webhook's SQL and
 * applies the webhook events that waited for the link; a second run changes nothing; webhook events newer than
 * the listing win, older ones do not.
 */
import assert from "node:assert/strict";
import { db, FUNCTION_ENV, FUNCTIONS_DB_URL, newUser } from "./_helpers.ts";
import { deliver, mapFixturePrices, subscription, subscriptionEvent } from "./stripe_support.ts";
import { startFakeStripe } from "../../scripts/lib/fake_stripe.ts";
import { ROOT } from "../../scripts/lib/stack.ts";
import { freshIds, type Ids, PRICES, stripeEvent } from "../fixtures/stripe/fixtures.ts";

const TOLLGATE = `${ROOT}/node_modules/.bin/tollgate`;
const NOW = () => Math.floor(Date.now() / 1000);

/** Runs the installed command as an operator would, with only the variables it documents. */
async function stripeImport(args: string[], apiBase: string): Promise<{ code: number; out: string }> {
  const out = await new Deno.Command(TOLLGATE, {
    args: ["stripe-import", "--db-url", FUNCTIONS_DB_URL, ...args],
    cwd: ROOT,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/root",
      STRIPE_SECRET_KEY: "sk_test_tollgate_import",
      STRIPE_API_BASE: apiBase,
      ...(FUNCTION_ENV.TOLLGATE_DB_PREPARE ? { TOLLGATE_DB_PREPARE: FUNCTION_ENV.TOLLGATE_DB_PREPARE } : {}),
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, out: text };
}

Deno.test("stripe-import links, mirrors and plans through the webhook's SQL, twice the same, newer events winning", async () => {
  const sql = db();
  const fake = startFakeStripe();
  const run = crypto.randomUUID().slice(0, 8);
  const profiles = `public.import_profiles_${run}`;
  try {
    await mapFixturePrices(sql);
    const t = NOW();
    const customer = (
      id: string,
      created: number,
      metadata: Record<string, string>,
      email = `${id}@example.com`,
    ) => ({
      id,
      object: "customer",
      created,
      email,
      metadata,
    });
    const storyOf = async () => {
      const user = await newUser(sql);
      const ids: Ids = freshIds(user.id);
      return { user: user.id, ids };
    };

    // 230 customers named by metadata.account_id (three pages of customers), none with a subscription.
    const bulk = await Promise.all(Array.from({ length: 230 }, storyOf));
    await fake.put(...bulk.map((s, i) => customer(s.ids.customer, t - 10_000 + i, { account_id: s.user })));
    // One named by metadata.supabase_user_id, on pro, with 119 ended subscriptions (two pages of subscriptions).
    const pro = await storyOf();
    await fake.put(customer(pro.ids.customer, t - 500, { supabase_user_id: pro.user }));
    await fake.put(subscription(pro.ids, { price: PRICES.pro, anchor: t - 86400 }));
    for (let i = 0; i < 119; i++) {
      const old = subscription({ ...pro.ids, subscription: `${pro.ids.subscription}_old${i}` }, {
        price: PRICES.business,
        status: "canceled",
        anchor: t - 400 * 86400 + i,
      });
      await fake.put(old);
    }
    // One the app's own table names (--map), on business.
    const mapped = await storyOf();
    await fake.put(customer(mapped.ids.customer, t - 400, { plan: "whatever" }));
    await fake.put(subscription(mapped.ids, { price: PRICES.business, anchor: t - 3 * 86400 }));
    await sql.unsafe(`create table ${profiles} (id uuid primary key, stripe_customer_id text)`);
    await sql.unsafe(`grant select on ${profiles} to postgres`);
    await sql.unsafe(`insert into ${profiles} values ($1, $2), ($3, null)`, [
      mapped.user,
      mapped.ids.customer,
      pro.user,
    ]);
    // One no one names, one whose metadata and the app's table disagree.
    const lost = await storyOf();
    await fake.put(customer(lost.ids.customer, t - 300, {}, "lost@example.com"));
    await fake.put(subscription(lost.ids, { price: PRICES.pro }));
    const torn = await storyOf();
    await fake.put(customer(torn.ids.customer, t - 200, { account_id: torn.user }, "torn@example.com"));
    const other = crypto.randomUUID();
    await sql.unsafe(`insert into ${profiles} values ($1, $2)`, [other, torn.ids.customer]);
    // One whose webhook events came before any link: a newer one (an upgrade ten minutes after the listing) and an
    // older one, both waiting for the customer.
    const waiting = await storyOf();
    await fake.put(customer(waiting.ids.customer, t - 100, { account_id: waiting.user }));
    const waitingSub = subscription(waiting.ids, { price: PRICES.pro, anchor: t - 86400 });
    await fake.put(waitingSub);
    const upgrade = subscriptionEvent(
      "updated",
      waiting.ids,
      subscription(waiting.ids, {
        price: PRICES.business,
        anchor: t - 86400,
      }),
      t + 600,
    );
    const stale = subscriptionEvent(
      "updated",
      waiting.ids,
      subscription(waiting.ids, {
        price: PRICES.pro,
        status: "past_due",
        anchor: t - 86400,
      }),
      t - 3600,
    );
    for (const e of [upgrade, stale]) assert.equal((await deliver(e)).status, 200);

    const ours = [...bulk, pro, mapped, lost, torn, waiting];
    const accounts = ours.map((s) => s.user);
    const snapshot = async () => ({
      customers:
        await sql`select * from tollgate.stripe_customers where account_id = any(${accounts}) order by 1`,
      subscriptions: await sql`select * from tollgate.stripe_subscriptions where account_id = any(${accounts})
                                order by 1`,
      accounts: await sql`select * from tollgate.accounts where id = any(${accounts}) order by id`,
      ledger: await sql`select * from tollgate.credit_ledger where account_id = any(${accounts}) order by id`,
      events: await sql`select id, status, error from tollgate.stripe_events
                         where id in (${upgrade.id}, ${stale.id}) order by id`,
    });
    const map = ["--map", `select id, stripe_customer_id from ${profiles}`];

    // A dry run says what a run would do and keeps nothing.
    const before = await snapshot();
    const dry = await stripeImport(["--dry-run", ...map], fake.url);
    assert.equal(dry.code, 0, dry.out);
    assert.match(dry.out, /Dry run, nothing kept: would be customers 233 imported, 0 unchanged, 2 unmapped/);
    assert.deepEqual(await snapshot(), before, "the dry run rolled everything back");

    const seen = (await fake.requests()).length;
    const first = await stripeImport(map, fake.url);
    assert.equal(first.code, 0, first.out);
    assert.match(
      first.out,
      /customers 233 imported, 0 unchanged, 2 unmapped, 0 conflicts, 0 failed; subscriptions 122 applied, 0 unchanged, 0 ignored, 0 failed; 2 waiting webhook events applied/,
    );
    const requests = (await fake.requests()).slice(seen);
    assert.equal(requests.filter((r) => r.path === "/v1/customers").length, 3, "three pages of customers");
    const proPages = requests.filter((r) => r.path === "/v1/subscriptions");
    assert.equal(
      proPages.filter((r) => r.query.customer === pro.ids.customer).length,
      2,
      "two of its subscriptions",
    );
    assert.ok(proPages.every((r) => r.query.status === "all"), "every status listed, the ended ones too");

    const links = await sql`select customer_id, account_id from tollgate.stripe_customers
                              where account_id = any(${accounts})`;
    const linked = new Map(links.map((l) => [l.customer_id, l.account_id]));
    for (const s of [...bulk, pro, mapped, waiting]) {
      assert.equal(linked.get(s.ids.customer), s.user, s.ids.customer);
    }
    assert.ok(
      !linked.has(lost.ids.customer) && !linked.has(torn.ids.customer),
      "the unmapped are not linked",
    );
    assert.match(
      first.out,
      new RegExp(`Unmapped customers \\(2\\)[^]*${lost.ids.customer}  lost@example.com  no metadata`),
    );
    assert.match(
      first.out,
      new RegExp(
        `${torn.ids.customer}  torn@example.com  metadata.account_id names ${torn.user}, --map names ${other}`,
      ),
    );

    const plans = await sql`select id, plan_id from tollgate.accounts where id = any(${accounts})`;
    const plan = new Map(plans.map((p) => [p.id, p.plan_id]));
    assert.equal(plan.get(pro.user), "pro", "metadata.supabase_user_id: on pro, the ended ones do not count");
    assert.equal(plan.get(mapped.user), "business", "--map: on business");
    assert.equal(plan.get(lost.user), "free", "the unmapped stay as they were");
    assert.equal(plan.get(bulk[0].user), "free");
    const [{ n }] =
      await sql`select count(*)::int as n from tollgate.stripe_subscriptions where account_id = ${pro.user}`;
    assert.equal(n, 120, "all 120 of its subscriptions are mirrored");
    const waited =
      await sql`select id, status from tollgate.stripe_events where id in (${upgrade.id}, ${stale.id})`;
    assert.deepEqual(Object.fromEntries(waited.map((e) => [e.id, e.status])), {
      [upgrade.id]: "processed",
      [stale.id]: "ignored",
    }, "of the events that waited, the one newer than the listing applies, the older one does not");
    assert.equal(plan.get(waiting.user), "business", "the newer event's upgrade wins over the listed pro");
    assert.deepEqual([
      ...await sql`select * from tollgate.check_ledger() where account_id = any(${accounts})`,
    ], []);

    // A second run changes nothing at all.
    const after = await snapshot();
    const second = await stripeImport(map, fake.url);
    assert.equal(second.code, 0, second.out);
    assert.match(
      second.out,
      /customers 0 imported, 233 unchanged, 2 unmapped, 0 conflicts, 0 failed; subscriptions 0 applied, 121 unchanged, 1 ignored, 0 failed; 0 waiting/,
    );
    assert.deepEqual(await snapshot(), after, "the second run wrote nothing");

    // After the import, webhook events go on: a newer one applies, an older one does not.
    const proSub = subscription(pro.ids, { price: PRICES.pro, anchor: t - 86400 });
    const cancel = subscriptionEvent("deleted", pro.ids, { ...proSub, status: "canceled" }, t + 300);
    const late = subscriptionEvent(
      "updated",
      mapped.ids,
      subscription(mapped.ids, {
        price: PRICES.pro,
        anchor: t - 3 * 86400,
      }),
      t - 7200,
    );
    for (const e of [cancel, late]) assert.equal((await deliver(e)).status, 200);
    const [p] = await sql`select plan_id from tollgate.accounts where id = ${pro.user}`;
    const [m] = await sql`select plan_id from tollgate.accounts where id = ${mapped.user}`;
    assert.deepEqual(
      [p.plan_id, m.plan_id],
      ["free", "business"],
      "the cancel after the listing applies, the older change does not",
    );
  } finally {
    await sql.unsafe(`drop table if exists ${profiles}`);
    await fake.stop();
    await sql.end();
  }
});

Deno.test("stripe-import settles a subscription listed within a minute of a webhook event with its current state", async () => {
  const sql = db();
  const fake = startFakeStripe();
  try {
    await mapFixturePrices(sql);
    const user = await newUser(sql);
    const ids = freshIds(user.id);
    const t = NOW();
    // Linked by a checkout, on pro by an event created now.
    const link = stripeEvent("checkout.session.completed.subscription", ids);
    const created = subscriptionEvent(
      "created",
      ids,
      subscription(ids, { price: PRICES.pro, anchor: t - 60 }),
      t,
    );
    for (const e of [link, created]) assert.equal((await deliver(e)).status, 200);
    // Moments later the Stripe API lists it on business: which state is newer cannot be told from the times.
    const customer = { id: ids.customer, object: "customer", created: t, metadata: { account_id: user.id } };
    await fake.put(customer);
    await fake.put(subscription(ids, { price: PRICES.business, anchor: t - 60 }));

    const result = await stripeImport([], fake.url);
    assert.equal(result.code, 0, result.out);
    const retrievals = await fake.requests(`/v1/subscriptions/${ids.subscription}`);
    assert.equal(retrievals.length, 1, "the command retrieved the subscription's current state");
    const [mirror] = await sql`select plan_id, last_event_id, retrieved_at is not null as retrieved
                                 from tollgate.stripe_subscriptions where subscription_id = ${ids.subscription}`;
    assert.deepEqual({ ...mirror }, { plan_id: "business", last_event_id: "stripe-import", retrieved: true });
    const [account] = await sql`select plan_id from tollgate.accounts where id = ${user.id}`;
    assert.equal(account.plan_id, "business");
  } finally {
    await fake.stop();
    await sql.end();
  }
});
