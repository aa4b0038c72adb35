import Stripe from "stripe";
import { HttpError } from "./errors.ts";

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

/**
 * TOLLGATE_ALLOWED_REDIRECTS: the comma-separated origins (`https://app.example.com,http://localhost:3000`)
 * Checkout and the portal may send customers back to. Anything that is not an http(s) origin fails at cold start.
 */
export function parseAllowedRedirects(raw: string): Set<string> {
  const origins = new Set<string>();
  for (const entry of raw.split(",").map((s) => s.trim()).filter(Boolean)) {
    let url: URL | null = null;
    try {
      url = new URL(entry);
    } catch { /* reported below */ }
    if (!url || !["http:", "https:"].includes(url.protocol) || url.origin !== entry.replace(/\/$/, "")) {
      throw new Error(
        `TOLLGATE_ALLOWED_REDIRECTS: ${JSON.stringify(entry)} is not an origin (https://host[:port])`,
      );
    }
    origins.add(url.origin);
  }
  if (origins.size === 0) throw new Error("TOLLGATE_ALLOWED_REDIRECTS lists no origin");
  return origins;
}

/** 400 naming each redirect URL whose origin is not allowed, so nobody sends a customer to another site. */
export function checkRedirects(urls: Record<string, string>, allowed: Set<string>): void {
  const issues = Object.entries(urls)
    .filter(([, url]) => !allowed.has(new URL(url).origin))
    .map(([field, url]) => ({
      path: [field],
      message: `origin ${new URL(url).origin} is not in TOLLGATE_ALLOWED_REDIRECTS`,
    }));
  if (issues.length === 0) return;
  throw new HttpError(
    400,
    "invalid_request",
    `Redirect not allowed: ${issues.map((i) => `${i.path[0]}: ${i.message}`).join("; ")}`,
    { details: { issues } },
  );
}

/**
 * A failed Stripe API call as the contract's error: Stripe unreachable, overloaded or failing is 503 (retry); a
 * reused idempotency key with other parameters 409; a request Stripe refuses 400 with its message and parameter;
 * anything else (a wrong or restricted key) a 500 that hides it.
 */
export function fromStripeError(error: unknown, action: string): HttpError {
  const e = error as { type?: string; statusCode?: number; message?: string; param?: string };
  if (
    e?.type === "StripeConnectionError" || e?.type === "StripeRateLimitError" ||
    (e?.type === "StripeAPIError" && (e.statusCode ?? 500) >= 500)
  ) {
    return new HttpError(503, "unavailable", `Cannot ${action}: Stripe cannot be reached, retry shortly`, {
      cause: error,
      headers: { "Retry-After": "1" },
    });
  }
  if (e?.type === "StripeIdempotencyError") {
    return new HttpError(
      409,
      "idempotency_conflict",
      `Cannot ${action}: the idempotency key was used with another request`,
      { cause: error },
    );
  }
  if (e?.type === "StripeInvalidRequestError") {
    return new HttpError(400, "invalid_request", `Cannot ${action}: Stripe refused it: ${e.message}`, {
      cause: error,
      details: e.param ? { param: e.param } : undefined,
    });
  }
  return new HttpError(500, "internal", "Internal error", { cause: error });
}

/** How deeply a stored event may nest: Stripe's stay far below; PostgreSQL's parser fails near 10,000. */
export const MAX_EVENT_DEPTH = 256;

/**
 * A JSON value with every U+0000 and lone surrogate in its keys and strings replaced by the six characters of its
 * JSON escape (`\u0000`): jsonb refuses both, and a customer can type them into a name or a custom field, so the
 * event is stored and applied with that text instead of being refused on every delivery. 400 when the value nests
 * deeper than MAX_EVENT_DEPTH (Stripe sends no such event).
 */
export function storable(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return escapeUnstorable(value);
  if (value === null || typeof value !== "object") return value;
  // What JSON.stringify would write: an SDK object may serialize itself (its toJSON).
  const toJSON = (value as { toJSON?: () => unknown }).toJSON;
  if (typeof toJSON === "function") return storable(toJSON.call(value), depth + 1);
  if (depth >= MAX_EVENT_DEPTH) {
    throw new HttpError(
      400,
      "invalid_request",
      `Invalid Stripe event: nested deeper than ${MAX_EVENT_DEPTH} levels`,
    );
  }
  if (Array.isArray(value)) return value.map((v) => storable(v, depth + 1));
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [escapeUnstorable(k), storable(v, depth + 1)]),
  );
}

// deno-lint-ignore no-control-regex -- U+0000 is exactly what it looks for
const UNSTORABLE = /\u0000|[\ud800-\udfff]/gu;
const escapeUnstorable = (s: string) =>
  s.replace(UNSTORABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
