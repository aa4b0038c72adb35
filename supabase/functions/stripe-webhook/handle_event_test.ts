import assert from "node:assert/strict";
import { HttpError } from "../_tollgate/errors.ts";
import type { EventOutcome, StripeEvent } from "./event.ts";
import { createEventHandler, retrieveSubscriptionWith } from "./handle_event.ts";
import type Stripe from "stripe";

const EVENT = {
  id: "evt_1UnitTie",
  type: "customer.subscription.updated",
  created: 1_800_000_000,
  livemode: false,
  data: { object: { id: "sub_1UnitTie", object: "subscription" } },
} as StripeEvent;

/** A database that answers the given outcomes in turn and records the subscriptions it was given. */
function fakeDatabase(outcomes: Partial<EventOutcome>[]) {
  const calls: unknown[][] = [];
  return {
    calls,
    apply: (_event: StripeEvent, subscriptions: unknown[]) => {
      calls.push([...subscriptions]);
      return Promise.resolve({ event_id: EVENT.id, ...outcomes[calls.length - 1] } as EventOutcome);
    },
  };
}

Deno.test("an event the database applies at once needs no Stripe API call", async () => {
  const db = fakeDatabase([{ status: "processed" }]);
  const handle = createEventHandler({
    apply: db.apply,
    retrieveSubscription: () => Promise.reject(new Error("must not be called")),
  });
  assert.equal((await handle(EVENT)).status, "processed");
  assert.deepEqual(db.calls, [[]]);
});

Deno.test("a tie is settled by retrieving the subscription and applying the event again with its state", async () => {
  const db = fakeDatabase([{ status: "retrieve", subscription_id: "sub_1UnitTie" }, { status: "processed" }]);
  const retrieved: string[] = [];
  const handle = createEventHandler({
    apply: db.apply,
    retrieveSubscription: (id) => {
      retrieved.push(id);
      return Promise.resolve({ id, object: "subscription", status: "active" });
    },
  });
  assert.equal((await handle(EVENT)).status, "processed");
  assert.deepEqual(retrieved, ["sub_1UnitTie"]);
  assert.deepEqual(db.calls, [[], [{ id: "sub_1UnitTie", object: "subscription", status: "active" }]]);
});

Deno.test("a database that keeps asking for subscriptions is an error, not a loop", async () => {
  const db = fakeDatabase(Array(10).fill({ status: "retrieve", subscription_id: "sub_1UnitTie" }));
  const handle = createEventHandler({
    apply: db.apply,
    retrieveSubscription: (id) => Promise.resolve({ id }),
  });
  await assert.rejects(handle(EVENT), /keeps asking/);
  assert.equal(db.calls.length, 6);
});

Deno.test("a Stripe API failure while retrieving answers 500 so that Stripe redelivers the event", async () => {
  const failing = {
    subscriptions: { retrieve: () => Promise.reject(new Error("ECONNRESET api.stripe.com")) },
  } as unknown as Stripe;
  const error = await retrieveSubscriptionWith(failing)("sub_1").catch((e) => e);
  assert.ok(error instanceof HttpError);
  assert.equal(error.status, 500);
  assert.doesNotMatch(error.message, /ECONNRESET/);
});
