import type Stripe from "stripe";
import type { Acting } from "../_tollgate/auth.ts";
import type { PortalRequest, PortalResponse } from "../_tollgate/contract.ts";
import { queryAs, type Sql } from "../_tollgate/db.ts";
import { fromStripeError } from "../_tollgate/stripe.ts";

/** The two calls of a portal session: the account's customer (SQL, which checks the caller may) and Stripe's. */
export interface PortalDeps {
  customer: (acting: Acting) => Promise<string>;
  createSession: (customer: string, returnUrl: string) => Promise<PortalResponse>;
}

/** Opens the Stripe customer portal for the account's customer (404 when it has none yet). */
export async function openPortal(
  deps: PortalDeps,
  acting: Acting,
  input: PortalRequest,
): Promise<PortalResponse> {
  return await deps.createSession(await deps.customer(acting), input.return_url);
}

/** tollgate.portal_customer as the service role for the verified user, then the SDK. */
export function portalDepsWith(sql: Sql, stripe: Stripe): PortalDeps {
  return {
    customer: async (acting) => {
      const [row] = await queryAs<{ customer: string }[]>(
        sql,
        { kind: "service" },
        (tx) =>
          tx`select tollgate.portal_customer(${acting.accountId ?? null}, ${
            acting.userId ?? null
          }) as customer`,
        acting.userId,
      );
      return row.customer;
    },
    createSession: async (customer, returnUrl) => {
      try {
        const session = await stripe.billingPortal.sessions.create({ customer, return_url: returnUrl });
        return { url: session.url };
      } catch (error) {
        throw fromStripeError(error, "open the billing portal");
      }
    },
  };
}
