import type { TollgateErrorCode } from "./types.ts";

/** The contract's error body, as every function answers it. */
export interface ErrorBodyShape {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

/**
 * A refused or failed call. `code`, `message` and `details` are the contract's error body; `status` is the
 * HTTP status (0 when no response arrived); `retryAfter` is seconds from `Retry-After` (429 and 503).
 */
export class TollgateError extends Error {
  readonly code: TollgateErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown>;
  readonly retryAfter?: number;
  /** The idempotency key or request id the call used, so a later retry can reuse it. */
  readonly key?: string;

  constructor(opts: {
    code: TollgateErrorCode;
    status: number;
    message: string;
    details?: Record<string, unknown>;
    retryAfter?: number;
    key?: string;
    cause?: unknown;
  }) {
    super(opts.message, { cause: opts.cause });
    this.name = "TollgateError";
    this.code = opts.code;
    this.status = opts.status;
    this.details = opts.details ?? {};
    this.retryAfter = opts.retryAfter;
    this.key = opts.key;
  }
}

/** Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date), or undefined. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

function isErrorBody(body: unknown): body is ErrorBodyShape {
  if (typeof body !== "object" || body === null) return false;
  const error = (body as { error?: unknown }).error;
  return typeof error === "object" && error !== null &&
    typeof (error as { code?: unknown }).code === "string" &&
    typeof (error as { message?: unknown }).message === "string";
}

const FALLBACK_CODES: Record<number, TollgateErrorCode> = {
  400: "invalid_request",
  401: "unauthorized",
  402: "insufficient_credits",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  409: "idempotency_conflict",
  413: "payload_too_large",
  429: "quota_exceeded", // or member_cap_exceeded: only the body tells them apart
  503: "unavailable",
};

/** Builds the error from a non-2xx response; a body that is not the contract's keeps a code from the status. */
export async function errorFromResponse(response: Response, key?: string): Promise<TollgateError> {
  let body: unknown;
  try {
    body = await response.clone().json();
  } catch {
    body = undefined;
  }
  const retryAfter = parseRetryAfter(response.headers.get("retry-after"));
  if (isErrorBody(body)) {
    return new TollgateError({
      code: body.error.code as TollgateErrorCode,
      status: response.status,
      message: body.error.message,
      details: body.error.details,
      retryAfter,
      key,
    });
  }
  return new TollgateError({
    code: FALLBACK_CODES[response.status] ?? "internal",
    status: response.status,
    message: `Tollgate answered HTTP ${response.status} without an error body`,
    retryAfter,
    key,
  });
}
