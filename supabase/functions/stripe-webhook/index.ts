import { createPool } from "../_tollgate/db.ts";
import { loadPlatformConfig, requireEnv } from "../_tollgate/env.ts";
import { handleEventWith } from "./handle_event.ts";
import { createHandler } from "./handler.ts";
import { createSignatureVerifier, parseSecrets } from "./signature.ts";

const config = loadPlatformConfig();
const sql = createPool(config.dbUrl);
const secrets = parseSecrets(requireEnv("STRIPE_WEBHOOK_SECRET"));

Deno.serve(createHandler({
  verify: createSignatureVerifier(secrets),
  handleEvent: handleEventWith(sql),
  log: (line) => console.log(line),
}));
