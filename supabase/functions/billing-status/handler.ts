import { type Acting, actingFor, type Authenticator, type Caller } from "../_tollgate/auth.ts";
import { BillingStatusRequest, type BillingStatusResponse, parseBody } from "../_tollgate/contract.ts";
import { endpoint, json, readJson } from "../_tollgate/http.ts";

export interface StatusDeps {
  authenticate: Authenticator;
  /** The one SQL call: tollgate.billing_status, as the caller. */
  status: (caller: Caller, acting: Acting) => Promise<BillingStatusResponse>;
}

/** billing-status: parse, authenticate, read once, answer; nothing is counted or written. */
export function createHandler(deps: StatusDeps): (req: Request) => Promise<Response> {
  return endpoint(async (req) => {
    const caller = await deps.authenticate(req);
    const input = parseBody(BillingStatusRequest, await readJson(req));
    return json(await deps.status(caller, actingFor(caller, input)));
  });
}
