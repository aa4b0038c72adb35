import assert from "node:assert/strict";
import type { Caller } from "../_tollgate/auth.ts";
import type { CheckoutRequest } from "../_tollgate/contract.ts";
import { type CheckoutDeps, type CheckoutTarget, sessionKey, startCheckout } from "./checkout.ts";
import { createHandler } from "./handler.ts";

const USER = "5b0c6e2a-1d3f-4c8b-9a7e-2f1d0c9b8a7e";
const ALLOWED = new Set(["https://app.example.com"]);
const BODY = {
  pack_id: "small",
  success_url: "https://app.example.com/ok?session_id={CHECKOUT_SESSION_ID}",
  cancel_url: "https://app.example.com/billing",
};
const post = (body: unknown) =>
  new Request("http://localhost/create-checkout-session", { method: "POST", body: JSON.stringify(body) });
const asUser = (): Promise<Caller> => Promise.resolve({ kind: "user", userId: USER, claims: {} });

Deno.test("create-checkout-session refuses a redirect outside TOLLGATE_ALLOWED_REDIRECTS before any call", async () => {
  let called = false;
  const handler = createHandler({
    authenticate: asUser,
    allowedRedirects: ALLOWED,
    checkout: () => {
      called = true;
      return Promise.resolve({ url: "x", session_id: "cs_x" });
    },
  });
  const res = await handler(post({ ...BODY, cancel_url: "https://app.example.com.evil.example/" }));
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.deepEqual(body.error.details.issues.map((i: { path: string[] }) => i.path), [["cancel_url"]]);
  assert.equal(called, false);
});

Deno.test("create-checkout-session answers the session for the caller's own account", async () => {
  const handler = createHandler({
    authenticate: asUser,
    allowedRedirects: ALLOWED,
    checkout: (acting, input) => {
      assert.deepEqual(acting, { userId: USER, accountId: undefined });
      assert.equal(input.pack_id, "small");
      return Promise.resolve({ url: "https://checkout.stripe.com/c/pay/cs_1", session_id: "cs_1" });
    },
  });
  const res = await handler(post(BODY));
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { url: "https://checkout.stripe.com/c/pay/cs_1", session_id: "cs_1" });
});

Deno.test("create-checkout-session refuses a body naming both or neither of plan_id and pack_id", async () => {
  const handler = createHandler({
    authenticate: asUser,
    allowedRedirects: ALLOWED,
    checkout: () => Promise.reject(new Error("not called")),
  });
  for (const body of [{ ...BODY, plan_id: "pro" }, { ...BODY, pack_id: undefined }]) {
    assert.equal((await handler(post(body))).status, 400);
  }
});

function fakes(target: Partial<CheckoutTarget>) {
  const calls: string[] = [];
  const base: CheckoutTarget = {
    account_id: USER,
    customer_id: null,
    email: "a@example.com",
    name: null,
    mode: "payment",
    plan_id: null,
    pack_id: "small",
    price_id: "price_small",
    price_known: true,
    trial_days: null,
    ...target,
  };
  let targets = 0;
  const deps: CheckoutDeps = {
    target: () => {
      calls.push("target");
      // The second answer is after the price was recorded.
      return Promise.resolve({ ...base, price_known: base.price_known || targets++ > 0 });
    },
    refreshPrice: (id) => {
      calls.push(`refresh ${id}`);
      return Promise.resolve();
    },
    createCustomer: () => {
      calls.push("create customer");
      return Promise.resolve("cus_new");
    },
    linkCustomer: (account, customer) => {
      calls.push(`link ${customer} to ${account}`);
      return Promise.resolve();
    },
    createSession: (params, key) => {
      calls.push(`session ${params.customer} ${key.slice(0, 17)}`);
      assert.equal(params.client_reference_id, USER);
      return Promise.resolve({ url: "u", session_id: "cs_1" });
    },
  };
  return { deps, calls };
}

const input = BODY as CheckoutRequest;

Deno.test("a first checkout creates and links the customer before the session", async () => {
  const { deps, calls } = fakes({});
  await startCheckout(deps, { userId: USER }, input);
  assert.deepEqual(calls, [
    "target",
    "create customer",
    `link cus_new to ${USER}`,
    "session cus_new tollgate-checkout",
  ]);
});

Deno.test("a later checkout reuses the account's customer", async () => {
  const { deps, calls } = fakes({ customer_id: "cus_old" });
  await startCheckout(deps, { userId: USER }, input);
  assert.deepEqual(calls, ["target", "session cus_old tollgate-checkout"]);
});

Deno.test("a price the mirror has not seen is retrieved, then the SQL is asked again (it refuses inactive ones)", async () => {
  const { deps, calls } = fakes({ customer_id: "cus_old", price_known: false });
  await startCheckout(deps, { userId: USER }, input);
  assert.deepEqual(calls, ["target", "refresh price_small", "target", "session cus_old tollgate-checkout"]);
});

Deno.test("the session's idempotency key follows the account and the request", async () => {
  const a = await sessionKey(USER, input);
  assert.equal(await sessionKey(USER, { ...input }), a, "the same request, the same key");
  assert.notEqual(await sessionKey(USER, { ...input, cancel_url: "https://app.example.com/x" }), a);
  assert.notEqual(await sessionKey(USER, { ...input, idempotency_key: "attempt-2" }), a);
  assert.notEqual(await sessionKey("6b0c6e2a-1d3f-4c8b-9a7e-2f1d0c9b8a7e", input), a, "another account");
  assert.ok(a.length <= 255, "Stripe takes keys of at most 255 characters");
});
