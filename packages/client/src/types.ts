/**
 * Request and response types of the Tollgate functions, inferred from the same zod schemas the functions
 * validate with: `z.input` for what a caller may send (defaults optional), `z.output` for what comes back.
 */
import type { z } from "zod";
import type {
  BillingStatusRequest,
  BillingStatusResponse,
  ConsumeRequest,
  ConsumeResponse,
  ErrorCode,
  LogUsageRequest,
  LogUsageResponse,
  ResetResponse,
} from "../../../supabase/functions/_tollgate/contract.ts";

type WithOptional<T, K extends keyof T> = Omit<T, K> & Partial<Pick<T, K>>;

/** consume-credit's body; `idempotency_key` is generated once per call when omitted. */
export type ConsumeCreditInput = WithOptional<z.input<typeof ConsumeRequest>, "idempotency_key">;
/** consume-credit's 200 answer. */
export type ConsumeCreditResult = z.output<typeof ConsumeResponse>;

/** log-ai-usage's body; `request_id` is generated once per call when omitted. */
export type LogAiUsageInput = WithOptional<z.input<typeof LogUsageRequest>, "request_id">;
/** log-ai-usage's 201 (200 on replay) answer. */
export type LogAiUsageResult = z.output<typeof LogUsageResponse>;

/** reset-monthly-quotas' 200 answer. */
export type ResetMonthlyQuotasResult = z.output<typeof ResetResponse>;

/** billing-status' body: whose status (default the caller's own account). */
export type GetStatusInput = z.input<typeof BillingStatusRequest>;
/** billing-status' 200 answer. */
export type BillingStatusResult = z.output<typeof BillingStatusResponse>;

/**
 * The contract's error codes, plus the client's own: failures that never reached a function, and withCredits'
 * `in_progress` (the work's key is held by a run that stored no result).
 */
export type TollgateErrorCode = ErrorCode | "network_error" | "invalid_response" | "in_progress";
