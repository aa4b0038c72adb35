import { type Acting, actingFor, type Authenticator } from "../_tollgate/auth.ts";
import { parseBody, PortalRequest, type PortalResponse } from "../_tollgate/contract.ts";
import { endpoint, json, readJson } from "../_tollgate/http.ts";
import { checkRedirects } from "../_tollgate/stripe.ts";

export interface PortalHandlerDeps {
  authenticate: Authenticator;
  /** TOLLGATE_ALLOWED_REDIRECTS: the origins return_url may name. */
  allowedRedirects: Set<string>;
  /** The portal session (portal.ts openPortal): SQL decides who may and which customer. */
  portal: (acting: Acting, input: PortalRequest) => Promise<PortalResponse>;
}

/** create-portal-session: authenticate, parse, check the redirect, open the portal, answer its URL. */
export function createHandler(deps: PortalHandlerDeps): (req: Request) => Promise<Response> {
  return endpoint(async (req) => {
    const caller = await deps.authenticate(req);
    const input = parseBody(PortalRequest, await readJson(req));
    const acting = actingFor(caller, input);
    checkRedirects({ return_url: input.return_url }, deps.allowedRedirects);
    return json(await deps.portal(acting, input));
  });
}
