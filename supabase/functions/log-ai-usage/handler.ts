import { type Acting, actingFor, type Authenticator, type Caller } from "../_tollgate/auth.ts";
import {
  LogUsageBatchRequest,
  type LogUsageBatchResponse,
  LogUsageRequest,
  type LogUsageResponse,
  MAX_JSON_DEPTH,
  parseBody,
} from "../_tollgate/contract.ts";
import {
  endpoint,
  json,
  MAX_JSON_BODY,
  MAX_USAGE_BATCH_BODY,
  parseJson,
  payloadTooLarge,
  readBody,
} from "../_tollgate/http.ts";

export interface LogUsageDeps {
  authenticate: Authenticator;
  /** The one SQL call: tollgate.log_ai_usage, as the caller. */
  logUsage: (caller: Caller, acting: Acting, input: LogUsageRequest) => Promise<LogUsageResponse>;
  /** The one SQL call of a batch: tollgate.log_ai_usage_batch, as the caller; each event acts for itself. */
  logUsageBatch: (caller: Caller, input: LogUsageBatchRequest) => Promise<LogUsageBatchResponse>;
}

/**
 * log-ai-usage: parse, authenticate, record once, answer 201 (200 when replayed); a body with `events` (up to
 * 1 MiB) is a batch, answered 200 with each event's answer in order.
 */
export function createHandler(deps: LogUsageDeps): (req: Request) => Promise<Response> {
  return endpoint(async (req) => {
    const caller = await deps.authenticate(req);
    const bytes = await readBody(req, MAX_USAGE_BATCH_BODY);
    // A batch event sits two levels deeper than a body (events, then the event); its fields keep their limits.
    const body = parseJson(bytes, MAX_JSON_DEPTH + 2);
    if (typeof body === "object" && body !== null && "events" in body) {
      return json(await deps.logUsageBatch(caller, parseBody(LogUsageBatchRequest, body)));
    }
    if (bytes.byteLength > MAX_JSON_BODY) throw payloadTooLarge(MAX_JSON_BODY);
    const input = parseBody(LogUsageRequest, body);
    const result = await deps.logUsage(caller, actingFor(caller, input), input);
    return json(result, result.replayed ? 200 : 201);
  });
}
