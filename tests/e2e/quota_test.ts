import assert from "node:assert/strict";
import { call, db, newUser, topUp, withinOneUtcDay } from "./_helpers.ts";

const sql = db();

type QuotaError = {
  code: string;
  details: {
    feature: string;
    period: string;
    limit: number;
    used: number;
    resets_at: string;
    retry_after: number;
  };
};

async function balanceOf(userId: string): Promise<number> {
  const [row] = await sql`select balance from tollgate.accounts where id = ${userId}`;
  return Number(row.balance);
}

async function requestsOf(userId: string, feature: string): Promise<Record<string, number>> {
  const rows = await sql`select period, requests from tollgate.usage_counters
                          where account_id = ${userId} and feature = ${feature}`;
  return Object.fromEntries(rows.map((r) => [r.period, Number(r.requests)]));
}

Deno.test("on the free plan, 2 requests a day pass and the third answers 429 with Retry-After to the UTC day's end", () =>
  withinOneUtcDay(async () => {
    const user = await newUser(sql);
    for (const key of ["q1", "q2"]) {
      const ok = await call("consume-credit", { idempotency_key: key }, { token: user.token });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
    }
    const before = { balance: await balanceOf(user.id), requests: await requestsOf(user.id, "default") };
    assert.deepEqual(before.requests, { day: 2, month: 2 });

    const refused = await call("consume-credit", { idempotency_key: "q3" }, { token: user.token });
    const now = Date.now();
    assert.equal(refused.status, 429, JSON.stringify(refused.body));
    const midnight = new Date(now);
    midnight.setUTCHours(24, 0, 0, 0);
    const expected = (midnight.getTime() - now) / 1000;
    const retryAfter = Number(refused.headers.get("retry-after"));
    assert.ok(Math.abs(retryAfter - expected) <= 2, `Retry-After ${retryAfter}, expected about ${expected}`);
    const error = refused.body.error as QuotaError;
    assert.equal(error.code, "quota_exceeded");
    assert.deepEqual({ ...error.details, retry_after: undefined, resets_at: undefined }, {
      feature: "default",
      period: "day",
      limit: 2,
      used: 2,
      retry_after: undefined,
      resets_at: undefined,
    });
    assert.equal(new Date(error.details.resets_at).getTime(), midnight.getTime());
    assert.equal(error.details.retry_after, retryAfter);

    assert.equal(await balanceOf(user.id), before.balance, "a refused request debits nothing");
    assert.deepEqual(await requestsOf(user.id, "default"), before.requests, "and counts nothing");
    const [key] = await sql`select count(*)::int as n from tollgate.idempotency_keys
                             where account_id = ${user.id} and key = 'q3'`;
    assert.equal(key.n, 0, "and binds no idempotency key");
  }));

Deno.test("a 200 lists each limit of the plan with what is used and when it resets", async () => {
  const user = await newUser(sql);
  const res = await call("consume-credit", { idempotency_key: "one" }, { token: user.token });
  assert.equal(res.status, 200);
  const quota = res.body.quota as { period: string; used: number; limit: number; resets_at: string }[];
  assert.deepEqual(quota.map((q) => [q.period, q.used, q.limit]), [["day", 1, 2], ["month", 1, 5]]);
  const [account] = await sql`select period_end from tollgate.accounts where id = ${user.id}`;
  assert.equal(new Date(quota[1].resets_at).getTime(), (account.period_end as Date).getTime());
});

Deno.test("100 parallel consumes against a limit of 10 give exactly 10 successes and 90 answers of 429", async () => {
  await sql`insert into tollgate.plans (id, name) values ('e2e-quota-10', 'E2E quota of 10') on conflict do nothing`;
  await sql`insert into tollgate.plan_limits (plan_id, feature, period, request_limit)
            values ('e2e-quota-10', 'e2e-limited', 'month', 10) on conflict do nothing`;
  const user = await newUser(sql);
  await sql`update tollgate.accounts set plan_id = 'e2e-quota-10' where id = ${user.id}`;
  await topUp(sql, user.id, 100);
  const before = await balanceOf(user.id);

  const results = await Promise.all(
    Array.from(
      { length: 100 },
      (_, i) =>
        call("consume-credit", { idempotency_key: `par-${i}`, feature: "e2e-limited" }, {
          token: user.token,
        }),
    ),
  );
  const count = (s: number) => results.filter((r) => r.status === s).length;
  assert.equal(count(200), 10);
  assert.equal(count(429), 90);
  assert.ok(results.filter((r) => r.status === 429).every((r) => Number(r.headers.get("retry-after")) > 0));
  assert.equal(await balanceOf(user.id), before - 10, "only the 10 admitted requests were debited");
  assert.deepEqual(await requestsOf(user.id, "e2e-limited"), { month: 10 });
  const problems = await sql`select * from tollgate.check_ledger(${user.id}::uuid)`;
  assert.equal(problems.length, 0, JSON.stringify(problems));
});

Deno.test("on a plan with a '*' limit, no feature name the caller picks escapes it", async () => {
  await sql`insert into tollgate.plans (id, name) values ('e2e-wildcard-3', 'E2E wildcard') on conflict do nothing`;
  await sql`insert into tollgate.plan_limits (plan_id, feature, period, request_limit)
            values ('e2e-wildcard-3', '*', 'month', 3) on conflict do nothing`;
  const user = await newUser(sql);
  await sql`update tollgate.accounts set plan_id = 'e2e-wildcard-3' where id = ${user.id}`;
  const statuses = [];
  for (const feature of ["chat", "summarize", "made-up-1", "made-up-2"]) {
    const res = await call("consume-credit", { idempotency_key: feature, amount: 0, feature }, {
      token: user.token,
    });
    statuses.push(res.status);
    if (res.status === 429) {
      const error = res.body.error as QuotaError;
      assert.deepEqual([error.details.feature, error.details.limit, error.details.used], ["*", 3, 3]);
    }
  }
  assert.deepEqual(statuses, [200, 200, 200, 429]);
});

Deno.test("a replay is answered even when the quota is full, and is not counted", () =>
  withinOneUtcDay(async () => {
    const user = await newUser(sql);
    const first = await call("consume-credit", { idempotency_key: "r1" }, { token: user.token });
    await call("consume-credit", { idempotency_key: "r2" }, { token: user.token });
    const replay = await call("consume-credit", { idempotency_key: "r1" }, { token: user.token });
    assert.equal(replay.status, 200);
    assert.equal(replay.body.replayed, true);
    assert.equal(replay.body.transaction_id, first.body.transaction_id);
    assert.deepEqual(await requestsOf(user.id, "default"), { day: 2, month: 2 });
  }));

Deno.test("get_quota_status reads the same counters the gate uses", () =>
  withinOneUtcDay(async () => {
    const user = await newUser(sql);
    await call("consume-credit", { idempotency_key: "s1" }, { token: user.token });
    const rows = await sql.begin(async (tx) => {
      await tx`select set_config('role', 'authenticated', true),
                      set_config('request.jwt.claims', ${
        JSON.stringify({ role: "authenticated", sub: user.id })
      }, true)`;
      return await tx`select period::text, used::int, "limit"::int, remaining::int from tollgate.get_quota_status()`;
    });
    assert.deepEqual(rows.map((r) => ({ ...r })), [
      { period: "day", used: 1, limit: 2, remaining: 1 },
      { period: "month", used: 1, limit: 5, remaining: 4 },
    ]);
  }));

Deno.test({
  name: "teardown: close the database connection",
  fn: () => sql.end(),
  sanitizeResources: false,
});
