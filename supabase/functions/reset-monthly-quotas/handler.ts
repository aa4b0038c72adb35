import type { Authenticator } from "../_tollgate/auth.ts";
import { parseBody, ResetRequest, type ResetResponse } from "../_tollgate/contract.ts";
import { HttpError } from "../_tollgate/errors.ts";
import { endpoint, json, readJson } from "../_tollgate/http.ts";

export interface ResetDeps {
  authenticate: Authenticator;
  /** The reset as the service role: tollgate.reset_monthly_quotas_batch, one transaction per batch. */
  reset: () => Promise<ResetResponse>;
}

/** reset-monthly-quotas: service credentials only; rolls every due account once and reports the totals. */
export function createHandler(deps: ResetDeps): (req: Request) => Promise<Response> {
  return endpoint(async (req) => {
    const caller = await deps.authenticate(req);
    if (caller.kind !== "service") {
      throw new HttpError(
        403,
        "forbidden",
        "Forbidden: reset-monthly-quotas needs the service role key; user tokens cannot run the reset",
      );
    }
    parseBody(ResetRequest, await readJson(req));
    return json(await deps.reset());
  });
}
