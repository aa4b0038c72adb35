import { createPool } from "../_tollgate/db.ts";
import { loadPlatformConfig, requireEnv } from "../_tollgate/env.ts";
import { createStripeClient, isLiveKey } from "../_tollgate/stripe.ts";
import { applyEventWith, createEventHandler, retrieveSubscriptionWith } from "./handle_event.ts";
import { createHandler } from "./handler.ts";
import { createSignatureVerifier, parseSecrets } from "./signature.ts";

const config = loadPlatformConfig();
const sql = createPool(config.dbUrl, { prepare: config.dbPrepare });
const secrets = parseSecrets(requireEnv("STRIPE_WEBHOOK_SECRET"));
const secretKey = requireEnv("STRIPE_SECRET_KEY");
const stripe = createStripeClient({ secretKey, apiBase: Deno.env.get("STRIPE_API_BASE") || undefined });

Deno.serve(createHandler({
  verify: createSignatureVerifier(secrets),
  handleEvent: createEventHandler({
    apply: applyEventWith(sql, isLiveKey(secretKey)),
    retrieveSubscription: retrieveSubscriptionWith(stripe),
  }),
  log: (line) => console.log(line),
}));
