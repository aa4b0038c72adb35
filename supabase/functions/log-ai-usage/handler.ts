import { type Acting, actingFor, type Authenticator, type Caller } from "../_tollgate/auth.ts";
import { LogUsageRequest, type LogUsageResponse, parseBody } from "../_tollgate/contract.ts";
import { endpoint, json, readJson } from "../_tollgate/http.ts";

export interface LogUsageDeps {
  authenticate: Authenticator;
  /** The one SQL call: tollgate.log_ai_usage, as the caller. */
  logUsage: (caller: Caller, acting: Acting, input: LogUsageRequest) => Promise<LogUsageResponse>;
}

/** log-ai-usage: parse, authenticate, record once, answer 201 (200 when replayed). */
export function createHandler(deps: LogUsageDeps): (req: Request) => Promise<Response> {
  return endpoint(async (req) => {
    const caller = await deps.authenticate(req);
    const input = parseBody(LogUsageRequest, await readJson(req));
    const result = await deps.logUsage(caller, actingFor(caller, input), input);
    return json(result, result.replayed ? 200 : 201);
  });
}
