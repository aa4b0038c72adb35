/**
 * The database going away mid-request: the user-facing functions answer 503 with Retry-After, keep nothing of the
 * interrupted call, stay up (a dead function would answer every later request through the gateway with 503), and
 * apply the client's retry with the same key exactly once.
 */
import assert from "node:assert/strict";
import { answerWhileDatabaseStops, call, db, newUser, PG_DATA } from "./_helpers.ts";

const sql = db();

const cases = [
  {
    fn: "consume-credit",
    statement: "public.consume_credits",
    body: { idempotency_key: "outage", amount: 2, feature: "e2e-outage" },
    applied: 2,
  },
  {
    fn: "log-ai-usage",
    statement: "public.log_ai_usage",
    // A priced model (seeded) charged post-paid, so the retry's effect shows in the balance.
    body: {
      request_id: "outage",
      model: "gpt-4o",
      input_tokens: 100_000,
      output_tokens: 0,
      charge_credits: true,
    },
    applied: 25,
  },
];

for (const c of cases) {
  Deno.test({
    name: `${c.fn} answers 503 when the database stops mid-request, stays up, and applies the retry once`,
    ignore: !PG_DATA,
    async fn() {
      const user = await newUser(sql);
      await sql`select public.grant_credits(${user.id}::uuid, 100, ${crypto.randomUUID()}, 'top_up')`;
      const res = await answerWhileDatabaseStops(
        sql,
        user.id,
        c.statement,
        () => call(c.fn, c.body, { token: user.token }),
      );
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal((res.body.error as { code: string }).code, "unavailable");
      assert.ok(Number(res.headers.get("retry-after")) >= 1);
      const [before] = await sql`select balance::int from public.accounts where user_id = ${user.id}`;
      assert.equal(before.balance, 103, "nothing of the interrupted call was kept");

      const retried = await call(c.fn, c.body, { token: user.token });
      assert.ok(retried.status === 200 || retried.status === 201, JSON.stringify(retried.body));
      assert.equal(retried.body.replayed, false);
      const replayed = await call(c.fn, c.body, { token: user.token });
      assert.equal(replayed.body.replayed, true);
      const [after] = await sql`select balance::int from public.accounts where user_id = ${user.id}`;
      assert.equal(after.balance, 103 - c.applied);
    },
  });
}

Deno.test({ name: "close the database connection", fn: () => sql.end(), sanitizeResources: false });
