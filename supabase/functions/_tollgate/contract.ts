/**
 * The HTTP contract's request and response shapes: one source of truth for the functions, the client package
 * and the OpenAPI document.
 */
import { z } from "zod";
import { HttpError } from "./errors.ts";

/** How deeply a JSON value may nest (`{}` is 1): PostgreSQL's JSON parser recurses and runs out of stack. */
export const MAX_JSON_DEPTH = 32;

/**
 * Why PostgreSQL cannot store a string as sent, or null: text refuses U+0000, and a lone UTF-16 surrogate has no
 * UTF-8 form (it would be stored as U+FFFD, so two different idempotency keys could be stored alike).
 */
export function unstorable(value: string): string | null {
  if (value.includes("\u0000")) return "must not contain U+0000";
  if (/[\ud800-\udfff]/u.test(value)) return "must not contain a lone UTF-16 surrogate (U+D800 to U+DFFF)";
  return null;
}

/** A string of `min` to `max` characters that PostgreSQL stores exactly as sent. */
const text = (min: number, max: number) =>
  (min > 0 ? z.string().min(min) : z.string()).max(max).superRefine((value, ctx) => {
    const why = unstorable(value);
    if (why) ctx.addIssue({ code: "custom", message: why });
  });

/**
 * What in a JSON value PostgreSQL would refuse or change, each with its path: U+0000 or a lone surrogate in a key
 * or string, a number JSON cannot carry (1e400 parses as Infinity), nesting deeper than MAX_JSON_DEPTH. Iterative,
 * so a value nested 20,000 deep is reported, not a stack overflow; stops at the first 10.
 */
export function jsonIssues(value: unknown): { path: string[]; message: string }[] {
  const issues: { path: string[]; message: string }[] = [];
  const stack: { value: unknown; path: string[]; depth: number }[] = [{ value, path: [], depth: 0 }];
  while (stack.length > 0 && issues.length < 10) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value === "string") {
      const why = unstorable(value);
      if (why) issues.push({ path, message: why });
    } else if (typeof value === "number") {
      if (!Number.isFinite(value)) issues.push({ path, message: "must be a finite number" });
    } else if (value !== null && typeof value === "object") {
      if (depth + 1 > MAX_JSON_DEPTH) {
        issues.push({ path, message: `must not nest deeper than ${MAX_JSON_DEPTH} levels` });
        continue;
      }
      for (const [key, child] of Object.entries(value)) {
        const why = unstorable(key);
        if (why) issues.push({ path: [...path, key], message: `key ${why}` });
        stack.push({ value: child, path: [...path, key], depth: depth + 1 });
      }
    }
  }
  return issues;
}

/** A JSON object PostgreSQL stores as sent (see jsonIssues); the SQL functions also bound its size. */
const metadata = z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
  for (const issue of jsonIssues(value)) ctx.addIssue({ code: "custom", ...issue });
});
/** The acting member: with a service credential, the user it acts as (a user token acts as its own user). */
const userId = z.uuid();
/** The account acted for (default: the acting user's personal account); a user token must be a member. */
const accountId = z.uuid();

export const ConsumeRequest = z.strictObject({
  idempotency_key: text(1, 255),
  amount: z.int().min(0).max(1_000_000).default(1),
  feature: text(1, 64).default("default"),
  metadata: metadata.optional(),
  account_id: accountId.optional(),
  user_id: userId.optional(),
  /** Reserve the credits instead of debiting them; log-ai-usage with the answer's `hold_id` settles them. */
  hold: z.boolean().default(false),
  hold_ttl_seconds: z.int().min(10).max(86_400).default(600),
});
export type ConsumeRequest = z.infer<typeof ConsumeRequest>;

export const QuotaState = z.object({
  feature: z.string(),
  period: z.enum(["day", "month"]),
  used: z.int(),
  limit: z.int(),
  resets_at: z.string(),
});

export const ConsumeResponse = z.object({
  transaction_id: z.uuid().nullable(),
  /** 0 with a hold: the credits are reserved, not yet taken. */
  consumed: z.int(),
  /** What is still available: the cached balance minus the held credits. */
  balance: z.int(),
  held: z.int(),
  quota: z.array(QuotaState),
  replayed: z.boolean(),
  hold_id: z.uuid().optional(),
  hold_expires_at: z.string().optional(),
});
export type ConsumeResponse = z.infer<typeof ConsumeResponse>;

export const LogUsageRequest = z.strictObject({
  request_id: text(1, 255),
  model: text(1, 128),
  provider: text(1, 64).optional(),
  feature: text(1, 64).default("default"),
  input_tokens: z.int().min(0).max(1_000_000_000),
  output_tokens: z.int().min(0).max(1_000_000_000),
  cached_input_tokens: z.int().min(0).max(1_000_000_000).default(0),
  cache_write_tokens: z.int().min(0).max(1_000_000_000).default(0),
  latency_ms: z.int().min(0).max(86_400_000).optional(),
  status: z.enum(["success", "error"]).default("success"),
  error_code: text(1, 128).optional(),
  charge_credits: z.boolean().default(false),
  prompt: text(0, 60_000).optional(),
  response: text(0, 60_000).optional(),
  metadata: metadata.optional(),
  account_id: accountId.optional(),
  user_id: userId.optional(),
  /** Settle this hold of consume-credit: charge from it, release the rest, the excess post-paid. */
  hold_id: z.uuid().optional(),
});
export type LogUsageRequest = z.infer<typeof LogUsageRequest>;

export const LogUsageResponse = z.object({
  usage_id: z.uuid(),
  cost_usd: z.string(),
  credits_charged: z.int(),
  balance: z.int(),
  hold_released: z.int(),
  unpriced: z.boolean(),
  replayed: z.boolean(),
});
export type LogUsageResponse = z.infer<typeof LogUsageResponse>;

/** At most this many events in one log-ai-usage batch (tollgate._log_ai_usage_batch refuses more as well). */
export const MAX_USAGE_EVENTS = 1_000;

/** log-ai-usage with `events`: each a body as above, recorded as if sent alone. */
export const LogUsageBatchRequest = z.strictObject({
  events: z.array(LogUsageRequest).min(1).max(MAX_USAGE_EVENTS),
});
export type LogUsageBatchRequest = z.infer<typeof LogUsageBatchRequest>;

/** The answer of one event of a batch that failed on its own: the error body it gets alone, and its status. */
export const UsageEventError = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
  status: z.int(),
});
export type UsageEventError = z.infer<typeof UsageEventError>;

export const LogUsageBatchResponse = z.object({
  results: z.array(z.union([LogUsageResponse, UsageEventError])),
});
export type LogUsageBatchResponse = z.infer<typeof LogUsageBatchResponse>;

export const BillingStatusRequest = z.strictObject({
  account_id: accountId.optional(),
  user_id: userId.optional(),
});
export type BillingStatusRequest = z.infer<typeof BillingStatusRequest>;

export const BillingStatusResponse = z.object({
  account_id: z.uuid(),
  kind: z.enum(["personal", "team"]),
  plan: z.object({ id: z.string(), features: z.record(z.string(), z.unknown()) }),
  /** What is available: the cached balance minus what live holds reserve. */
  balance: z.int(),
  held: z.int(),
  overdraft: z.int(),
  period: z.object({ start: z.string(), end: z.string() }),
  quota: z.array(QuotaState),
  /** The acting member's cap on a team account; null without one. */
  member_cap: z.object({
    cap: z.int(),
    period: z.enum(["day", "month"]),
    used: z.int(),
    remaining: z.int(),
    resets_at: z.string(),
  }).nullable(),
  /** The earliest lot expiry with credits left; null when none expire. */
  next_expiry: z.object({ at: z.string(), credits: z.int() }).nullable(),
});
export type BillingStatusResponse = z.infer<typeof BillingStatusResponse>;

export const ResetRequest = z.strictObject({});
export const ResetResponse = z.object({
  accounts_rolled: z.int(),
  credits_granted: z.int(),
  credits_expired: z.int(),
});
export type ResetResponse = z.infer<typeof ResetResponse>;

export const WebhookResponse = z.object({ received: z.literal(true) });

/** Where Stripe sends the customer back: an absolute http(s) URL (which origins, TOLLGATE_ALLOWED_REDIRECTS says). */
const redirectUrl = text(1, 2048).refine((value) => {
  try {
    return ["http:", "https:"].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}, "must be an absolute http(s) URL");

export const CheckoutRequest = z.strictObject({
  plan_id: text(1, 64).optional(),
  pack_id: text(1, 64).optional(),
  /** One of the plan's Stripe prices (e.g. its yearly one); default the plan's first. */
  price_id: text(1, 255).optional(),
  success_url: redirectUrl,
  cancel_url: redirectUrl,
  /** Retries of one purchase attempt send the same key and get the same session. */
  idempotency_key: text(1, 255).optional(),
  account_id: accountId.optional(),
  user_id: userId.optional(),
}).refine((b) => (b.plan_id === undefined) !== (b.pack_id === undefined), {
  message: "Name either a plan_id (a subscription) or a pack_id (a credit pack)",
  path: ["plan_id"],
});
export type CheckoutRequest = z.infer<typeof CheckoutRequest>;

export const CheckoutResponse = z.object({ url: z.string(), session_id: z.string() });
export type CheckoutResponse = z.infer<typeof CheckoutResponse>;

export const PortalRequest = z.strictObject({
  return_url: redirectUrl,
  account_id: accountId.optional(),
  user_id: userId.optional(),
});
export type PortalRequest = z.infer<typeof PortalRequest>;

export const PortalResponse = z.object({ url: z.string() });
export type PortalResponse = z.infer<typeof PortalResponse>;

export const DeliverRequest = z.strictObject({});
export const DeliverResponse = z.object({
  /** False when TOLLGATE_WEBHOOK_URL is not set: nothing was claimed. */
  configured: z.boolean(),
  delivered: z.int(),
  failed: z.int(),
});
export type DeliverResponse = z.infer<typeof DeliverResponse>;

/** Every contract error code and its HTTP status (read by the client and the OpenAPI generator). */
export const ERROR_STATUS = {
  invalid_request: 400,
  invalid_signature: 400,
  unauthorized: 401,
  insufficient_credits: 402,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  idempotency_conflict: 409,
  payload_too_large: 413,
  quota_exceeded: 429,
  member_cap_exceeded: 429,
  internal: 500,
  unavailable: 503,
} as const;
export type ErrorCode = keyof typeof ERROR_STATUS;

export const ErrorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});

/** Validates a parsed body (400 `invalid_request` naming `what`); every violation is listed in `details.issues`. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown, what = "request body"): z.output<S> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({ path: i.path.map(String), message: i.message }));
  const summary = issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ");
  throw new HttpError(400, "invalid_request", `Invalid ${what}: ${summary}`, { details: { issues } });
}
