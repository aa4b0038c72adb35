import assert from "node:assert/strict";
import Stripe from "stripe";
import { jsonIssues } from "../_tollgate/contract.ts";
import { HttpError } from "../_tollgate/errors.ts";
import { type EventOutcome, storable, type StripeEvent } from "./event.ts";
import { createHandler } from "./handler.ts";
import { createSignatureVerifier, parseSecrets } from "./signature.ts";

const SECRET = "whsec_unit_current";
const OLD_SECRET = "whsec_unit_previous";
const crypto = Stripe.createSubtleCryptoProvider();

const EVENT = {
  id: "evt_1UnitTest000001",
  object: "event",
  api_version: "2026-10-28.endive",
  created: 1_800_000_000,
  type: "invoice.paid",
  livemode: false,
  data: { object: { id: "in_1Unit", object: "invoice", customer: "cus_Unit", amount_paid: 2000 } },
};

function fakeDeps(opts: { secrets?: string[]; fail?: unknown } = {}) {
  const events: StripeEvent[] = [];
  const handler = createHandler({
    verify: createSignatureVerifier(opts.secrets ?? [SECRET]),
    handleEvent: (event): Promise<EventOutcome> => {
      events.push(event);
      if (opts.fail) return Promise.reject(opts.fail);
      return Promise.resolve({ status: "processed", event_id: event.id });
    },
  });
  return { handler, events };
}

async function signed(payload: string, secret = SECRET, timestamp?: number): Promise<Request> {
  const header = await Stripe.webhooks.generateTestHeaderStringAsync({
    payload,
    secret,
    timestamp,
    cryptoProvider: crypto,
  });
  return new Request("http://x/stripe-webhook", {
    method: "POST",
    headers: { "Stripe-Signature": header, "Content-Type": "application/json" },
    body: payload,
  });
}

async function errorCode(res: Response): Promise<string> {
  return (await res.json()).error.code;
}

Deno.test("stripe-webhook answers received and hands the whole verified event to the database once", async () => {
  const { handler, events } = fakeDeps();
  const res = await handler(await signed(JSON.stringify(EVENT)));
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { received: true });
  assert.deepEqual(events, [EVENT]);
});

const badSignatures: [string, () => Promise<Request>][] = [
  [
    "no Stripe-Signature header",
    () => Promise.resolve(new Request("http://x", { method: "POST", body: JSON.stringify(EVENT) })),
  ],
  ["a header that is not a Stripe signature", () =>
    Promise.resolve(
      new Request("http://x", {
        method: "POST",
        headers: { "Stripe-Signature": "nonsense" },
        body: JSON.stringify(EVENT),
      }),
    )],
  ["a signature by another secret", () => signed(JSON.stringify(EVENT), "whsec_attacker")],
  [
    "a signature older than five minutes",
    () => signed(JSON.stringify(EVENT), SECRET, Math.floor(Date.now() / 1000) - 600),
  ],
  ["a body changed after signing", async () => {
    const req = await signed(JSON.stringify(EVENT));
    const tampered = JSON.stringify({ ...EVENT, data: { object: { ...EVENT.data.object, amount_paid: 1 } } });
    return new Request("http://x", { method: "POST", headers: req.headers, body: tampered });
  }],
];
for (const [name, request] of badSignatures) {
  Deno.test(`stripe-webhook answers 400 invalid_signature to ${name}, storing nothing`, async () => {
    const { handler, events } = fakeDeps();
    const res = await handler(await request());
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), "invalid_signature");
    assert.equal(events.length, 0);
  });
}

Deno.test("stripe-webhook accepts either secret while STRIPE_WEBHOOK_SECRET lists two", async () => {
  const { handler, events } = fakeDeps({ secrets: parseSecrets(`${OLD_SECRET}, ${SECRET}`) });
  assert.equal((await handler(await signed(JSON.stringify(EVENT), OLD_SECRET))).status, 200);
  assert.equal((await handler(await signed(JSON.stringify(EVENT), SECRET))).status, 200);
  assert.equal((await handler(await signed(JSON.stringify(EVENT), "whsec_third"))).status, 400);
  assert.equal(events.length, 2);
});

Deno.test("parseSecrets trims the list and refuses an empty one", () => {
  assert.deepEqual(parseSecrets(" whsec_a ,whsec_b,, "), ["whsec_a", "whsec_b"]);
  assert.throws(() => parseSecrets(" , "), /no signing secret/);
});

Deno.test("stripe-webhook answers 413 to a body over 1 MiB without verifying it", async () => {
  const { handler, events } = fakeDeps();
  const res = await handler(
    new Request("http://x", {
      method: "POST",
      headers: { "Stripe-Signature": "t=1,v1=x" },
      body: "x".repeat(1024 * 1024 + 1),
    }),
  );
  assert.equal(res.status, 413);
  assert.equal(await errorCode(res), "payload_too_large");
  assert.equal(events.length, 0);
});

Deno.test("stripe-webhook accepts a signed event of almost 1 MiB", async () => {
  const { handler, events } = fakeDeps();
  const big = { ...EVENT, data: { object: { ...EVENT.data.object, description: "x".repeat(1000 * 1000) } } };
  const res = await handler(await signed(JSON.stringify(big)));
  assert.equal(res.status, 200);
  assert.equal(events.length, 1);
});

Deno.test("stripe-webhook answers 400 invalid_request to a signed body that is not a Stripe event", async () => {
  for (const body of ["not json", JSON.stringify({ id: "evt_1", type: "x" })]) {
    const { handler, events } = fakeDeps();
    const res = await handler(await signed(body));
    assert.equal(res.status, 400, body);
    assert.equal(await errorCode(res), "invalid_request");
    assert.equal(events.length, 0);
  }
});

Deno.test("stripe-webhook answers 500, not 503, when the database is unreachable, so Stripe retries", async () => {
  const unavailable = new HttpError(503, "unavailable", "Database is unavailable: retry shortly", {
    headers: { "Retry-After": "1" },
  });
  const { handler } = fakeDeps({ fail: unavailable });
  const original = console.error;
  console.error = () => {};
  try {
    const res = await handler(await signed(JSON.stringify(EVENT)));
    assert.equal(res.status, 500);
    assert.equal(await errorCode(res), "internal");
  } finally {
    console.error = original;
  }
});

Deno.test("stripe-webhook maps an unexpected failure to a generic 500 that leaks nothing", async () => {
  const { handler } = fakeDeps({ fail: new Error("password=hunter2 in the connection string") });
  const original = console.error;
  console.error = () => {};
  try {
    const res = await handler(await signed(JSON.stringify(EVENT)));
    assert.equal(res.status, 500);
    assert.doesNotMatch(await res.text(), /hunter2/);
  } finally {
    console.error = original;
  }
});

Deno.test("stripe-webhook answers 405 to GET and 204 to a preflight", async () => {
  const { handler, events } = fakeDeps();
  assert.equal((await handler(new Request("http://x", { method: "GET" }))).status, 405);
  assert.equal((await handler(new Request("http://x", { method: "OPTIONS" }))).status, 204);
  assert.equal(events.length, 0);
});

Deno.test("stripe-webhook escapes U+0000 and lone surrogates a customer typed, so the event can be stored", async () => {
  const { handler, events } = fakeDeps();
  const event = {
    ...EVENT,
    data: {
      object: { ...EVENT.data.object, customer_name: "Ann\u0000e", metadata: { "note\u0000": "x\ud800y" } },
    },
  };
  const res = await handler(await signed(JSON.stringify(event)));
  assert.equal(res.status, 200);
  const stored = events[0].data.object as Record<string, unknown>;
  assert.equal(stored.customer_name, "Ann\\u0000e");
  assert.deepEqual(stored.metadata, { "note\\u0000": "x\\ud800y" });
  assert.equal(stored.amount_paid, 2000, "everything else is kept as Stripe sent it");
  assert.deepEqual(jsonIssues(events[0]), [], "nothing PostgreSQL refuses is left");
});

Deno.test("stripe-webhook answers 400 to a signed event nested 20,000 deep, without overflowing", async () => {
  const { handler, events } = fakeDeps();
  const body = JSON.stringify({ ...EVENT, data: { object: { deep: 0 } } })
    .replace('"deep":0', `"deep":${"[".repeat(20_000)}${"]".repeat(20_000)}`);
  const res = await handler(await signed(body));
  assert.equal(res.status, 400);
  assert.equal(await errorCode(res), "invalid_request");
  assert.equal(events.length, 0);
});

Deno.test("storable writes what JSON.stringify would: an object's toJSON, then its escaped strings", () => {
  const sdkObject = { id: "sub_1", amount: { toJSON: () => 2000 }, note: { toJSON: () => "a\u0000" } };
  assert.deepEqual(storable(sdkObject), { id: "sub_1", amount: 2000, note: "a\\u0000" });
});
