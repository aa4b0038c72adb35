import assert from "node:assert/strict";
import type postgres from "postgres";
import { ANON_KEY, call, db, esToken, newUser, SERVICE_KEY, topUp } from "./_helpers.ts";

const sql = db();
const FN = "reset-monthly-quotas";

/** Moves a new user's signup period (and its plan lot) into the past, so the next reset rolls it. */
async function makeDue(tx: postgres.Sql, userId: string): Promise<void> {
  await tx`
    update tollgate.accounts
       set period_anchor = now() - interval '1 month 1 day', period_start = now() - interval '1 month 1 day',
           period_end = now() - interval '1 day', next_expiry_at = now() - interval '1 day'
     where id = ${userId}`;
  await tx`update tollgate.credit_lots set expires_at = now() - interval '1 day' where account_id = ${userId}`;
}

Deno.test("reset-monthly-quotas answers 401 without credentials", async () => {
  const res = await call(FN, {});
  assert.equal(res.status, 401);
});

Deno.test("reset-monthly-quotas answers 403 to the anon key", async () => {
  const res = await call(FN, {}, { token: ANON_KEY });
  assert.equal(res.status, 403);
  assert.equal((res.body.error as { code: string }).code, "forbidden");
});

Deno.test("reset-monthly-quotas answers 403 to a signed-in user", async () => {
  const user = await newUser(sql);
  const res = await call(FN, {}, { token: user.token });
  assert.equal(res.status, 403);
  assert.equal((res.body.error as { code: string }).code, "forbidden");
});

Deno.test("reset-monthly-quotas answers 403 to a user token that claims another role", async () => {
  const res = await call(FN, {}, { token: await esToken({ sub: crypto.randomUUID(), role: "anon" }) });
  assert.equal(res.status, 403);
});

Deno.test("reset-monthly-quotas answers 400 to fields beyond the empty body", async () => {
  const res = await call(FN, { now: "2030-01-01T00:00:00Z" }, { token: SERVICE_KEY });
  assert.equal(res.status, 400);
});

Deno.test("reset-monthly-quotas answers its totals as numbers to the service key", async () => {
  const res = await call(FN, {}, { token: SERVICE_KEY });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.deepEqual(Object.keys(res.body).sort(), ["accounts_rolled", "credits_expired", "credits_granted"]);
  for (const v of Object.values(res.body)) assert.equal(typeof v, "number");
});

Deno.test("reset-monthly-quotas grants a rolled account its allowance once across two concurrent calls", async () => {
  const user = await newUser(sql);
  await makeDue(sql, user.id);
  const [plan] =
    await sql`select p.monthly_credits from tollgate.accounts a join tollgate.plans p on p.id = a.plan_id
                            where a.id = ${user.id}`;
  const results = await Promise.all([
    call(FN, {}, { token: SERVICE_KEY }),
    call(FN, {}, { token: SERVICE_KEY }),
  ]);
  for (const r of results) assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.ok(
    results.some((r) => (r.body.accounts_rolled as number) >= 1),
    JSON.stringify(results.map((r) => r.body)),
  );

  const grants = await sql`select delta from tollgate.credit_ledger
                           where account_id = ${user.id} and reason = 'grant' order by seq`;
  assert.equal(grants.length, 2, "the signup grant and exactly one period grant");
  const [account] = await sql`select balance, period_end > now() as current from tollgate.accounts
                              where id = ${user.id}`;
  assert.equal(account.current, true, "the account moved to the period containing now");
  assert.equal(
    Number(account.balance),
    Number(plan.monthly_credits),
    "old allowance expired, new one granted",
  );
  const expired =
    await sql`select delta from tollgate.credit_ledger where account_id = ${user.id} and reason = 'expire'`;
  assert.deepEqual(expired.map((e) => Number(e.delta)), [-Number(plan.monthly_credits)]);

  const again = await call(FN, {}, { token: SERVICE_KEY });
  assert.equal(again.status, 200);
  const [{ n }] =
    await sql`select count(*)::int as n from tollgate.credit_ledger where account_id = ${user.id}`;
  assert.equal(n, 3, "a later reset adds nothing for this account");
  const problems = await sql`select * from tollgate.check_ledger(${user.id}::uuid)`;
  assert.equal(problems.length, 0, JSON.stringify(problems));
});

Deno.test("concurrent resets beside concurrent consumes never deadlock, double grant or lose a credit", async () => {
  const users = await Promise.all(Array.from({ length: 20 }, () => newUser(sql)));
  for (const u of users) {
    await makeDue(sql, u.id);
    await topUp(sql, u.id, 100);
  }
  const ids = users.map((u) => u.id);
  const [plan] = await sql`select p.monthly_credits from tollgate.plans p where p.is_default`;
  // A feature without plan limits, so only credits decide; every consume can be paid from the top-up alone.
  const consumes = users.flatMap((u) =>
    Array.from({ length: 5 }, () =>
      call("consume-credit", {
        idempotency_key: crypto.randomUUID(),
        feature: "reset-race",
        user_id: u.id,
      }, { token: SERVICE_KEY }))
  );
  const results = await Promise.all([
    call(FN, {}, { token: SERVICE_KEY }),
    ...consumes,
    call(FN, {}, { token: SERVICE_KEY }),
  ]);
  for (const r of results) assert.equal(r.status, 200, JSON.stringify(r.body));

  const grants = await sql`select account_id, count(*)::int as n from tollgate.credit_ledger
                           where account_id = any(${ids}::uuid[]) and reason = 'grant'
                             and idempotency_key like 'plan:%' group by account_id`;
  assert.equal(grants.length, users.length);
  for (const g of grants) assert.equal(g.n, 2, `signup grant plus one period grant for ${g.account_id}`);
  const balances = await sql`select balance, period_end > now() as current from tollgate.accounts
                             where id = any(${ids}::uuid[])`;
  for (const b of balances) {
    assert.equal(b.current, true);
    assert.equal(
      Number(b.balance),
      Number(plan.monthly_credits) + 100 - 5,
      "allowance + top-up - 5 consumes",
    );
  }
  const problems = await sql`select * from tollgate.check_ledger() where account_id = any(${ids}::uuid[])`;
  assert.equal(problems.length, 0, JSON.stringify(problems));
});

Deno.test({
  name: "teardown: close the database connection",
  fn: () => sql.end(),
  sanitizeResources: false,
});
