import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { BATCH, deliver, type Outbox } from "./deliver.ts";
import { type BillingEvent, loadWebhookConfig, signedRequest } from "./webhook.ts";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const CONFIG = { url: "http://receiver.test/hooks", secret: SECRET };

const event = (n: number): BillingEvent => ({
  id: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
  account_id: "6f1d7c0e-5b9a-4d8e-9f3a-2c1b0a9e8d7c",
  type: "balance.low",
  data: { balance: 4, threshold: 5 },
  created_at: "2030-02-10T12:00:00.000Z",
});

/** An outbox holding `events`, handing them out BATCH at a time, keeping what was recorded. */
function fakeOutbox(events: BillingEvent[]) {
  const pending = [...events];
  const recorded: { id: string; error: string | null }[] = [];
  const outbox: Outbox = {
    claim: (limit) => Promise.resolve(pending.splice(0, limit)),
    record: (results) => {
      recorded.push(...results);
      return Promise.resolve();
    },
  };
  return { outbox, recorded };
}

Deno.test("a delivery is signed per Standard Webhooks: the event id as webhook-id, verifiable with the secret", async () => {
  const now = new Date();
  const req = signedRequest(CONFIG, event(1), now);
  assert.equal(req.headers.get("webhook-id"), event(1).id);
  assert.equal(req.headers.get("webhook-timestamp"), String(Math.floor(now.getTime() / 1000)));
  const body = await req.text();
  const headers = Object.fromEntries(req.headers);
  assert.deepEqual(new Webhook(SECRET).verify(body, headers), {
    id: event(1).id,
    type: "balance.low",
    timestamp: "2030-02-10T12:00:00.000Z",
    account_id: event(1).account_id,
    data: { balance: 4, threshold: 5 },
  });
  assert.throws(() => new Webhook("whsec_" + btoa("another secret")).verify(body, headers), /signature/);
  assert.throws(() => new Webhook(SECRET).verify(body.replace("4", "5"), headers), /signature/);
});

Deno.test("deliver posts every claimed event and records 2xx as delivered, anything else with its error", async () => {
  const { outbox, recorded } = fakeOutbox([event(1), event(2), event(3)]);
  const send = (req: Request) => {
    const n = Number(req.headers.get("webhook-id")!.slice(-1));
    if (n === 3) return Promise.reject(new TypeError("connection refused"));
    return Promise.resolve(new Response(n === 1 ? "ok" : "nope", { status: n === 1 ? 200 : 500 }));
  };
  const totals = await deliver(CONFIG, outbox, send as typeof fetch);
  assert.deepEqual(totals, { configured: true, delivered: 1, failed: 2 });
  assert.deepEqual(recorded, [
    { id: event(1).id, error: null },
    { id: event(2).id, error: "HTTP 500: nope" },
    { id: event(3).id, error: "TypeError: connection refused" },
  ]);
});

Deno.test("deliver claims batch after batch until the outbox is empty", async () => {
  const events = Array.from({ length: BATCH * 2 + 5 }, (_, i) => event(i + 1));
  const { outbox, recorded } = fakeOutbox(events);
  const totals = await deliver(CONFIG, outbox, () => Promise.resolve(new Response(null, { status: 200 })));
  assert.equal(totals.delivered, events.length);
  assert.equal(recorded.length, events.length);
});

Deno.test("deliver without a webhook URL claims nothing", async () => {
  let claimed = 0;
  const outbox: Outbox = {
    claim: () => {
      claimed++;
      return Promise.resolve([]);
    },
    record: () => Promise.resolve(),
  };
  assert.deepEqual(await deliver(null, outbox), { configured: false, delivered: 0, failed: 0 });
  assert.equal(claimed, 0);
});

Deno.test("the webhook settings: both or neither, an http(s) URL and a whsec_ secret", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.equal(loadWebhookConfig(env({})), null);
  assert.deepEqual(
    loadWebhookConfig(env({ TOLLGATE_WEBHOOK_URL: CONFIG.url, TOLLGATE_WEBHOOK_SECRET: SECRET })),
    CONFIG,
  );
  const cases: [Record<string, string>, RegExp][] = [
    [{ TOLLGATE_WEBHOOK_URL: CONFIG.url }, /TOLLGATE_WEBHOOK_SECRET/],
    [{ TOLLGATE_WEBHOOK_SECRET: SECRET }, /TOLLGATE_WEBHOOK_URL/],
    [{ TOLLGATE_WEBHOOK_URL: "ftp://x", TOLLGATE_WEBHOOK_SECRET: SECRET }, /http\(s\) URL/],
    [{ TOLLGATE_WEBHOOK_URL: CONFIG.url, TOLLGATE_WEBHOOK_SECRET: "secret" }, /whsec_/],
    [{ TOLLGATE_WEBHOOK_URL: CONFIG.url, TOLLGATE_WEBHOOK_SECRET: "whsec_" }, /not a usable secret/],
  ];
  for (const [vars, message] of cases) assert.throws(() => loadWebhookConfig(env(vars)), message);
});
