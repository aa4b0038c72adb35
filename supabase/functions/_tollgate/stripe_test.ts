import assert from "node:assert/strict";
import type { HttpError } from "./errors.ts";
import {
  checkRedirects,
  createStripeClient,
  fromStripeError,
  isLiveKey,
  parseAllowedRedirects,
} from "./stripe.ts";

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

Deno.test("TOLLGATE_ALLOWED_REDIRECTS is a list of origins; anything else fails at cold start", () => {
  assert.deepEqual(
    [...parseAllowedRedirects(" https://app.example.com, http://localhost:3000/ ")],
    ["https://app.example.com", "http://localhost:3000"],
  );
  for (const bad of ["app.example.com", "https://app.example.com/billing", "ftp://x.example.com", " , "]) {
    assert.throws(() => parseAllowedRedirects(bad), /TOLLGATE_ALLOWED_REDIRECTS/, bad);
  }
});

Deno.test("checkRedirects refuses, by field, every URL whose origin is not listed", () => {
  const allowed = parseAllowedRedirects("https://app.example.com");
  checkRedirects({ success_url: "https://app.example.com/ok?session_id={CHECKOUT_SESSION_ID}" }, allowed);
  for (
    const url of [
      "https://app.example.com.evil.example/",
      "http://app.example.com/",
      "https://app.example.com:444/",
    ]
  ) {
    assert.throws(
      () => checkRedirects({ success_url: "https://app.example.com/", cancel_url: url }, allowed),
      (e: HttpError) =>
        e.status === 400 && JSON.stringify(e.details) === JSON.stringify({
            issues: [{
              path: ["cancel_url"],
              message: `origin ${new URL(url).origin} is not in TOLLGATE_ALLOWED_REDIRECTS`,
            }],
          }),
      url,
    );
  }
});

Deno.test("fromStripeError: unreachable or failing Stripe is 503, a reused key 409, a refusal 400, the rest 500", () => {
  const cases: [Record<string, unknown>, number, string][] = [
    [{ type: "StripeConnectionError" }, 503, "unavailable"],
    [{ type: "StripeRateLimitError", statusCode: 429 }, 503, "unavailable"],
    [{ type: "StripeAPIError", statusCode: 502 }, 503, "unavailable"],
    [{ type: "StripeIdempotencyError", statusCode: 400 }, 409, "idempotency_conflict"],
    [
      {
        type: "StripeInvalidRequestError",
        statusCode: 400,
        message: "No such price",
        param: "line_items[0][price]",
      },
      400,
      "invalid_request",
    ],
    [
      { type: "StripeAuthenticationError", statusCode: 401, message: "Invalid API Key sk_test_secret" },
      500,
      "internal",
    ],
  ];
  for (const [error, status, code] of cases) {
    const e = fromStripeError(error, "start a checkout");
    assert.deepEqual([e.status, e.code], [status, code], String(error.type));
    assert.ok(!e.message.includes("sk_test_secret"), "a key in Stripe's message never reaches the caller");
  }
  assert.equal(fromStripeError({ type: "StripeConnectionError" }, "x").headers?.["Retry-After"], "1");
});
