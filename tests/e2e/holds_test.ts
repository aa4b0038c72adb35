import assert from "node:assert/strict";
import { call, db, esToken, newUser, SERVICE_KEY, topUp } from "./_helpers.ts";
import { customer, event, mapFixturePrices, ok } from "./stripe_support.ts";

const sql = db();
const FEATURE = "e2e-holds"; // no plan_limits row: only credits gate it
// 1 credit per 10,000 input tokens (1 USD per million at 100 credits per USD).
const MODEL = "e2e-hold-model";
await sql`insert into tollgate.model_prices (model, provider, effective_from, input_usd_per_mtok, output_usd_per_mtok)
          values (${MODEL}, 'test', '2020-01-01', 1, 0) on conflict do nothing`;
await mapFixturePrices(sql);

type Body = Record<string, unknown>;

/** A user holding exactly `credits` (the free plan's allowance plus a top-up). */
async function userWith(credits: number) {
  const user = await newUser(sql);
  const [{ balance }] = await sql`select balance::int from tollgate.accounts where id = ${user.id}`;
  await topUp(sql, user.id, credits - balance);
  return user;
}

const hold = (token: string, key: string, amount: number, extra: Body = {}) =>
  call("consume-credit", { idempotency_key: key, amount, feature: FEATURE, hold: true, ...extra }, { token });

/** Settles `holdId` with a call priced at `credits` (10,000 input tokens each). */
const settle = (token: string, requestId: string, holdId: unknown, credits: number, extra: Body = {}) =>
  call("log-ai-usage", {
    request_id: requestId,
    model: MODEL,
    input_tokens: credits * 10_000,
    output_tokens: 0,
    feature: FEATURE,
    hold_id: holdId,
    ...extra,
  }, { token });

async function state(userId: string) {
  const [row] = await sql`select balance::int, held::int,
                                 (select count(*)::int from tollgate.check_ledger(${userId}::uuid)) as problems
                            from tollgate.accounts where id = ${userId}`;
  return { ...row };
}

Deno.test("a hold reduces the available balance, and a second hold beyond it is 402", async () => {
  const user = await userWith(10);
  const first = await hold(user.token, "h1", 7);
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal(first.body.consumed, 0);
  assert.equal(first.body.balance, 3);
  assert.equal(first.body.held, 7);
  assert.match(String(first.body.hold_id), /^[0-9a-f-]{36}$/);
  assert.ok(Date.parse(String(first.body.hold_expires_at)) > Date.now() + 590_000);
  const second = await hold(user.token, "h2", 4);
  assert.equal(second.status, 402);
  assert.deepEqual((second.body.error as { details: Body }).details, { balance: 3, required: 4 });
  const consume = await call("consume-credit", { idempotency_key: "c1", amount: 4, feature: FEATURE }, {
    token: user.token,
  });
  assert.equal(consume.status, 402, "a plain consume sees the hold too");
  const status = await call("billing-status", {}, { token: user.token });
  assert.equal(status.status, 200, JSON.stringify(status.body));
  assert.deepEqual([status.body.balance, status.body.held], [3, 7]);
  assert.deepEqual(await state(user.id), { balance: 10, held: 7, problems: 0 });
});

Deno.test("settling charges the priced amount from the hold and returns the rest; a replay changes nothing", async () => {
  const user = await userWith(10);
  const { body: held } = await hold(user.token, "h", 8);
  const settled = await settle(user.token, "r1", held.hold_id, 3);
  assert.equal(settled.status, 201, JSON.stringify(settled.body));
  assert.deepEqual(
    [settled.body.credits_charged, settled.body.hold_released, settled.body.balance],
    [3, 5, 7],
  );
  assert.deepEqual(await state(user.id), { balance: 7, held: 0, problems: 0 });
  const replay = await settle(user.token, "r1", held.hold_id, 3);
  assert.equal(replay.status, 200);
  assert.deepEqual({ ...replay.body, replayed: false }, settled.body, "the same answer");
  assert.equal(replay.body.replayed, true);
  const other = await settle(user.token, "r2", held.hold_id, 1);
  assert.equal(other.status, 409, JSON.stringify(other.body));
  assert.equal((other.body.error as { code: string }).code, "idempotency_conflict");
  assert.deepEqual(await state(user.id), { balance: 7, held: 0, problems: 0 }, "neither charged anything");
});

Deno.test("a failed call releases its whole hold; a call beyond its hold is charged the excess post-paid", async () => {
  const user = await userWith(10);
  const { body: a } = await hold(user.token, "a", 4);
  const failed = await settle(user.token, "fa", a.hold_id, 0, { status: "error", error_code: "timeout" });
  assert.deepEqual([failed.body.credits_charged, failed.body.hold_released, failed.body.balance], [0, 4, 10]);
  const { body: b } = await hold(user.token, "b", 2);
  const over = await settle(user.token, "fb", b.hold_id, 13);
  assert.deepEqual([over.body.credits_charged, over.body.hold_released, over.body.balance], [13, 0, -3]);
  assert.deepEqual(await state(user.id), { balance: -3, held: 0, problems: 0 });
});

/** Moves a hold's expiry into the past, as if its ttl had run out. */
async function expire(holdId: unknown) {
  await sql`update tollgate.credit_holds set expires_at = now() - interval '1 second' where id = ${
    String(holdId)
  }`;
}

/** Runs the sweeper's scheduled command exactly as pg_cron would. */
async function sweep() {
  const [job] = await sql`select command from cron.job where jobname = 'tollgate-release-expired-holds'`;
  await sql.unsafe(job.command);
}

Deno.test("an expired hold's credits come back without any call of the account: the every-minute sweeper", async () => {
  const user = await userWith(10);
  const { body } = await hold(user.token, "s", 6);
  await expire(body.hold_id);
  // pg_cron runs this very command every minute in the test cluster too: whichever runs first releases it.
  await sweep();
  assert.deepEqual(await state(user.id), { balance: 10, held: 0, problems: 0 });
  await sweep();
  const next = await hold(user.token, "s2", 10);
  assert.equal(next.status, 200, "all 10 are available again, once");
  assert.equal(next.body.held, 10);
});

Deno.test("an expired hold's credits come back at the account's next call, once, and a late settle is post-paid", async () => {
  const user = await userWith(10);
  const { body } = await hold(user.token, "l", 6);
  await expire(body.hold_id);
  const next = await call("consume-credit", { idempotency_key: "n", amount: 10, feature: FEATURE }, {
    token: user.token,
  });
  assert.equal(next.status, 200, JSON.stringify(next.body));
  assert.deepEqual([next.body.balance, next.body.held], [0, 0]);
  await sweep();
  assert.deepEqual(
    await state(user.id),
    { balance: 0, held: 0, problems: 0 },
    "the sweeper released nothing more",
  );
  const late = await settle(user.token, "late", body.hold_id, 2);
  assert.equal(late.status, 201, JSON.stringify(late.body));
  assert.deepEqual([late.body.credits_charged, late.body.hold_released, late.body.balance], [2, 0, -2]);
});

Deno.test("200 parallel holds of 1 against a balance of 50: exactly 50 succeed, and settling them keeps the books", async () => {
  const user = await userWith(50);
  const answers = await Promise.all(
    Array.from({ length: 200 }, (_, i) => hold(user.token, `p${i}`, 1)),
  );
  const statuses = answers.map((a) => a.status).sort();
  assert.deepEqual(
    [statuses.filter((s) => s === 200).length, statuses.filter((s) => s === 402).length],
    [50, 150],
    JSON.stringify(answers.find((a) => a.status !== 200 && a.status !== 402)?.body ?? null),
  );
  assert.deepEqual(await state(user.id), { balance: 50, held: 50, problems: 0 });
  const won = answers.filter((a) => a.status === 200);
  const costs = won.map((_, i) => i % 4); // 0 to 3 credits each
  const settled = await Promise.all(won.map((a, i) => settle(user.token, `s${i}`, a.body.hold_id, costs[i])));
  assert.deepEqual(settled.map((s) => s.status).filter((s) => s !== 201), []);
  const charged = costs.reduce((n, c) => n + c, 0);
  assert.deepEqual(await state(user.id), { balance: 50 - charged, held: 0, problems: 0 });
  assert.equal(
    settled.reduce((n, s) => n + Number(s.body.hold_released), 0),
    costs.filter((c) => c === 0).length,
  );
});

Deno.test("holds racing the account's reset and a refund leave check_ledger() empty", async () => {
  const ids = await customer(sql);
  await ok(event("checkout.session.completed.payment", ids)); // 100 credits bought, on top of the free 3
  const user = { id: ids.user, token: await esToken({ sub: ids.user }) };
  // The account's credit period (and its plan lot) ended a day ago, so the reset and the holds race to roll it.
  await sql`update tollgate.accounts
               set period_anchor = now() - interval '1 month 1 day', period_start = now() - interval '1 month 1 day',
                   period_end = now() - interval '1 day', next_expiry_at = now() - interval '1 day'
             where id = ${user.id}`;
  await sql`update tollgate.credit_lots set expires_at = now() - interval '1 day'
             where account_id = ${user.id} and source = 'plan'`;
  const holds = Array.from({ length: 60 }, (_, i) => hold(user.token, `race${i}`, 2));
  const reset = call("reset-monthly-quotas", {}, { token: SERVICE_KEY });
  const refund = ok(event("charge.refunded", ids)); // takes back 50 of the pack
  const [answers, resetAnswer] = await Promise.all([Promise.all(holds), reset, refund]);
  assert.equal(resetAnswer.status, 200, JSON.stringify(resetAnswer.body));
  assert.deepEqual(answers.map((a) => a.status).filter((s) => s !== 200 && s !== 402), []);
  const won = answers.filter((a) => a.status === 200);
  assert.ok(won.length > 0);
  assert.equal((await state(user.id)).problems, 0, "the books balance with the holds open");
  await Promise.all(won.map((a, i) => settle(user.token, `race-s${i}`, a.body.hold_id, i % 3)));
  const [problems] = await sql`select count(*)::int as n from tollgate.check_ledger()`;
  assert.equal(problems.n, 0, "no account's books disagree");
  assert.equal((await state(user.id)).held, 0);
});

Deno.test("teardown: close the database pool", async () => {
  await sql.end();
});
