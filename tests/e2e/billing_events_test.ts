/**
 * Billing events end to end: 200 concurrent consumes through the gateway that cross the low-balance threshold write
 * one balance.low; a refused retry storm writes one quota.exceeded; deliver-billing-events (started as deployed,
 * with a webhook URL) posts each event once, signed, to the example receiver, which verifies every request; after a
 * receiver outage the same event comes again with the same webhook-id; nothing unsigned or wrongly signed is ever
 * accepted.
 */
import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { call, db, newUser, SECRET_KEY, spawnAsDeployed, topUp, withinOneUtcDay } from "./_helpers.ts";
import { freePort, waitForPort } from "../../scripts/lib/stack.ts";
import { type BillingWebhook, createReceiver } from "../../examples/billing_webhook_receiver.ts";

const sql = db();
const SECRET = "whsec_" + btoa("tollgate e2e billing events secret");

/** The receiver: every request it got (webhook-id, accepted or not), and the events it handled once each. */
const received: { id: string | null; status: number }[] = [];
const handled: BillingWebhook[] = [];
let down = false;
const receive = createReceiver(SECRET, (event) => {
  handled.push(event);
  return Promise.resolve();
});
const receiverPort = freePort();
const receiver = Deno.serve({ hostname: "127.0.0.1", port: receiverPort, onListen() {} }, async (req) => {
  const res = down ? new Response("down for maintenance", { status: 503 }) : await receive(req);
  received.push({ id: req.headers.get("webhook-id"), status: res.status });
  return res;
});

const dispatcherPort = freePort();
const dispatcher = spawnAsDeployed("deliver-billing-events", {
  TOLLGATE_WEBHOOK_URL: `http://127.0.0.1:${receiverPort}/hooks`,
  TOLLGATE_WEBHOOK_SECRET: SECRET,
}, dispatcherPort);
await waitForPort(dispatcherPort, 60_000, "deliver-billing-events");

/** One run of the dispatcher, as pg_cron (or the local timer) makes it. */
async function dispatch(): Promise<{ delivered: number; failed: number }> {
  const res = await fetch(`http://127.0.0.1:${dispatcherPort}/`, {
    method: "POST",
    headers: { Authorization: `Bearer ${SECRET_KEY}`, "Content-Type": "application/json" },
    body: "{}",
  });
  assert.equal(res.status, 200);
  return await res.json();
}

async function events(
  accountId: string,
): Promise<{ id: string; type: string; data: Record<string, number> }[]> {
  return await sql`select id::text, type, data from tollgate.billing_events where account_id = ${accountId}
                   order by created_at, id`;
}

const handledFor = (accountId: string) => handled.filter((e) => e.account_id === accountId);

Deno.test("200 concurrent consumes that cross the low-balance threshold write one balance.low", async () => {
  const user = await newUser(sql);
  await topUp(sql, user.id, 200); // 203 with the free plan's 3
  await sql`update tollgate.accounts set low_balance_threshold = 50 where id = ${user.id}`;
  const answers = await Promise.all(
    Array.from(
      { length: 200 },
      (_, i) =>
        call("consume-credit", { idempotency_key: `low-${i}`, feature: "e2e-events" }, { token: user.token }),
    ),
  );
  assert.deepEqual(answers.filter((a) => a.status !== 200), []);
  const low = (await events(user.id)).filter((e) => e.type === "balance.low");
  assert.equal(low.length, 1);
  assert.deepEqual([low[0].data.previous_balance, low[0].data.balance, low[0].data.threshold], [50, 49, 50]);
});

Deno.test("a storm of refused consumes in one quota window writes one quota.exceeded", async () => {
  await withinOneUtcDay(async () => {
    const user = await newUser(sql); // the free plan: 2 requests a day on feature default
    for (const key of ["q-1", "q-2"]) {
      assert.equal(
        (await call("consume-credit", { idempotency_key: key }, { token: user.token })).status,
        200,
      );
    }
    const refused = await Promise.all(
      Array.from(
        { length: 30 },
        (_, i) => call("consume-credit", { idempotency_key: `storm-${i}` }, { token: user.token }),
      ),
    );
    assert.deepEqual([...new Set(refused.map((r) => r.status))], [429]);
    const exceeded = (await events(user.id)).filter((e) => e.type === "quota.exceeded");
    assert.equal(exceeded.length, 1);
    assert.deepEqual([exceeded[0].data.limit, exceeded[0].data.used], [2, 2]);
  });
});

Deno.test("each event reaches the receiver once, signed, with its id as webhook-id; a second run sends nothing", async () => {
  const user = await newUser(sql);
  await topUp(sql, user.id, 10);
  const written = await events(user.id);
  assert.equal(written.length, 1);
  await dispatch();
  assert.deepEqual(handledFor(user.id).map((e) => [e.id, e.type, e.data.amount]), [
    [written[0].id, "credits.granted", 10],
  ]);
  const [delivery] = await sql`select attempts, delivered_at is not null as delivered, last_error
                                 from tollgate.billing_event_deliveries where event_id = ${written[0].id}`;
  assert.deepEqual({ ...delivery }, { attempts: 1, delivered: true, last_error: null });
  await dispatch();
  assert.equal(received.filter((r) => r.id === written[0].id).length, 1);
});

Deno.test("after a receiver outage the event comes again with the same webhook-id, and is handled once", async () => {
  const user = await newUser(sql);
  down = true;
  await topUp(sql, user.id, 7);
  const [event] = await events(user.id);
  try {
    await dispatch();
  } finally {
    down = false;
  }
  assert.deepEqual(received.filter((r) => r.id === event.id).map((r) => r.status), [503]);
  const [failed] = await sql`select attempts, delivered_at, last_error,
                                    next_attempt_at > now() + interval '20 seconds' as backed_off
                               from tollgate.billing_event_deliveries where event_id = ${event.id}`;
  assert.deepEqual({ ...failed }, {
    attempts: 1,
    delivered_at: null,
    last_error: "HTTP 503: down for maintenance",
    backed_off: true,
  });
  await dispatch();
  assert.equal(received.filter((r) => r.id === event.id).length, 1, "not before its backoff ends");
  // The backoff passes (as the clock would, 30 s later).
  await sql`update tollgate.billing_event_deliveries set next_attempt_at = now() where event_id = ${event.id}`;
  await dispatch();
  assert.deepEqual(received.filter((r) => r.id === event.id).map((r) => r.status), [503, 204]);
  assert.deepEqual(handledFor(user.id).map((e) => e.id), [event.id]);
});

Deno.test("the receiver accepts only Tollgate's signature: unsigned, wrongly signed or altered deliveries get 400", async () => {
  // Everything Tollgate sent so far was accepted: no delivery of its was ever refused as unsigned or wrongly signed.
  assert.deepEqual(received.filter((r) => r.status === 400), []);
  const body = JSON.stringify({
    id: crypto.randomUUID(),
    type: "credits.granted",
    account_id: "x",
    data: {},
  });
  const id = crypto.randomUUID();
  const now = new Date();
  const post = (headers: Record<string, string>, payload = body) =>
    fetch(`http://127.0.0.1:${receiverPort}/hooks`, { method: "POST", headers, body: payload })
      .then(async (r) => (await r.body?.cancel(), r.status));
  const signed = (secret: string) => ({
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
    "webhook-signature": new Webhook(secret).sign(id, now, body),
  });
  assert.equal(await post({}), 400);
  assert.equal(await post(signed("whsec_" + btoa("someone else's secret"))), 400);
  assert.equal(await post(signed(SECRET), body.replace("credits.granted", "balance.low")), 400);
  assert.equal(handled.some((e) => e.id === JSON.parse(body).id), false);
});

Deno.test("teardown: stop the dispatcher and the receiver, close the pool", async () => {
  dispatcher.kill("SIGTERM");
  await dispatcher.status;
  await receiver.shutdown();
  await sql.end();
});
