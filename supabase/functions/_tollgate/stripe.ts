import Stripe from "stripe";

/** What a function needs to call the Stripe API: the secret key, and the API's address when it is not Stripe's. */
export interface StripeConfig {
  secretKey: string;
  /** `STRIPE_API_BASE`, e.g. `http://127.0.0.1:43210` for the tests' local fake; unset on hosted projects. */
  apiBase?: string;
  /** Retries of a failed request (connection errors, 409 and 5xx answers): 1 unless given. */
  maxNetworkRetries?: number;
}

/**
 * Whether a key is a live-mode key (`sk_live_`, `rk_live_`) or a test-mode one (`sk_test_`, `rk_test_`): the mode
 * the deployment runs in. Anything else fails at cold start, naming the variable.
 */
export function isLiveKey(secretKey: string): boolean {
  const mode = secretKey.match(/^[sr]k_(live|test)_/)?.[1];
  if (!mode) {
    throw new Error("STRIPE_SECRET_KEY is not a Stripe secret key (sk_live_..., sk_test_... or rk_...)");
  }
  return mode === "live";
}

/** The official SDK, pointed at `apiBase` when given (host, port and protocol taken from it). */
export function createStripeClient(config: StripeConfig): Stripe {
  const base = config.apiBase ? new URL(config.apiBase) : null;
  return new Stripe(config.secretKey, {
    maxNetworkRetries: config.maxNetworkRetries ?? 1,
    timeout: 8000,
    ...(base && {
      host: base.hostname,
      port: base.port || (base.protocol === "http:" ? 80 : 443),
      protocol: base.protocol === "http:" ? "http" : "https",
    }),
  });
}
