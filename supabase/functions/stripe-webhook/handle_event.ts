import type postgres from "postgres";
import type Stripe from "stripe";
import { queryAs, type Sql } from "../_tollgate/db.ts";
import { HttpError } from "../_tollgate/errors.ts";
import { type EventOutcome, storable, type StripeEvent } from "./event.ts";

/** One call of tollgate.handle_stripe_event, with the subscription states retrieved so far. */
export type ApplyEvent = (event: StripeEvent, subscriptions: unknown[]) => Promise<EventOutcome>;

/** The current state of a subscription from the Stripe API. */
export type RetrieveSubscription = (id: string) => Promise<unknown>;

/** How many subscriptions one call may need retrieved (a link that applies several waiting events). */
const MAX_RETRIEVALS = 5;

/**
 * Calls the database until it stops answering `retrieve` (two subscription states it cannot order): each time
 * retrieves that subscription's current state and calls again with every state retrieved so far, so the call and
 * its effects still commit in one transaction. The webhook and stripe-import both settle ties this way; more than
 * `maxRetrievals` is an error, not a loop.
 */
export async function withCurrentSubscriptions<T extends { status: string; subscription_id?: string }>(
  apply: (subscriptions: unknown[]) => Promise<T>,
  retrieveSubscription: RetrieveSubscription,
  maxRetrievals = MAX_RETRIEVALS,
): Promise<T> {
  const subscriptions: unknown[] = [];
  for (let round = 0;; round++) {
    const outcome = await apply(subscriptions);
    if (outcome.status !== "retrieve") return outcome;
    if (!outcome.subscription_id || round >= maxRetrievals) {
      throw new Error(`The database keeps asking for subscriptions: ${JSON.stringify(outcome)}`);
    }
    subscriptions.push(await retrieveSubscription(outcome.subscription_id));
  }
}

/**
 * Handles an event, settling ties with the subscriptions' current states (withCurrentSubscriptions). A Stripe API
 * failure is a 500 (nothing was kept), and Stripe's retry completes the event.
 */
export function createEventHandler(deps: { apply: ApplyEvent; retrieveSubscription: RetrieveSubscription }) {
  return (event: StripeEvent): Promise<EventOutcome> =>
    withCurrentSubscriptions((subscriptions) => deps.apply(event, subscriptions), deps.retrieveSubscription);
}

/** Calls tollgate.handle_stripe_event as the service role in one transaction: stored and applied, or nothing. */
export function applyEventWith(sql: Sql, livemode: boolean): ApplyEvent {
  return async (event, subscriptions) => {
    const [row] = await queryAs<{ result: EventOutcome }[]>(
      sql,
      { kind: "service" },
      (tx) =>
        tx`select tollgate.handle_stripe_event(${
          tx.json(event as unknown as postgres.JSONValue)
        }, ${livemode}, ${tx.json(subscriptions as postgres.JSONValue)}) as result`,
    );
    return row.result;
  };
}

/**
 * Retrieves subscriptions with the SDK, as PostgreSQL can store them (storable, like the event); any failure
 * answers 500, so Stripe redelivers the event later.
 */
export function retrieveSubscriptionWith(stripe: Stripe): RetrieveSubscription {
  return async (id) => {
    try {
      return storable(await stripe.subscriptions.retrieve(id));
    } catch (error) {
      throw new HttpError(
        500,
        "internal",
        "Internal error: the Stripe API could not be reached, retry the event",
        {
          cause: error,
        },
      );
    }
  };
}
