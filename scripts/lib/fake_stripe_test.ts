import assert from "node:assert/strict";
import Stripe from "stripe";
import { createStripeClient } from "../../supabase/functions/_tollgate/stripe.ts";
import { collectionOf, FakeStripeControl, startFakeStripe } from "./fake_stripe.ts";

const KEY = "sk_test_fake_unit";

async function withFake(fn: (fake: ReturnType<typeof startFakeStripe>, stripe: Stripe) => Promise<void>) {
  const fake = startFakeStripe({ secretKey: KEY });
  try {
    await fn(fake, createStripeClient({ secretKey: KEY, apiBase: fake.url }));
  } finally {
    await fake.stop();
  }
}

const sub = (id: string, created: number, status = "active") => ({
  id,
  object: "subscription",
  created,
  status,
});

Deno.test("the fake Stripe API names collections as the API does", () => {
  assert.equal(collectionOf("subscription"), "subscriptions");
  assert.equal(collectionOf("checkout.session"), "checkout/sessions");
});

Deno.test("the SDK pointed at the fake through STRIPE_API_BASE retrieves what a test put there", async () => {
  await withFake(async (fake, stripe) => {
    await fake.put(sub("sub_fake1", 1_800_000_000));
    const got = await stripe.subscriptions.retrieve("sub_fake1");
    assert.equal(got.id, "sub_fake1");
    assert.equal(got.status, "active");
    const [req] = await fake.requests();
    assert.deepEqual({ method: req.method, path: req.path, apiKey: req.apiKey, status: req.status }, {
      method: "GET",
      path: "/v1/subscriptions/sub_fake1",
      apiKey: KEY,
      status: 200,
    });
  });
});

Deno.test("the fake answers an unknown id with Stripe's resource_missing error", async () => {
  await withFake(async (_fake, stripe) => {
    await assert.rejects(stripe.subscriptions.retrieve("sub_nobody"), (e: unknown) => {
      assert.ok(e instanceof Stripe.errors.StripeInvalidRequestError);
      assert.equal(e.code, "resource_missing");
      assert.equal(e.statusCode, 404);
      return true;
    });
  });
});

Deno.test("the fake refuses another API key as Stripe does", async () => {
  await withFake(async (fake) => {
    const intruder = createStripeClient({ secretKey: "sk_test_someone_else", apiBase: fake.url });
    await assert.rejects(intruder.subscriptions.retrieve("sub_x"), Stripe.errors.StripeAuthenticationError);
  });
});

Deno.test("the fake lists newest first, pages with starting_after and hides canceled subscriptions by default", async () => {
  await withFake(async (fake, stripe) => {
    await fake.put(
      ...Array.from({ length: 5 }, (_, i) => sub(`sub_list${i}`, 1_800_000_000 + i)),
      sub("sub_gone", 1_800_000_100, "canceled"),
    );
    const page = await stripe.subscriptions.list({ limit: 2 });
    assert.deepEqual(page.data.map((s) => s.id), ["sub_list4", "sub_list3"]);
    assert.equal(page.has_more, true);
    const all = await stripe.subscriptions.list({ limit: 2, status: "all" }).autoPagingToArray({
      limit: 100,
    });
    assert.deepEqual(all.map((s) => s.id), [
      "sub_gone",
      "sub_list4",
      "sub_list3",
      "sub_list2",
      "sub_list1",
      "sub_list0",
    ]);
  });
});

Deno.test("a failure rule fails as many requests as it says, then the fake answers again", async () => {
  await withFake(async (fake) => {
    const stripe = new Stripe(KEY, {
      host: "127.0.0.1",
      port: new URL(fake.url).port,
      protocol: "http",
      maxNetworkRetries: 0,
    });
    await fake.put(sub("sub_flaky", 1_800_000_000));
    await fake.fail({ path: "/v1/subscriptions/sub_flaky", status: 500, times: 2 });
    await assert.rejects(stripe.subscriptions.retrieve("sub_flaky"), Stripe.errors.StripeAPIError);
    await assert.rejects(stripe.subscriptions.retrieve("sub_flaky"), Stripe.errors.StripeAPIError);
    assert.equal((await stripe.subscriptions.retrieve("sub_flaky")).id, "sub_flaky");
    assert.deepEqual((await fake.requests("/v1/subscriptions")).map((r) => r.status), [500, 500, 200]);
  });
});

Deno.test("FakeStripeControl drives the fake over HTTP from another process", async () => {
  await withFake(async (fake, stripe) => {
    const control = new FakeStripeControl(fake.url);
    await control.put(sub("sub_remote", 1_800_000_000, "past_due"));
    assert.equal((await stripe.subscriptions.retrieve("sub_remote")).status, "past_due");
    assert.equal((await control.requests("/v1/subscriptions/sub_remote")).length, 1);
    await control.reset();
    assert.deepEqual(await control.requests(), []);
    await assert.rejects(
      stripe.subscriptions.retrieve("sub_remote"),
      Stripe.errors.StripeInvalidRequestError,
    );
  });
});
