import Stripe from "stripe";
import { HttpError } from "../_tollgate/errors.ts";

/** Verifies a raw body against `Stripe-Signature` and returns the parsed event. */
export type SignatureVerifier = (payload: Uint8Array, header: string | null) => Promise<unknown>;

/** The signing secrets in `STRIPE_WEBHOOK_SECRET`: one, or a comma-separated list while rotating. */
export function parseSecrets(value: string): string[] {
  const secrets = value.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (secrets.length === 0) throw new Error("STRIPE_WEBHOOK_SECRET holds no signing secret");
  return secrets;
}

/**
 * Verifies with the Stripe SDK (Web Crypto, no request leaves the machine), accepting a signature by any of the
 * secrets. Every failure is 400 invalid_signature; a validly signed body that is not JSON is 400 invalid_request.
 */
export function createSignatureVerifier(
  secrets: string[],
  opts: { toleranceSeconds?: number } = {},
): SignatureVerifier {
  const crypto = Stripe.createSubtleCryptoProvider();
  return async (payload, header) => {
    if (!header) throw invalidSignature("the Stripe-Signature header is missing");
    for (const secret of secrets) {
      try {
        return await Stripe.webhooks.constructEventAsync(
          payload,
          header,
          secret,
          opts.toleranceSeconds,
          crypto,
        );
      } catch (error) {
        if (error instanceof Stripe.errors.StripeSignatureVerificationError) continue;
        if (error instanceof SyntaxError) {
          throw new HttpError(400, "invalid_request", "Stripe event body is not valid JSON", {
            cause: error,
          });
        }
        throw error;
      }
    }
    throw invalidSignature("it matches none of the signing secrets, or is too old");
  };
}

function invalidSignature(why: string): HttpError {
  return new HttpError(400, "invalid_signature", `Invalid Stripe signature: ${why}`);
}
