/**
 * The database going away mid-request: nothing of the interrupted call is kept, the function stays up (a dead
 * function would answer every later request through the gateway with 503), and the retry with the same key or
 * event is applied exactly once. npm test runs this file last and on its own: it restarts the database.
 */
import assert from "node:assert/strict";
import { answerWhileDatabaseStops, call, db, newUser, PG_DATA } from "./_helpers.ts";
import { freshIds, signature, stripeEvent } from "../fixtures/stripe/fixtures.ts";

const sql = db();
const SECRET = Deno.env.get("STRIPE_WEBHOOK_SECRET") ?? "whsec_tollgate_local_only";

Deno.test({
  name: "stripe-webhook answers 500 when the database stops mid-request, and the redelivery is applied once",
  ignore: !PG_DATA,
  async fn() {
    const user = await newUser(sql);
    const e = stripeEvent("checkout.session.completed.payment", freshIds(user.id));
    const body = JSON.stringify(e);
    const deliver = async () =>
      call("stripe-webhook", body, { headers: { "Stripe-Signature": await signature(body, SECRET) } });
    const balance = async () =>
      Number((await sql`select balance from tollgate.accounts where id = ${user.id}`)[0].balance);

    // The webhook's transaction stops inside, after storing the event and linking the customer.
    const res = await answerWhileDatabaseStops(sql, user.id, "tollgate.handle_stripe_event", deliver);
    assert.equal(res.status, 500, JSON.stringify(res.body));
    assert.equal((res.body.error as { code: string }).code, "internal");
    const kept = await sql`select 1 from tollgate.stripe_events where id = ${e.id}`;
    assert.equal(kept.length, 0, "nothing of the interrupted delivery was kept");
    assert.equal(await balance(), 3);

    // Stripe redelivers until it gets a 2xx. Right after a restart a pooled connection that died with the server
    // can fail one attempt (postgres.js on Deno notices the dead socket only when it writes to it).
    let redelivered = await deliver();
    for (let i = 0; i < 3 && redelivered.status === 500; i++) redelivered = await deliver();
    assert.equal(redelivered.status, 200, JSON.stringify(redelivered.body));
    const [row] = await sql`select status, attempts from tollgate.stripe_events where id = ${e.id}`;
    assert.deepEqual({ ...row }, { status: "processed", attempts: 1 });
    assert.equal(await balance(), 103, "the redelivery is applied once");
  },
});

const cases = [
  {
    fn: "consume-credit",
    statement: "tollgate.consume_credits",
    body: { idempotency_key: "outage", amount: 2, feature: "e2e-outage" },
    applied: 2,
  },
  {
    fn: "log-ai-usage",
    statement: "tollgate.log_ai_usage",
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
      await sql`select tollgate.grant_credits(${user.id}::uuid, 100, ${crypto.randomUUID()}, 'top_up')`;
      const res = await answerWhileDatabaseStops(
        sql,
        user.id,
        c.statement,
        () => call(c.fn, c.body, { token: user.token }),
      );
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal((res.body.error as { code: string }).code, "unavailable");
      assert.ok(Number(res.headers.get("retry-after")) >= 1);
      const [before] = await sql`select balance::int from tollgate.accounts where id = ${user.id}`;
      assert.equal(before.balance, 103, "nothing of the interrupted call was kept");

      const retried = await call(c.fn, c.body, { token: user.token });
      assert.ok(retried.status === 200 || retried.status === 201, JSON.stringify(retried.body));
      assert.equal(retried.body.replayed, false);
      const replayed = await call(c.fn, c.body, { token: user.token });
      assert.equal(replayed.body.replayed, true);
      const [after] = await sql`select balance::int from tollgate.accounts where id = ${user.id}`;
      assert.equal(after.balance, 103 - c.applied);
    },
  });
}

Deno.test({ name: "teardown: close the database connection", fn: () => sql.end(), sanitizeResources: false });
