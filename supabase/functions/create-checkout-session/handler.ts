import { type Acting, actingFor, type Authenticator } from "../_tollgate/auth.ts";
import { CheckoutRequest, type CheckoutResponse, parseBody } from "../_tollgate/contract.ts";
import { endpoint, json, readJson } from "../_tollgate/http.ts";
import { checkRedirects } from "../_tollgate/stripe.ts";

export interface CheckoutHandlerDeps {
  authenticate: Authenticator;
  /** TOLLGATE_ALLOWED_REDIRECTS: the origins success_url and cancel_url may name. */
  allowedRedirects: Set<string>;
  /** The checkout itself (checkout.ts startCheckout): SQL decides who may and what is bought. */
  checkout: (acting: Acting, input: CheckoutRequest) => Promise<CheckoutResponse>;
}

/** create-checkout-session: authenticate, parse, check the redirects, start the session, answer its URL. */
export function createHandler(deps: CheckoutHandlerDeps): (req: Request) => Promise<Response> {
  return endpoint(async (req) => {
    const caller = await deps.authenticate(req);
    const input = parseBody(CheckoutRequest, await readJson(req));
    const acting = actingFor(caller, input);
    checkRedirects({ success_url: input.success_url, cancel_url: input.cancel_url }, deps.allowedRedirects);
    return json(await deps.checkout(acting, input));
  });
}
