import type { z } from "zod";
import {
  BillingStatusResponse,
  ConsumeResponse,
  LogUsageResponse,
  ResetResponse,
} from "../../../supabase/functions/_tollgate/contract.ts";
import { type StoredWork, withCredits, type WithCreditsOptions, type WithCreditsResult } from "./credits.ts";
import { errorFromResponse, TollgateError } from "./errors.ts";
import { backoffDelay, DEFAULT_RETRY, type RetryOptions, sleep } from "./retry.ts";
import type {
  BillingStatusResult,
  ConsumeCreditInput,
  ConsumeCreditResult,
  GetStatusInput,
  LogAiUsageInput,
  LogAiUsageResult,
  ResetMonthlyQuotasResult,
} from "./types.ts";

/** What the client needs from a supabase-js client: `functions.invoke`. Any `SupabaseClient` fits. */
export interface SupabaseLike {
  functions: {
    invoke(
      name: string,
      options: {
        body?: Record<string, unknown>;
        headers?: Record<string, string>;
        method?: "POST";
        signal?: AbortSignal;
        timeout?: number;
      },
    ): Promise<{ data: unknown; error: unknown; response?: Response }>;
  };
}

export interface TollgateClientOptions {
  /**
   * The account every consume and usage call acts for, e.g. a team the signed-in user is a member of (default:
   * their personal account). A call's own `account_id` wins.
   */
  accountId?: string;
  /** Retry policy for network errors and 503; see RetryOptions for the defaults. */
  retry?: Partial<RetryOptions>;
  /** Per-attempt timeout in ms (default 15,000); a timed-out attempt is retried like a network error. */
  timeoutMs?: number;
  /**
   * Headers sent on every call. With a new `sb_secret_…` key pass `{ Authorization: "Bearer <key>" }`:
   * supabase-js sends new-format keys only as `apikey`, and the functions read `Authorization`.
   */
  headers?: Record<string, string>;
  /** Check 2xx bodies against the contract's schemas (default true); a mismatch is `invalid_response`. */
  validateResponses?: boolean;
  /** Test seams: the wait between attempts, the jitter source and the key generator. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  generateKey?: () => string;
}

/** Per-call options. */
export interface CallOptions {
  /** Cancels the call, including a pending retry wait; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

type Attempt = { ok: true; data: unknown; status: number } | {
  ok: false;
  error: TollgateError;
  retryable: boolean;
};

interface ErrorWithContext {
  name?: unknown;
  context?: unknown;
}

function isResponse(value: unknown): value is Response {
  return typeof value === "object" && value !== null && typeof (value as Response).status === "number" &&
    typeof (value as Response).headers?.get === "function";
}

/**
 * Typed calls to the Tollgate functions through `supabase.functions.invoke`, so the caller's session (or
 * service key) authenticates them. Every method throws a TollgateError on refusal. There is no method for
 * `stripe-webhook`: Stripe calls it, signed with the webhook secret, and an app never should.
 */
export class TollgateClient {
  readonly #supabase: SupabaseLike;
  readonly #retry: RetryOptions;
  readonly #timeoutMs: number;
  readonly #headers: Record<string, string>;
  readonly #validate: boolean;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #random: () => number;
  readonly #generateKey: () => string;
  readonly #account: { account_id?: string };

  constructor(supabase: SupabaseLike, options: TollgateClientOptions = {}) {
    this.#supabase = supabase;
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    this.#headers = options.headers ?? {};
    this.#validate = options.validateResponses ?? true;
    this.#sleep = options.sleep ?? sleep;
    this.#random = options.random ?? Math.random;
    this.#generateKey = options.generateKey ?? (() => crypto.randomUUID());
    this.#account = options.accountId === undefined ? {} : { account_id: options.accountId };
  }

  /** The gate, before work: checks quotas and debits credits once per `idempotency_key`. */
  consumeCredit(input: ConsumeCreditInput, call: CallOptions = {}): Promise<ConsumeCreditResult> {
    const key = input.idempotency_key ?? this.#generateKey();
    return this.#call(
      "consume-credit",
      { ...this.#account, ...input, idempotency_key: key },
      ConsumeResponse,
      key,
      call,
    );
  }

  /** The meter, after work: records one AI call once per `request_id`, optionally charging credits. */
  logAiUsage(input: LogAiUsageInput, call: CallOptions = {}): Promise<LogAiUsageResult> {
    const key = input.request_id ?? this.#generateKey();
    return this.#call(
      "log-ai-usage",
      { ...this.#account, ...input, request_id: key },
      LogUsageResponse,
      key,
      call,
    );
  }

  /** What a billing UI shows of the account (balance available, held, plan, period, quotas, cap); reads only. */
  getStatus(input: GetStatusInput = {}, call: CallOptions = {}): Promise<BillingStatusResult> {
    return this.#call(
      "billing-status",
      { ...this.#account, ...input },
      BillingStatusResponse,
      undefined,
      call,
    );
  }

  /**
   * Hold credits, run the work once, store its result, settle the hold with its usage; the same work again
   * returns the stored result without running it (see credits.ts). Keyed by the work, never by the end user.
   */
  withCredits<T>(
    options: WithCreditsOptions<T>,
    run: (hold: ConsumeCreditResult) => Promise<StoredWork<T>>,
    call: CallOptions = {},
  ): Promise<WithCreditsResult<T>> {
    return withCredits(this, options, run, call);
  }

  /** The clock (service key only): rolls every account whose credit period has ended. Idempotent. */
  resetMonthlyQuotas(call: CallOptions = {}): Promise<ResetMonthlyQuotasResult> {
    return this.#call("reset-monthly-quotas", {}, ResetResponse, undefined, call);
  }

  /** Attempts until success, a non-retryable error, or the retry budget is spent; the body never changes. */
  async #call<S extends z.ZodType>(
    fn: string,
    body: Record<string, unknown>,
    schema: S,
    key: string | undefined,
    call: CallOptions,
  ): Promise<z.output<S>> {
    for (let retry = 0;; retry++) {
      const outcome = await this.#attempt(fn, body, key, call);
      if (outcome.ok) return this.#check(schema, outcome.data, outcome.status, key);
      if (!outcome.retryable || retry >= this.#retry.retries) throw outcome.error;
      const delay = backoffDelay(retry, outcome.error.retryAfter, this.#retry, this.#random);
      if (delay === undefined) throw outcome.error;
      await this.#sleep(delay, call.signal);
    }
  }

  async #attempt(fn: string, body: Record<string, unknown>, key: string | undefined, call: CallOptions) {
    const { data, error, response } = await this.#supabase.functions.invoke(fn, {
      body,
      method: "POST",
      headers: { ...this.#headers, ...call.headers },
      signal: call.signal,
      timeout: this.#timeoutMs,
    });
    if (!error) return { ok: true, data, status: response?.status ?? 200 } satisfies Attempt;
    if (call.signal?.aborted) throw call.signal.reason;
    const e = error as ErrorWithContext;
    const context = isResponse(e.context) ? e.context : response;
    if ((e.name === "FunctionsHttpError" || e.name === "FunctionsRelayError") && isResponse(context)) {
      const failure = await errorFromResponse(context, key);
      return { ok: false, error: failure, retryable: failure.status === 503 } satisfies Attempt;
    }
    const network = new TollgateError({
      code: "network_error",
      status: 0,
      message: `Cannot reach ${fn}: ${describe(e.context ?? error)}`,
      key,
      cause: error,
    });
    return { ok: false, error: network, retryable: e.name === "FunctionsFetchError" } satisfies Attempt;
  }

  #check<S extends z.ZodType>(schema: S, data: unknown, status: number, key?: string): z.output<S> {
    if (!this.#validate) return data as z.output<S>;
    const parsed = schema.safeParse(data);
    if (parsed.success) return parsed.data;
    throw new TollgateError({
      code: "invalid_response",
      status,
      message: `Unexpected answer from Tollgate: ${parsed.error.issues.map((i) => i.message).join("; ")}`,
      details: { issues: parsed.error.issues },
      key,
    });
  }
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/** Creates a client over a supabase-js client (browser session, server session, or service key). */
export function createTollgateClient(
  supabase: SupabaseLike,
  options?: TollgateClientOptions,
): TollgateClient {
  return new TollgateClient(supabase, options);
}
