/**
 * Team accounts through the gateway: a team with an owner and two members, who consume from the team's balance with
 * their own tokens; non-members are refused without learning whether an account exists; a capped member stops at
 * the cap while the other goes on, also under 100 concurrent requests; the ledger names the acting member; the
 * Stripe webhook gives a team's subscription to the team, per seat.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { call, db, newUser, SERVICE_KEY, topUp } from "./_helpers.ts";
import { account, event, mapFixturePrices, ok, subscription, subscriptionEvent } from "./stripe_support.ts";
import { freshIds } from "../fixtures/stripe/fixtures.ts";

const sql = db();
/** No request limit on the default plan names this feature, so only balances and caps refuse. */
const FEATURE = "e2e-team";

type User = { id: string; token: string };

/** Runs `statement` with the JWT claims PostgREST would set for `claims` (the SQL functions read auth.uid/role). */
function as<T extends readonly postgres.MaybeRow[]>(
  claims: Record<string, unknown>,
  statement: (tx: postgres.TransactionSql) => postgres.PendingQuery<T>,
): Promise<T> {
  return sql.begin(async (tx) => {
    await tx`select set_config('request.jwt.claims', ${JSON.stringify(claims)}, true)`;
    return await statement(tx);
  }) as Promise<T>;
}
const SERVICE = { role: "service_role" };

/** A team created by its owner (as over rpc), with members added by the service role (as an app's server would). */
async function team(members: number, credits: number): Promise<{ id: string; owner: User; members: User[] }> {
  const owner = await newUser(sql);
  const [{ id }] = await as(
    { role: "authenticated", sub: owner.id },
    (tx) => tx`select tollgate.create_team_account('E2E team') as id`,
  );
  const added: User[] = [];
  for (let i = 0; i < members; i++) {
    const member = await newUser(sql);
    await as(SERVICE, (tx) => tx`select tollgate.add_account_member(${id}, ${member.id})`);
    added.push(member);
  }
  if (credits > 0) await topUp(sql, id, credits);
  return { id, owner, members: added };
}

async function capMonthly(teamId: string, userId: string, credits: number): Promise<void> {
  await as(SERVICE, (tx) => tx`select tollgate.set_member_cap(${teamId}, ${userId}, ${credits}, 'month')`);
}

async function balanceOf(accountId: string): Promise<number> {
  const [row] = await sql`select balance::int from tollgate.accounts where id = ${accountId}`;
  return row.balance;
}

const consume = (user: User, accountId: string, key: string, amount = 1) =>
  call("consume-credit", { idempotency_key: key, amount, feature: FEATURE, account_id: accountId }, {
    token: user.token,
  });

Deno.test("members consume from the team's balance with their own tokens, and the ledger names each", async () => {
  const t = await team(2, 100);
  const [first, second] = t.members;
  const ownBefore = await balanceOf(first.id);
  const a = await consume(first, t.id, "first-1", 3);
  const b = await consume(second, t.id, "second-1", 5);
  assert.deepEqual(
    [a.status, a.body.balance, b.status, b.body.balance],
    [200, 97, 200, 92],
    JSON.stringify(b.body),
  );
  assert.equal(await balanceOf(first.id), ownBefore, "the member's personal account is untouched");
  const ledger = await sql`select actor_id, delta::int from tollgate.credit_ledger
                            where account_id = ${t.id} and reason = 'consume' order by seq`;
  assert.deepEqual(ledger.map((r) => [r.actor_id, r.delta]), [[first.id, -3], [second.id, -5]]);
  const owner = await consume(t.owner, t.id, "owner-1");
  assert.equal(owner.status, 200, "the owner consumes too");
  const personal = await call("consume-credit", { idempotency_key: "own", feature: FEATURE }, {
    token: first.token,
  });
  assert.equal(personal.status, 200);
  assert.equal(
    await balanceOf(first.id),
    ownBefore - 1,
    "without account_id a member consumes from their own",
  );
});

Deno.test("a non-member gets 403, the same whether or not the account exists, and nothing is applied", async () => {
  const t = await team(1, 50);
  const outsider = await newUser(sql);
  const missing = crypto.randomUUID();
  const real = await consume(outsider, t.id, "intrude");
  const none = await consume(outsider, missing, "intrude");
  assert.deepEqual([real.status, none.status], [403, 403]);
  assert.deepEqual([(real.body.error as { code: string }).code, (none.body.error as { code: string }).code], [
    "forbidden",
    "forbidden",
  ]);
  const message = (r: typeof real, id: string) =>
    (r.body.error as { message: string }).message.replace(id, "<id>");
  assert.equal(message(real, t.id), message(none, missing), "one message for both");
  const usage = await call("log-ai-usage", {
    request_id: "intrude",
    model: "gpt-4o",
    input_tokens: 1,
    output_tokens: 1,
    account_id: t.id,
  }, { token: outsider.token });
  assert.equal(usage.status, 403, "logging usage on the team is refused too");
  assert.equal(await balanceOf(t.id), 50);
  const [{ n }] = await sql`select count(*)::int as n from tollgate.credit_ledger
                             where account_id = ${t.id} and reason <> 'grant'`;
  assert.equal(n, 0);
});

Deno.test("the service key names the team and the acting member, who must be one", async () => {
  const t = await team(1, 20);
  const outsider = await newUser(sql);
  const send = (body: Record<string, unknown>) =>
    call("consume-credit", { feature: FEATURE, account_id: t.id, ...body }, { token: SERVICE_KEY });
  const named = await send({ idempotency_key: "svc-member", user_id: t.members[0].id });
  const anonymous = await send({ idempotency_key: "svc-team" });
  const stranger = await send({ idempotency_key: "svc-outsider", user_id: outsider.id });
  const nowhere = await call("consume-credit", { idempotency_key: "x", account_id: crypto.randomUUID() }, {
    token: SERVICE_KEY,
  });
  assert.deepEqual([named.status, anonymous.status, stranger.status, nowhere.status], [200, 200, 403, 404]);
  const actors = await sql`select actor_id from tollgate.credit_ledger
                            where account_id = ${t.id} and reason = 'consume' order by seq`;
  assert.deepEqual(actors.map((r) => r.actor_id), [t.members[0].id, null]);
});

Deno.test("a capped member gets 429 member_cap_exceeded at the cap while the other member goes on", async () => {
  const t = await team(2, 100);
  const [capped, free] = t.members;
  await capMonthly(t.id, capped.id, 5);
  assert.equal((await consume(capped, t.id, "c-1", 4)).status, 200);
  assert.equal((await consume(capped, t.id, "c-2", 1)).status, 200, "exactly at the cap");
  const over = await consume(capped, t.id, "c-3", 1);
  assert.equal(over.status, 429, JSON.stringify(over.body));
  const error = over.body.error as { code: string; details: Record<string, unknown> };
  assert.equal(error.code, "member_cap_exceeded");
  assert.deepEqual([error.details.cap, error.details.used, error.details.period], [5, 5, "month"]);
  const [{ period_end }] = await sql`select period_end from tollgate.accounts where id = ${t.id}`;
  assert.equal(
    new Date(error.details.resets_at as string).getTime(),
    period_end.getTime(),
    "with the period",
  );
  const retryAfter = Number(over.headers.get("retry-after"));
  assert.ok(retryAfter > 0 && retryAfter <= 31 * 86400, `Retry-After ${retryAfter}`);
  const other = await consume(free, t.id, "f-1", 10);
  assert.deepEqual([other.status, other.body.balance], [200, 85], "the other member goes on");
});

Deno.test("100 parallel consumes by a capped member stop exactly at the cap", async () => {
  const t = await team(2, 300);
  const [capped] = t.members;
  await capMonthly(t.id, capped.id, 37);
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => consume(capped, t.id, `par-${i}`)));
  const statuses = results.map((r) => r.status).sort();
  assert.deepEqual(
    [statuses.filter((s) => s === 200).length, statuses.filter((s) => s === 429).length],
    [37, 63],
    JSON.stringify(results.find((r) => r.status !== 200 && r.status !== 429)?.body),
  );
  assert.equal(await balanceOf(t.id), 300 - 37);
  const [{ credits }] = await sql`select credits::int from tollgate.member_usage
                                   where account_id = ${t.id} and user_id = ${capped.id} and period = 'month'`;
  assert.equal(credits, 37, "the count is the cap, never past it");
});

Deno.test("100 parallel consumes by a capped member never take more than the team's balance", async () => {
  const t = await team(1, 15);
  const [capped] = t.members;
  await capMonthly(t.id, capped.id, 40);
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => consume(capped, t.id, `bal-${i}`)));
  const statuses = results.map((r) => r.status);
  assert.deepEqual(
    [statuses.filter((s) => s === 200).length, statuses.filter((s) => s === 402).length],
    [15, 85],
    JSON.stringify(results.find((r) => r.status !== 200 && r.status !== 402)?.body),
  );
  assert.equal(await balanceOf(t.id), 0);
  const problems = await sql`select * from tollgate.check_ledger(${t.id}::uuid)`;
  assert.deepEqual([...problems], []);
});

Deno.test("the Stripe webhook gives a team's subscription to the team, per seat", async () => {
  await mapFixturePrices(sql);
  const price = "price_e2e_team_seat";
  await sql`insert into tollgate.plans (id, name, monthly_credits, stripe_price_ids, credits_per_seat, sort_order)
            values ('e2e-team-seat', 'E2E seats', 40, ${[price]}, true, 50)
            on conflict (id) do nothing`;
  const t = await team(0, 0);
  const ids = freshIds(t.id);
  await ok(event("checkout.session.completed.subscription", ids));
  const [link] =
    await sql`select account_id from tollgate.stripe_customers where customer_id = ${ids.customer}`;
  assert.equal(link.account_id, t.id, "the team's checkout links the customer to the team");
  const now = Math.floor(Date.now() / 1000);
  const sub = subscription(ids, { price, anchor: now });
  (sub.items.data[0] as unknown as { quantity: number }).quantity = 3;
  await ok(subscriptionEvent("created", ids, sub, now));
  assert.deepEqual(await account(sql, t.id), { plan_id: "e2e-team-seat", balance: 120, overdraft: 0 });
  assert.equal(await balanceOf(t.owner.id), 3, "the owner's personal account keeps the free plan's 3");
});

Deno.test({
  name: "teardown: close the database connection",
  fn: () => sql.end(),
  sanitizeResources: false,
});
