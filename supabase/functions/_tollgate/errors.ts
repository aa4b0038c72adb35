/** The one error type handlers throw; `respond` turns it into the contract's error body. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details?: Record<string, unknown>;
  readonly headers?: Record<string, string>;

  constructor(
    status: number,
    code: string,
    message: string,
    opts: { cause?: unknown; details?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = "HttpError";
    this.status = status;
    this.code = code;
    this.details = opts.details;
    this.headers = opts.headers;
  }
}

/** SQLSTATE raised by Tollgate's SQL functions -> HTTP status and contract code. */
export const SQLSTATE_TO_HTTP: Record<string, { status: number; code: string }> = {
  TG400: { status: 400, code: "invalid_request" },
  TG401: { status: 401, code: "unauthorized" },
  TG402: { status: 402, code: "insufficient_credits" },
  TG403: { status: 403, code: "forbidden" },
  TG404: { status: 404, code: "not_found" },
  TG409: { status: 409, code: "idempotency_conflict" },
  TG429: { status: 429, code: "quota_exceeded" },
  TGH09: { status: 409, code: "idempotency_conflict" }, // a hold another request_id already settled
  TGM01: { status: 403, code: "forbidden" }, // a personal account takes no members or caps
  TGM02: { status: 403, code: "forbidden" }, // only owners and admins manage members
  TGM03: { status: 403, code: "forbidden" }, // only owners grant, take or touch the owner role
  TGM04: { status: 404, code: "not_found" }, // no such user
  TGM05: { status: 403, code: "forbidden" }, // the last owner stays
  TGM06: { status: 404, code: "not_found" }, // not a member of the account
  TGM29: { status: 429, code: "member_cap_exceeded" },
  TGS02: { status: 400, code: "invalid_request" },
};

/**
 * Data exceptions only a value sent by the caller can raise (the contract's schemas refuse these values first;
 * this is the backstop): the request's fault, so 400 naming the kind of value, never a 500.
 */
const REFUSED_VALUE: Record<string, string> = {
  "22021": "a string holds a character the database cannot store (such as U+0000)",
  "22P05": "a JSON string holds a character the database cannot store (such as \\u0000)",
  "54001": "a value is nested too deeply",
  "22P02": "a value has the wrong format for its type",
  "22008": "a date or time is out of range",
  "22003": "a number is out of range",
};

/** SQLSTATE classes that mean the database cannot be reached or is going away: worth a retry. */
const UNAVAILABLE = /^(08|53|57P0[1-3])/;
const NETWORK_ERRORS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "EPIPE",
]);

interface DbErrorLike {
  code?: string;
  message?: string;
  detail?: string;
}

/** Maps a database error to an HttpError; business errors keep their message, anything else is hidden. */
export function fromDatabaseError(error: unknown): HttpError {
  const e = (error ?? {}) as DbErrorLike;
  const code = typeof e.code === "string" ? e.code : "";
  const known = SQLSTATE_TO_HTTP[code];
  if (known) {
    const details = parseDetails(e.detail);
    const headers: Record<string, string> = {};
    if (known.status === 429 && typeof details?.retry_after === "number") {
      headers["Retry-After"] = String(details.retry_after);
    }
    return new HttpError(known.status, known.code, e.message ?? known.code, {
      cause: error,
      details,
      headers,
    });
  }
  if (REFUSED_VALUE[code]) {
    return new HttpError(400, "invalid_request", `Invalid request: ${REFUSED_VALUE[code]}`, { cause: error });
  }
  if (UNAVAILABLE.test(code) || NETWORK_ERRORS.has(code)) {
    return new HttpError(503, "unavailable", "Database is unavailable: retry shortly", {
      cause: error,
      headers: { "Retry-After": "1" },
    });
  }
  return new HttpError(500, "internal", "Internal error", { cause: error });
}

function parseDetails(detail: string | undefined): Record<string, unknown> | undefined {
  if (!detail) return undefined;
  try {
    const parsed = JSON.parse(detail);
    return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** The contract's error body, with CORS headers. Never echoes internals. */
export function errorResponse(error: HttpError): Response {
  const body: { code: string; message: string; details?: Record<string, unknown> } = {
    code: error.code,
    message: error.message,
  };
  if (error.details && Object.keys(error.details).length > 0) body.details = error.details;
  return new Response(JSON.stringify({ error: body }), {
    status: error.status,
    headers: { ...CORS_HEADERS, "Content-Type": "application/json", ...error.headers },
  });
}

export const CORS_HEADERS: Record<string, string> = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Headers": "authorization, x-client-info, apikey, content-type, stripe-signature",
  "Access-Control-Allow-Methods": "POST, OPTIONS",
  "Access-Control-Max-Age": "86400",
};
