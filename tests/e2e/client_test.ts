/** The client package against the real functions behind the gateway. */
import assert from "node:assert/strict";
import { type StoredWork, TollgateError } from "../../packages/client/src/mod.ts";
import { freePort } from "../../scripts/lib/stack.ts";
import { db, newUser, topUp, withinOneUtcDay } from "./_helpers.ts";
import { clientForService, clientForUser, recorder } from "./client_support.ts";

const sql = db();
const FEATURE = "e2e-client"; // no plan_limits row: only credits gate it

async function balanceOf(userId: string): Promise<number> {
  const [row] = await sql`select balance from tollgate.accounts where id = ${userId}`;
  return Number(row.balance);
}

async function refusal(promise: Promise<unknown>): Promise<TollgateError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof TollgateError, `expected a TollgateError, got ${error}`);
    return error;
  }
  assert.fail("the call should have been refused");
}

Deno.test("the client debits through consume-credit with a user's token, and the same key replays without a second debit", async () => {
  const user = await newUser(sql);
  await topUp(sql, user.id, 10);
  const before = await balanceOf(user.id);
  const tollgate = clientForUser(user.token);
  const first = await tollgate.consumeCredit({ idempotency_key: "job-1", amount: 2, feature: FEATURE });
  assert.equal(first.consumed, 2);
  assert.equal(first.balance, before - 2);
  assert.equal(first.replayed, false);
  const again = await tollgate.consumeCredit({ idempotency_key: "job-1", amount: 2, feature: FEATURE });
  assert.equal(again.replayed, true);
  assert.equal(again.transaction_id, first.transaction_id);
  assert.equal(await balanceOf(user.id), before - 2);
});

Deno.test("the client generates a fresh idempotency key per call when none is given", async () => {
  const user = await newUser(sql);
  const sent = recorder();
  const tollgate = clientForUser(user.token, { fetch: sent.fetch });
  const before = await balanceOf(user.id);
  await tollgate.consumeCredit({ feature: FEATURE });
  await tollgate.consumeCredit({ feature: FEATURE });
  assert.equal(await balanceOf(user.id), before - 2);
  assert.notEqual(sent.bodies[0].idempotency_key, sent.bodies[1].idempotency_key);
});

Deno.test("a response lost on the way back is retried with the same key and debits once", async () => {
  const user = await newUser(sql);
  const before = await balanceOf(user.id);
  let lost = false;
  const sent = recorder(async (input, init) => {
    const res = await fetch(input, init);
    if (lost) return res;
    lost = true; // the function ran and debited; the caller never hears about it
    await res.body?.cancel();
    throw new TypeError("connection reset by peer");
  });
  const result = await clientForUser(user.token, { fetch: sent.fetch }).consumeCredit({ feature: FEATURE });
  assert.equal(sent.bodies.length, 2);
  assert.equal(sent.bodies[1].idempotency_key, sent.bodies[0].idempotency_key);
  assert.equal(result.replayed, true);
  assert.equal(result.balance, before - 1);
  assert.equal(await balanceOf(user.id), before - 1);
  const [{ n }] = await sql`select count(*)::int as n from tollgate.credit_ledger
                             where account_id = ${user.id} and reason = 'consume'`;
  assert.equal(n, 1);
});

Deno.test("the client surfaces 402 insufficient_credits with the balance, sent once and not retried", async () => {
  const user = await newUser(sql);
  const balance = await balanceOf(user.id);
  const sent = recorder();
  const error = await refusal(
    clientForUser(user.token, { fetch: sent.fetch }).consumeCredit({ amount: balance + 5, feature: FEATURE }),
  );
  assert.equal(sent.bodies.length, 1);
  assert.equal(error.status, 402);
  assert.equal(error.code, "insufficient_credits");
  assert.deepEqual(error.details, { balance, required: balance + 5 });
  assert.equal(error.key, sent.bodies[0].idempotency_key);
  assert.equal(await balanceOf(user.id), balance);
});

Deno.test("the client surfaces a used-up daily quota as 429 quota_exceeded with retryAfter, not retried", () =>
  withinOneUtcDay(async () => {
    const user = await newUser(sql); // the free plan allows 2 requests a day on feature "default"
    const sent = recorder();
    const tollgate = clientForUser(user.token, { fetch: sent.fetch });
    await tollgate.consumeCredit({ amount: 0 });
    await tollgate.consumeCredit({ amount: 0 });
    const error = await refusal(tollgate.consumeCredit({ amount: 0 }));
    assert.equal(sent.bodies.length, 3);
    assert.equal(error.status, 429);
    assert.equal(error.code, "quota_exceeded");
    assert.equal(error.details.period, "day");
    assert.equal(error.details.limit, 2);
    assert.ok(typeof error.retryAfter === "number" && error.retryAfter > 0 && error.retryAfter <= 86_400);
  }));

Deno.test("the client answers forbidden when a user token names another user", async () => {
  const alice = await newUser(sql);
  const bob = await newUser(sql);
  const error = await refusal(
    clientForUser(alice.token).consumeCredit({ user_id: bob.id, feature: FEATURE }),
  );
  assert.equal(error.status, 403);
  assert.equal(error.code, "forbidden");
});

Deno.test("the client with the service-role key acts for the user it names", async () => {
  const user = await newUser(sql);
  const before = await balanceOf(user.id);
  const result = await clientForService().consumeCredit({ user_id: user.id, feature: FEATURE });
  assert.equal(result.balance, before - 1);
  assert.equal(await balanceOf(user.id), before - 1);
});

Deno.test("resetMonthlyQuotas answers totals to the service key and forbidden to a user", async () => {
  const totals = await clientForService().resetMonthlyQuotas();
  for (const v of Object.values(totals)) assert.equal(typeof v, "number");
  const user = await newUser(sql);
  const error = await refusal(clientForUser(user.token).resetMonthlyQuotas());
  assert.equal(error.status, 403);
  assert.equal(error.code, "forbidden");
});

Deno.test("an unreachable project is a network_error after the bounded retries, all with one key", async () => {
  const sent = recorder();
  const tollgate = clientForUser("unused", {
    url: `http://127.0.0.1:${freePort()}`,
    fetch: sent.fetch,
    retry: { retries: 2, baseDelayMs: 1 },
  });
  const error = await refusal(tollgate.consumeCredit({ feature: FEATURE }));
  assert.equal(error.code, "network_error");
  assert.equal(error.status, 0);
  assert.equal(sent.bodies.length, 3);
  assert.equal(new Set(sent.bodies.map((b) => b.idempotency_key)).size, 1);
});

Deno.test({
  name: "logAiUsage records a call with a generated request_id and replays it without recording twice",
  async fn() {
    const user = await newUser(sql);
    await topUp(sql, user.id, 100);
    const sent = recorder();
    const tollgate = clientForUser(user.token, { fetch: sent.fetch });
    const call = { model: "e2e-unpriced-model", input_tokens: 120, output_tokens: 30, feature: FEATURE };
    const first = await tollgate.logAiUsage(call);
    assert.equal(first.replayed, false);
    assert.equal(first.unpriced, true);
    assert.equal(Number(first.cost_usd), 0);
    const requestId = String(sent.bodies[0].request_id);
    const again = await tollgate.logAiUsage({ ...call, request_id: requestId });
    assert.equal(again.replayed, true);
    assert.equal(again.usage_id, first.usage_id);
    const [{ n }] = await sql`select count(*)::int as n from tollgate.ai_usage where user_id = ${user.id}`;
    assert.equal(n, 1);
  },
});

Deno.test({
  name: "logAiUsage surfaces a reused request_id with a different body as idempotency_conflict",
  async fn() {
    const user = await newUser(sql);
    const tollgate = clientForUser(user.token);
    await tollgate.logAiUsage({ request_id: "r-1", model: "m", input_tokens: 1, output_tokens: 1 });
    const error = await refusal(
      tollgate.logAiUsage({ request_id: "r-1", model: "m", input_tokens: 2, output_tokens: 1 }),
    );
    assert.equal(error.status, 409);
    assert.equal(error.code, "idempotency_conflict");
  },
});

Deno.test("withCredits through the functions: the same work twice runs the model once and is charged once", async () => {
  const user = await newUser(sql);
  await topUp(sql, user.id, 17); // 20 with the free plan's 3
  const tollgate = clientForUser(user.token);
  const stored = new Map<string, StoredWork<string>>();
  const storage = {
    load: (key: string) => Promise.resolve(stored.get(key)),
    save: (key: string, entry: StoredWork<string>) => Promise.resolve(void stored.set(key, entry)),
  };
  let modelCalls = 0;
  // gpt-4o: 4,000 uncached input tokens (1 credit) + 1,000 output (1 credit) = 2 credits of the 5 held.
  const model = () => {
    modelCalls++;
    return Promise.resolve({ result: "an answer", usage: { input_tokens: 4_000, output_tokens: 1_000 } });
  };
  const work = { prompt: "What is a hold?", conversation: user.id };
  const options = { work, amount: 5, model: "gpt-4o", feature: FEATURE, ...storage };
  const first = await tollgate.withCredits(options, model);
  assert.deepEqual([first.result, first.replayed, first.settle.credits_charged, first.settle.hold_released], [
    "an answer",
    false,
    2,
    3,
  ]);
  const again = await tollgate.withCredits(options, model);
  assert.deepEqual([again.result, again.replayed, again.settle.replayed, modelCalls], [
    "an answer",
    true,
    true,
    1,
  ]);
  assert.equal(await balanceOf(user.id), 18, "charged once, for what the call cost");
  const status = await tollgate.getStatus();
  assert.deepEqual([status.balance, status.held, status.account_id], [18, 0, user.id]);
});

Deno.test({
  name: "teardown: close the database connection",
  fn: () => sql.end(),
  sanitizeResources: false,
});
