/**
 * @tollgate/client: typed calls to Tollgate's Edge Functions over supabase-js, with TollgateError and
 * retries that reuse the idempotency key.
 */
export { createTollgateClient, TollgateClient } from "./client.ts";
export type { CallOptions, SupabaseLike, TollgateClientOptions } from "./client.ts";
export { parseRetryAfter, TollgateError } from "./errors.ts";
export { backoffDelay, DEFAULT_RETRY } from "./retry.ts";
export type { RetryOptions } from "./retry.ts";
export type {
  ConsumeCreditInput,
  ConsumeCreditResult,
  CreateCheckoutInput,
  CreateCheckoutResult,
  LogAiUsageInput,
  LogAiUsageResult,
  OpenPortalInput,
  OpenPortalResult,
  ResetMonthlyQuotasResult,
  TollgateErrorCode,
} from "./types.ts";
