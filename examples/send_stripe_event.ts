/**
 * Signs a Stripe event the way Stripe signs a delivery and posts it to the local stripe-webhook. With `npm start`
 * running in another terminal:
 *
 *   npm run -s stripe:send -- tests/fixtures/stripe/invoice.paid.json
 *
 * The secret is STRIPE_WEBHOOK_SECRET (default: supabase/functions/.env's, what `npm start` gives the function);
 * TOLLGATE_URL overrides http://127.0.0.1:54321. Prints the HTTP status and the answer.
 */
import Stripe from "stripe";
import { loadFunctionsEnv } from "../scripts/lib/stack.ts";

const [file] = Deno.args;
if (!file) {
  console.error("Usage: npm run -s stripe:send -- <event.json>");
  Deno.exit(2);
}
const body = Deno.readTextFileSync(file);
const header = await Stripe.webhooks.generateTestHeaderStringAsync({
  payload: body,
  secret: Deno.env.get("STRIPE_WEBHOOK_SECRET") ?? loadFunctionsEnv().STRIPE_WEBHOOK_SECRET,
  cryptoProvider: Stripe.createSubtleCryptoProvider(),
});
const url = Deno.env.get("TOLLGATE_URL") ?? "http://127.0.0.1:54321";
try {
  const res = await fetch(`${url}/functions/v1/stripe-webhook`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Stripe-Signature": header },
    body,
  });
  console.log(`${res.status} ${await res.text()}`);
  if (!res.ok) Deno.exit(1);
} catch (error) {
  console.error(
    `Cannot reach ${url}: is \`npm start\` running?\n${error instanceof Error ? error.message : error}`,
  );
  Deno.exit(1);
}
