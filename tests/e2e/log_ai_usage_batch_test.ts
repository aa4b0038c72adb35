import assert from "node:assert/strict";
import {
  LogUsageBatchResponse,
  LogUsageResponse,
  MAX_USAGE_EVENTS,
} from "../../supabase/functions/_tollgate/contract.ts";
import { call, db, newUser, SERVICE_KEY, topUp } from "./_helpers.ts";

const sql = db();

/** `n` events spread over `users` (by index), every third charged; ids unique per `tag`. */
function events(tag: string, users: string[], n: number) {
  return Array.from({ length: n }, (_, i) => ({
    request_id: `${tag}-${i}`,
    model: "gpt-4o",
    input_tokens: 1000 + i,
    output_tokens: 500,
    feature: "e2e-batch",
    charge_credits: i % 3 === 0,
    user_id: users[i % users.length],
  }));
}

async function books(users: string[]) {
  const [row] = await sql`
    select (select count(*)::int from tollgate.check_ledger() c where c.account_id = any(${users}::uuid[])) as bad,
           (select coalesce(sum(balance), 0)::int from tollgate.accounts where id = any(${users}::uuid[])) as balance,
           (select count(*)::int from tollgate.ai_usage where account_id = any(${users}::uuid[])) as rows,
           (select coalesce(sum(input_tokens), 0)::int from tollgate.usage_counters
             where account_id = any(${users}::uuid[]) and period = 'day') as input_tokens`;
  return row;
}

const asService = { headers: { Authorization: `Bearer ${SERVICE_KEY}` } };

Deno.test("log-ai-usage records a batch of 1,000 events for several users at once, and replays it whole", async () => {
  const users = await Promise.all(Array.from({ length: 7 }, () => newUser(sql).then((u) => u.id)));
  for (const u of users) await topUp(sql, u, 100);
  const before = await books(users);
  const batch = events("big", users, 1000);
  const first = await call("log-ai-usage", { events: batch }, asService);
  assert.equal(first.status, 200, JSON.stringify(first.body).slice(0, 500));
  const { results } = LogUsageBatchResponse.parse(first.body);
  assert.equal(results.length, 1000);
  const answers = results.map((r) => LogUsageResponse.parse(r));
  assert.ok(answers.every((a) => !a.replayed && !a.unpriced));
  const charged = answers.reduce((sum, a) => sum + a.credits_charged, 0);
  assert.equal(charged, 334, "334 charged events of about 0.0075 USD: 1 credit each");
  const after = await books(users);
  assert.deepEqual(after, {
    bad: 0,
    balance: before.balance - charged,
    rows: before.rows + 1000,
    input_tokens: before.input_tokens + batch.reduce((sum, e) => sum + e.input_tokens, 0),
  });

  const again = await call("log-ai-usage", { events: batch }, asService);
  assert.equal(again.status, 200);
  assert.deepEqual(
    again.body.results,
    answers.map((a) => ({ ...a, replayed: true })),
    "the same answers, replayed",
  );
  assert.deepEqual(await books(users), after, "nothing recorded or charged twice");
});

Deno.test("log-ai-usage answers each event of a mixed batch as it would alone: new, replayed, conflicting", async () => {
  const user = await newUser(sql);
  const alone = events("mix", [user.id], 2);
  const first = await call("log-ai-usage", alone[0], { token: user.token });
  assert.equal(first.status, 201);
  const res = await call("log-ai-usage", {
    events: [alone[0], { ...alone[0], input_tokens: 1 }, alone[1], alone[1], {
      ...alone[1],
      output_tokens: 9,
    }],
  }, { token: user.token });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const results = res.body.results as Record<string, unknown>[];
  assert.deepEqual(
    results[0],
    { ...first.body, replayed: true },
    "an event logged before replays its answer",
  );
  assert.deepEqual(results[1], {
    error: {
      code: "idempotency_conflict",
      message: "Idempotency conflict: request_id mix-0 was already used with a different request",
      details: { request_id: "mix-0" },
    },
    status: 409,
  });
  assert.equal(results[2].replayed, false, "a new event is recorded");
  assert.deepEqual(results[3], { ...results[2], replayed: true }, "its id again in the batch replays it");
  assert.equal((results[4] as { status: number }).status, 409, "its id with another body conflicts");
  assert.equal((await books([user.id])).rows, 2);
});

Deno.test("a user token's batch acts for its user: an event naming another user or account answers 403 alone", async () => {
  const user = await newUser(sql);
  const other = await newUser(sql);
  const res = await call("log-ai-usage", {
    events: [
      { ...events("own", [user.id], 1)[0], user_id: undefined },
      events("theirs", [other.id], 1)[0],
      { ...events("acct", [user.id], 1)[0], user_id: undefined, account_id: other.id },
    ],
  }, { token: user.token });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const results = res.body.results as { status?: number; error?: { code: string } }[];
  assert.equal(results[0].status, undefined);
  assert.deepEqual(results.slice(1).map((r) => [r.status, r.error?.code]), [[403, "forbidden"], [
    403,
    "forbidden",
  ]]);
  assert.equal((await books([user.id])).rows, 1);
  assert.equal((await books([other.id])).rows, 0, "nothing is recorded on another user's account");
});

Deno.test("two concurrent batches over the same accounts in opposite orders both commit, and the books are exact", async () => {
  const users = await Promise.all(Array.from({ length: 6 }, () => newUser(sql).then((u) => u.id)));
  for (const u of users) await topUp(sql, u, 1000);
  const before = await books(users);
  const a = events("race-a", users, 600).map((e) => ({ ...e, charge_credits: true }));
  const b = events("race-b", [...users].reverse(), 600).map((e) => ({ ...e, charge_credits: true }));
  const answers = await Promise.all(
    [a, b, a, b].map((batch) => call("log-ai-usage", { events: batch }, asService)),
  );
  assert.deepEqual(
    answers.map((r) => r.status),
    [200, 200, 200, 200],
    JSON.stringify(answers[0].body).slice(0, 300),
  );
  const results = answers.flatMap((r) => r.body.results as LogUsageResponse[]);
  assert.equal(
    results.filter((r) => r.replayed).length,
    1200,
    "each batch is recorded once, its twin replays",
  );
  const charged = results.filter((r) => !r.replayed).reduce((sum, r) => sum + r.credits_charged, 0);
  assert.equal(charged, 1200);
  const after = await books(users);
  assert.deepEqual(after, { ...after, bad: 0, balance: before.balance - charged, rows: before.rows + 1200 });
});

Deno.test("the SQL function refuses a batch over the contract's MAX_USAGE_EVENTS, as zod does", async () => {
  const user = await newUser(sql);
  const over = JSON.stringify(events("over", [user.id], MAX_USAGE_EVENTS + 1));
  await assert.rejects(
    sql.begin((tx) => [
      tx`select set_config('request.jwt.claims', '{"role": "service_role"}', true)`,
      tx`select tollgate.log_ai_usage_batch(${over}::jsonb)`,
    ]),
    (e: { code?: string }) => e.code === "TG400",
  );
  const res = await call("log-ai-usage", { events: events("over", [user.id], MAX_USAGE_EVENTS) }, asService);
  assert.equal(res.status, 200, "exactly MAX_USAGE_EVENTS is accepted by both");
});

Deno.test("teardown: close the database connection", async () => {
  await sql.end();
});
