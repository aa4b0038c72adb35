import type { Authenticator } from "../_tollgate/auth.ts";
import { DeliverRequest, type DeliverResponse, parseBody } from "../_tollgate/contract.ts";
import { HttpError } from "../_tollgate/errors.ts";
import { endpoint, json, readJson } from "../_tollgate/http.ts";

export interface DeliverDeps {
  authenticate: Authenticator;
  /** Claims the due billing events, posts each signed, records the outcomes. */
  deliver: () => Promise<DeliverResponse>;
}

/** deliver-billing-events: service credentials only (pg_cron through pg_net, or the local timer). */
export function createHandler(deps: DeliverDeps): (req: Request) => Promise<Response> {
  return endpoint(async (req) => {
    const caller = await deps.authenticate(req);
    if (caller.kind !== "service") {
      throw new HttpError(403, "forbidden", "Forbidden: deliver-billing-events needs the service role key");
    }
    parseBody(DeliverRequest, await readJson(req));
    return json(await deps.deliver());
  });
}
