import { createAuthenticator } from "../_tollgate/auth.ts";
import { createPool } from "../_tollgate/db.ts";
import { loadPlatformConfig, requireEnv } from "../_tollgate/env.ts";
import { createStripeClient, parseAllowedRedirects } from "../_tollgate/stripe.ts";
import { checkoutDepsWith, startCheckout } from "./checkout.ts";
import { createHandler } from "./handler.ts";

const config = loadPlatformConfig();
const sql = createPool(config.dbUrl, { prepare: config.dbPrepare });
const stripe = createStripeClient({
  secretKey: requireEnv("STRIPE_SECRET_KEY"),
  apiBase: Deno.env.get("STRIPE_API_BASE") || undefined,
});
const deps = checkoutDepsWith(sql, stripe);

Deno.serve(createHandler({
  authenticate: createAuthenticator(config.auth),
  allowedRedirects: parseAllowedRedirects(requireEnv("TOLLGATE_ALLOWED_REDIRECTS")),
  checkout: (acting, input) => startCheckout(deps, acting, input),
}));
