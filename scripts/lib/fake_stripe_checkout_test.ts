import assert from "node:assert/strict";
import type Stripe from "stripe";
import { createStripeClient } from "../../supabase/functions/_tollgate/stripe.ts";
import { startFakeStripe, type StripeObject } from "./fake_stripe.ts";
import { parseForm } from "./fake_stripe_checkout.ts";

const KEY = "sk_test_fake_checkout";

async function withFake(fn: (fake: ReturnType<typeof startFakeStripe>, stripe: Stripe) => Promise<void>) {
  const fake = startFakeStripe({ secretKey: KEY });
  try {
    await fn(fake, createStripeClient({ secretKey: KEY, apiBase: fake.url }));
  } finally {
    await fake.stop();
  }
}

const PRICE = {
  id: "price_pack",
  object: "price",
  active: true,
  currency: "usd",
  unit_amount: 900,
  product: "prod_p",
};

Deno.test("parseForm reads the SDK's bracket encoding into objects and arrays", () => {
  assert.deepEqual(parseForm("line_items[0][price]=p&line_items[0][quantity]=1&metadata[k]=v&mode=payment"), {
    line_items: [{ price: "p", quantity: "1" }],
    metadata: { k: "v" },
    mode: "payment",
  });
});

Deno.test("the fake honours idempotency keys like Stripe: same parameters, same object; others, an error", async () => {
  await withFake(async (_fake, stripe) => {
    const a = await stripe.customers.create({ email: "a@example.com" }, { idempotencyKey: "k1" });
    const b = await stripe.customers.create({ email: "a@example.com" }, { idempotencyKey: "k1" });
    assert.equal(b.id, a.id);
    await assert.rejects(
      stripe.customers.create({ email: "b@example.com" }, { idempotencyKey: "k1" }),
      (e: { type?: string }) => e.type === "StripeIdempotencyError",
    );
    const c = await stripe.customers.create({ email: "a@example.com" }, { idempotencyKey: "k2" });
    assert.notEqual(c.id, a.id);
  });
});

Deno.test("the fake creates checkout sessions of stored prices only, and refuses inactive ones", async () => {
  await withFake(async (fake, stripe) => {
    const objects: StripeObject[] = [
      PRICE,
      { ...PRICE, id: "price_old", active: false },
      { id: "prod_p", object: "product", name: "P" },
    ];
    await fake.put(...objects);
    const customer = await stripe.customers.create({});
    const params = (price: string): Stripe.Checkout.SessionCreateParams => ({
      mode: "payment",
      customer: customer.id,
      line_items: [{ price, quantity: 1 }],
      success_url: "https://app.example.com/ok",
    });
    const session = await stripe.checkout.sessions.create(params("price_pack"));
    assert.deepEqual([session.status, session.amount_total, session.customer], ["open", 900, customer.id]);
    assert.equal((await stripe.checkout.sessions.retrieve(session.id)).id, session.id);
    await assert.rejects(stripe.checkout.sessions.create(params("price_old")), /inactive/);
    await assert.rejects(stripe.checkout.sessions.create(params("price_none")), /No such price/);
    const expanded = await stripe.prices.retrieve("price_pack", { expand: ["product"] });
    assert.equal((expanded.product as Stripe.Product).name, "P");
    const portal = await stripe.billingPortal.sessions.create({ customer: customer.id });
    assert.match(portal.url, /^https:\/\/billing\.stripe\.com\//);
  });
});

Deno.test("completing a session delivers signed events to the webhook URL", async () => {
  const received: { type: string; signed: boolean }[] = [];
  const hook = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const event = await req.json();
    received.push({
      type: event.type,
      signed: /^t=\d+,v1=[0-9a-f]+/.test(req.headers.get("stripe-signature") ?? ""),
    });
    return Response.json({ received: true });
  });
  try {
    await withFake(async (fake, stripe) => {
      await fake.put(PRICE);
      const session = await stripe.checkout.sessions.create({
        mode: "payment",
        line_items: [{ price: "price_pack", quantity: 1 }],
        success_url: "https://app.example.com/ok",
      });
      const url = `http://127.0.0.1:${hook.addr.port}/`;
      const res = await fetch(`${fake.url}/_fake/checkout/sessions/${session.id}/complete`, {
        method: "POST",
        body: JSON.stringify({ webhook_url: url, webhook_secret: "whsec_test" }),
      });
      assert.equal(res.status, 200, await res.clone().text());
      assert.deepEqual((await res.json()).events.map((e: { status: number }) => e.status), [200]);
      assert.deepEqual(received, [{ type: "checkout.session.completed", signed: true }]);
      const again = await fetch(`${fake.url}/_fake/checkout/sessions/${session.id}/complete`, {
        method: "POST",
        body: JSON.stringify({ webhook_url: url, webhook_secret: "whsec_test" }),
      });
      assert.equal(again.status, 409, "a completed session cannot complete twice");
      await again.body?.cancel();
    });
  } finally {
    await hook.shutdown();
  }
});
