/**
 * The HTTP contract's request and response shapes: one source of truth for the functions, the client package
 * and the OpenAPI document.
 */
import { z } from "zod";
import { HttpError } from "./errors.ts";

const metadata = z.record(z.string(), z.unknown());
const userId = z.uuid();

export const ConsumeRequest = z.strictObject({
  idempotency_key: z.string().min(1).max(255),
  amount: z.int().min(0).max(1_000_000).default(1),
  feature: z.string().min(1).max(64).default("default"),
  metadata: metadata.optional(),
  user_id: userId.optional(),
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
  consumed: z.int(),
  balance: z.int(),
  quota: z.array(QuotaState),
  replayed: z.boolean(),
});
export type ConsumeResponse = z.infer<typeof ConsumeResponse>;

export const LogUsageRequest = z.strictObject({
  request_id: z.string().min(1).max(255),
  model: z.string().min(1).max(128),
  provider: z.string().min(1).max(64).optional(),
  feature: z.string().min(1).max(64).default("default"),
  input_tokens: z.int().min(0).max(1_000_000_000),
  output_tokens: z.int().min(0).max(1_000_000_000),
  cached_input_tokens: z.int().min(0).max(1_000_000_000).default(0),
  latency_ms: z.int().min(0).max(86_400_000).optional(),
  status: z.enum(["success", "error"]).default("success"),
  error_code: z.string().min(1).max(128).optional(),
  charge_credits: z.boolean().default(false),
  prompt: z.string().max(60_000).optional(),
  response: z.string().max(60_000).optional(),
  metadata: metadata.optional(),
  user_id: userId.optional(),
});
export type LogUsageRequest = z.infer<typeof LogUsageRequest>;

export const LogUsageResponse = z.object({
  usage_id: z.uuid(),
  cost_usd: z.string(),
  credits_charged: z.int(),
  balance: z.int(),
  unpriced: z.boolean(),
  replayed: z.boolean(),
});
export type LogUsageResponse = z.infer<typeof LogUsageResponse>;

export const ResetRequest = z.strictObject({});
export const ResetResponse = z.object({
  accounts_rolled: z.int(),
  credits_granted: z.int(),
  credits_expired: z.int(),
});
export type ResetResponse = z.infer<typeof ResetResponse>;

export const WebhookResponse = z.object({ received: z.literal(true) });

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
