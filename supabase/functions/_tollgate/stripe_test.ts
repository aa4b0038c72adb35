import assert from "node:assert/strict";
import { createStripeClient, isLiveKey } from "./stripe.ts";

Deno.test("isLiveKey tells the deployment's mode from its Stripe key", () => {
  assert.equal(isLiveKey("sk_live_abc"), true);
  assert.equal(isLiveKey("rk_live_abc"), true);
  assert.equal(isLiveKey("sk_test_abc"), false);
  assert.equal(isLiveKey("rk_test_abc"), false);
  assert.throws(() => isLiveKey("pk_live_abc"), /STRIPE_SECRET_KEY is not a Stripe secret key/);
  assert.throws(() => isLiveKey("whsec_abc"), /STRIPE_SECRET_KEY/);
});

Deno.test("createStripeClient talks to STRIPE_API_BASE when it is set, and to Stripe otherwise", async () => {
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    seen.push(`${req.method} ${new URL(req.url).pathname} ${req.headers.get("authorization")}`);
    return Response.json({ id: "sub_local", object: "subscription" });
  });
  try {
    const stripe = createStripeClient({
      secretKey: "sk_test_local",
      apiBase: `http://127.0.0.1:${server.addr.port}`,
    });
    assert.equal((await stripe.subscriptions.retrieve("sub_local")).id, "sub_local");
    assert.deepEqual(seen, ["GET /v1/subscriptions/sub_local Bearer sk_test_local"]);
    const hosted = createStripeClient({ secretKey: "sk_test_local" });
    assert.equal(hosted.getConstant("DEFAULT_HOST"), "api.stripe.com");
  } finally {
    await server.shutdown();
  }
});
