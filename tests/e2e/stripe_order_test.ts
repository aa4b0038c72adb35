/**
 * Order independence, property style: each scenario's events are delivered through the webhook (SDK-signed) in
 * every order, or 200 random ones when there are more, with random redeliveries, each run for a fresh user, and
 * every run must end with the books of the in-order delivery (plan and period, balance, overdraft, ledger sum,
 * live lots, subscriptions, payments, disputes) and an empty check_ledger. The in-order books are also checked
 * against the expected figures, so a scenario that moves nothing cannot pass. TOLLGATE_ORDER_SEED replays a run.
 */
import assert from "node:assert/strict";
import type Stripe from "stripe";
import { db } from "./_helpers.ts";
import { freshIds, type Ids, PRICES } from "../fixtures/stripe/fixtures.ts";
import {
  books,
  customer,
  deliver,
  event,
  fakeStripe,
  mapFixturePrices,
  subscription,
  subscriptionEvent,
} from "./stripe_support.ts";

const sql = db();
await mapFixturePrices(sql);

const SEED = Number(Deno.env.get("TOLLGATE_ORDER_SEED") ?? Date.now() % 2 ** 31);
const RUNS = 200;
const CONCURRENCY = 24;
// Every scenario happened an hour ago, to the second, so every run shares its timestamps.
const T = Math.floor(Date.now() / 1000) - 3600;
// Signup periods pinned before T, so the free plan's lot is the same in every run.
const SIGNUP = new Date((T - 86400) * 1000).toISOString();

/** A deterministic PRNG (mulberry32), so a failing seed can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One run's world: the ids it uses (replaced by their names when books are compared) and its events in order. */
interface Story {
  ids: Record<string, string>;
  events: Stripe.Event[];
  /** The Stripe API's current state of the run's subscriptions (what a tie retrieves). */
  api?: { id: string; object: string }[];
}

interface Scenario {
  name: string;
  build(user: Ids): Story;
  /** What the in-order books must show. */
  expected: { plan_id: string; balance: number; overdraft: number };
}

const pack = (ids: Ids, object: Record<string, unknown> = {}, created = T) =>
  event("checkout.session.completed.payment", ids, { created, object });
const refund = (ids: Ids, refunded: number, created: number) =>
  event("charge.refunded", ids, { created, object: { amount_refunded: refunded } });
const dispute = (
  ids: Ids,
  type: "created" | "funds_withdrawn" | "funds_reinstated" | "closed",
  status: string,
  amount: number,
  created: number,
) => event(`charge.dispute.${type}`, ids, { created, object: { status, amount } });

const SCENARIOS: Scenario[] = [
  {
    name: "a pack, two partial refunds and a dispute won",
    build: (ids) => ({
      ids: { ...ids },
      events: [
        pack(ids),
        refund(ids, 300, T + 10),
        refund(ids, 600, T + 20),
        dispute(ids, "created", "needs_response", 400, T + 30),
        dispute(ids, "funds_withdrawn", "needs_response", 400, T + 31),
        dispute(ids, "funds_reinstated", "won", 400, T + 40),
        dispute(ids, "closed", "won", 400, T + 41),
      ],
    }),
    // 60% refunded takes back 60 of the 100; the won dispute takes back nothing in the end.
    expected: { plan_id: "free", balance: 43, overdraft: 0 },
  },
  {
    name: "a pack, a partial refund and a dispute lost",
    build: (ids) => ({
      ids: { ...ids },
      events: [
        pack(ids),
        refund(ids, 250, T + 10),
        dispute(ids, "created", "needs_response", 750, T + 20),
        dispute(ids, "closed", "lost", 750, T + 30),
      ],
    }),
    expected: { plan_id: "free", balance: 3, overdraft: 0 },
  },
  {
    name: "a subscription created, updated twice in one second with a plan switch, and deleted",
    build: (ids) => {
      const pro = subscription(ids, { price: PRICES.pro, anchor: T });
      const business = subscription(ids, { price: PRICES.business, anchor: T });
      const canceled = { ...pro, status: "canceled" } as Stripe.Subscription;
      return {
        ids: { ...ids },
        events: [
          event("checkout.session.completed.subscription", ids, { created: T }),
          subscriptionEvent("created", ids, pro, T),
          event("invoice.paid", ids, { created: T + 5 }),
          subscriptionEvent("updated", ids, business, T + 600),
          subscriptionEvent("updated", ids, pro, T + 600),
          subscriptionEvent("deleted", ids, canceled, T + 1200),
        ],
        api: [canceled],
      };
    },
    // Canceled: the default plan, its 3 credits in the period the subscription anchored.
    expected: { plan_id: "free", balance: 3, overdraft: 0 },
  },
  {
    name: "a subscription upgraded and downgraded in one second",
    build: (ids) => {
      const pro = subscription(ids, { price: PRICES.pro, anchor: T });
      const business = subscription(ids, { price: PRICES.business, anchor: T });
      return {
        ids: { ...ids },
        events: [
          event("checkout.session.completed.subscription", ids, { created: T }),
          subscriptionEvent("created", ids, pro, T),
          subscriptionEvent("updated", ids, business, T + 600),
          subscriptionEvent("updated", ids, pro, T + 600),
        ],
        api: [pro],
      };
    },
    expected: { plan_id: "pro", balance: 500, overdraft: 0 },
  },
  {
    name: "a pack checkout without client_reference_id before and after the customer link, and its refund",
    build: (ids) => ({
      ids: { ...ids },
      events: [
        event("checkout.session.completed.subscription", ids, { created: T }),
        subscriptionEvent("created", ids, subscription(ids, { price: PRICES.pro, anchor: T }), T),
        event("invoice.paid", ids, { created: T + 5 }),
        pack(ids, { client_reference_id: null }, T + 100),
        refund(ids, 500, T + 200),
      ],
    }),
    expected: { plan_id: "pro", balance: 550, overdraft: 0 },
  },
  {
    name:
      "two customers: a pro subscription on one, a pack, a dispute lost and a business subscription on the other",
    build: (ids) => {
      const other = { ...freshIds(ids.user) };
      const business = subscription(other, { price: PRICES.business, anchor: T + 300 });
      return {
        ids: { ...ids, ...Object.fromEntries(Object.entries(other).map(([k, v]) => [`other_${k}`, v])) },
        events: [
          event("checkout.session.completed.subscription", ids, { created: T }),
          subscriptionEvent("created", ids, subscription(ids, { price: PRICES.pro, anchor: T }), T),
          pack(other, {}, T + 100),
          subscriptionEvent("created", other, business, T + 300),
          dispute(other, "created", "needs_response", 1000, T + 400),
          dispute(other, "closed", "lost", 1000, T + 500),
          subscriptionEvent(
            "deleted",
            other,
            { ...business, status: "canceled" } as Stripe.Subscription,
            T + 900,
          ),
        ],
      };
    },
    // Back on pro once business ends, with pro's 500 of its own period; the charged-back pack gave back its 100.
    expected: { plan_id: "pro", balance: 500, overdraft: 0 },
  },
];

/** Every order of `n` events when there are at most RUNS, else RUNS random ones (the first is in order). */
function orders(n: number, random: () => number): number[][] {
  const identity = [...Array(n).keys()];
  let count = 1;
  for (let i = 2; i <= n; i++) count *= i;
  if (count <= RUNS) {
    const all: number[][] = [];
    const permute = (prefix: number[], rest: number[]) => {
      if (rest.length === 0) all.push(prefix);
      rest.forEach((x, i) => permute([...prefix, x], [...rest.slice(0, i), ...rest.slice(i + 1)]));
    };
    permute([], identity);
    return all;
  }
  return [
    identity,
    ...Array.from({ length: RUNS - 1 }, () => {
      const order = [...identity];
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      return order;
    }),
  ];
}

/** The order with about one event in four delivered again at a later random position (Stripe redelivers). */
function withRedeliveries(order: number[], random: () => number): number[] {
  const out = [...order];
  for (const i of order) {
    if (random() < 0.25) {
      const at = out.indexOf(i) + 1 + Math.floor(random() * (out.length - out.indexOf(i)));
      out.splice(at, 0, i);
    }
  }
  return out;
}

/** The books with this run's ids replaced by their names (lists sorted again), so runs of different users compare. */
function normalized(value: unknown, ids: Record<string, string>): string {
  let text = JSON.stringify(value);
  for (const [name, id] of Object.entries(ids).sort((a, b) => b[1].length - a[1].length)) {
    text = text.replaceAll(id, `<${name}>`);
  }
  const named = JSON.parse(text) as Record<string, unknown>;
  for (const [key, list] of Object.entries(named)) {
    if (Array.isArray(list)) named[key] = list.map((x) => JSON.stringify(x)).sort();
  }
  return JSON.stringify(named);
}

/** One run: a fresh user with a pinned signup period, the events delivered in `order`, then the books. */
async function run(scenario: Scenario, order: number[] | null): Promise<{ books: string; raw: unknown }> {
  const ids = await customer(sql);
  await sql`update tollgate.accounts set period_anchor = ${SIGNUP}, period_start = ${SIGNUP},
              period_end = ${SIGNUP}::timestamptz + interval '1 month',
              next_expiry_at = ${SIGNUP}::timestamptz + interval '1 month' where id = ${ids.user}`;
  await sql`update tollgate.credit_lots set grant_key = 'plan:signup',
              expires_at = ${SIGNUP}::timestamptz + interval '1 month' where account_id = ${ids.user}`;
  const story = scenario.build(ids);
  if (story.api) await fakeStripe.put(...story.api);
  for (const i of order ?? story.events.map((_, i) => i)) {
    const res = await deliver(story.events[i]);
    assert.equal(
      res.status,
      200,
      `${scenario.name}: ${story.events[i].type} answered ${JSON.stringify(res.body)}`,
    );
  }
  const result = await books(sql, ids.user);
  return { books: normalized(result, { ...story.ids }), raw: result };
}

/** Runs `tasks` with at most CONCURRENCY at once. */
async function pool<T>(tasks: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  }));
  return results;
}

for (const [index, scenario] of SCENARIOS.entries()) {
  Deno.test(`every delivery order ends with the in-order books: ${scenario.name}`, async () => {
    const random = prng(SEED + index);
    const reference = await run(scenario, null);
    const inOrder = reference.raw as Record<string, unknown>;
    assert.deepEqual(
      { plan_id: inOrder.plan_id, balance: inOrder.balance, overdraft: inOrder.overdraft },
      scenario.expected,
      `${scenario.name}: in-order books`,
    );
    assert.equal(inOrder.ledger_sum, inOrder.balance, "the ledger sums to the balance");
    assert.equal(inOrder.problems, 0, "check_ledger is empty after the in-order delivery");
    const n = scenario.build(freshIds(crypto.randomUUID())).events.length;
    const runs = orders(n, random).map((o) => withRedeliveries(o, random));
    const results = await pool(runs.map((order) => () => run(scenario, order)));
    results.forEach((r, i) => {
      assert.equal(r.books, reference.books, `${scenario.name}: order ${runs[i].join(",")} (seed ${SEED})`);
    });
  });
}

Deno.test({
  name: "teardown: close the database connection",
  fn: () => sql.end(),
  sanitizeResources: false,
});
