/**
 * @tollgate/client: typed calls to Tollgate's Edge Functions over supabase-js, with TollgateError and
 * retries that reuse the idempotency key.
 */
export { createTollgateClient, TollgateClient } from "./client.ts";
export type { CallOptions, SupabaseLike, TollgateClientOptions } from "./client.ts";
export { parseRetryAfter, TollgateError } from "./errors.ts";
export { workKey } from "./credits.ts";
export type { CreditCalls, StoredWork, WithCreditsOptions, WithCreditsResult, WorkUsage } from "./credits.ts";
export { backoffDelay, DEFAULT_RETRY } from "./retry.ts";
export type { RetryOptions } from "./retry.ts";
export type {
  BillingStatusResult,
  ConsumeCreditInput,
  ConsumeCreditResult,
  GetStatusInput,
  LogAiUsageInput,
  LogAiUsageResult,
  ResetMonthlyQuotasResult,
  TollgateErrorCode,
} from "./types.ts";
