import { type Acting, actingFor, type Authenticator, type Caller } from "../_tollgate/auth.ts";
import { ConsumeRequest, type ConsumeResponse, parseBody } from "../_tollgate/contract.ts";
import { endpoint, json, readJson } from "../_tollgate/http.ts";

export interface ConsumeDeps {
  authenticate: Authenticator;
  /** The one SQL call: tollgate.consume_credits, as the caller. */
  consume: (caller: Caller, acting: Acting, input: ConsumeRequest) => Promise<ConsumeResponse>;
}

/** consume-credit: parse, authenticate, debit once, answer. */
export function createHandler(deps: ConsumeDeps): (req: Request) => Promise<Response> {
  return endpoint(async (req) => {
    const caller = await deps.authenticate(req);
    const input = parseBody(ConsumeRequest, await readJson(req));
    return json(await deps.consume(caller, actingFor(caller, input), input));
  });
}
