/**
 * `npm run openapi`: writes docs/openapi.json, the OpenAPI 3.1 document of the functions, generated from
 * the zod schemas they validate with (`_tollgate/contract.ts`), the error catalogue and the CORS headers. Never
 * edit the JSON by hand; docs/openapi_test.ts fails when it is stale.
 */
import { z } from "zod";
import * as contract from "../supabase/functions/_tollgate/contract.ts";
import { ERROR_STATUS, type ErrorCode } from "../supabase/functions/_tollgate/contract.ts";
import { CORS_HEADERS } from "../supabase/functions/_tollgate/errors.ts";
import {
  MAX_JSON_BODY,
  MAX_USAGE_BATCH_BODY,
  MAX_WEBHOOK_BODY,
} from "../supabase/functions/_tollgate/http.ts";

const ROOT = new URL("../", import.meta.url).pathname;
export const OUTPUT = `${ROOT}docs/openapi.json`;

type Json = Record<string, unknown>;

/** When each contract error is answered; typed by ErrorCode, so a new code cannot go undocumented. */
const ERROR_DESCRIPTIONS: Record<ErrorCode, string> = {
  invalid_request:
    "Malformed JSON, a schema violation or an oversized field; `details.issues` lists every violation " +
    "as `{path, message}`. With the service key, naming neither `user_id` nor `account_id`.",
  invalid_signature:
    "The `Stripe-Signature` header is missing, malformed, too old or does not match the raw body; nothing is stored.",
  unauthorized: "Missing, malformed, forged, `alg: none` or expired credentials.",
  insufficient_credits:
    "The balance cannot cover `amount`; `details.balance` and `details.required` say by how much.",
  forbidden:
    "Valid credentials whose role may not do this: the publishable or anon key anywhere, a user token naming " +
    "another user's `user_id` or an `account_id` it is not a member of (the same answer whether or not the " +
    "account exists), a user token on reset-monthly-quotas.",
  not_found:
    "The account named by `account_id` (service key), or the user named by `user_id`, has no Tollgate " +
    "account.",
  method_not_allowed: "Any method but POST and OPTIONS; the `Allow` header lists them.",
  idempotency_conflict: "The idempotency key (or request id) was already used with a different body, or " +
    "(log-ai-usage) the `hold_id` was already settled by another `request_id`; `details` names it.",
  payload_too_large: `A body over ${MAX_JSON_BODY} bytes (${MAX_WEBHOOK_BODY} bytes for the webhook, ` +
    `${MAX_USAGE_BATCH_BODY} for a usage batch).`,
  quota_exceeded:
    "A plan request limit for `feature` is used up; `details.feature`, `period`, `limit`, `used` and " +
    "`resets_at` describe it and `Retry-After` says when it resets.",
  member_cap_exceeded:
    "The acting member of a team account would go over their cap; `details.cap`, `used`, `period` and " +
    "`resets_at` describe it and `Retry-After` says when the window resets. Nothing is applied.",
  internal: "An unexpected failure; the message never echoes internals.",
  unavailable:
    "The database, or the Auth server a legacy HS256 token is confirmed by, is unreachable; retry after " +
    "`Retry-After` seconds with the same idempotency key.",
};

/** The JSON Schema (2020-12, as OpenAPI 3.1 uses) of a request (`input`: defaults optional) or a response. */
function jsonSchema(schema: z.ZodType, io: "input" | "output"): Json {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: "draft-2020-12", io });
  return rest;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

const retryAfter = {
  description: "Seconds to wait before retrying.",
  schema: { type: "integer", minimum: 0 },
};

/** One response per status, its `code` narrowed to the codes this function answers with that status. */
function errorResponses(codes: ErrorCode[]): Record<string, Json> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    byStatus.set(ERROR_STATUS[code], [...(byStatus.get(ERROR_STATUS[code]) ?? []), code]);
  }
  const responses: Record<string, Json> = {};
  for (const [status, group] of [...byStatus].sort(([a], [b]) => a - b)) {
    const headers: Json = {};
    if (status === 429 || status === 503) headers["Retry-After"] = { ...retryAfter, required: true };
    responses[String(status)] = {
      description: group.map((code) => `\`${code}\`: ${ERROR_DESCRIPTIONS[code]}`).join("\n\n"),
      ...(Object.keys(headers).length > 0 ? { headers } : {}),
      content: {
        "application/json": {
          schema: {
            allOf: [
              ref("ErrorBody"),
              {
                type: "object",
                properties: { error: { type: "object", properties: { code: { enum: group } } } },
              },
            ],
          },
        },
      },
    };
  }
  return responses;
}

const preflight = {
  summary: "CORS preflight",
  description: "Answers 204 with the CORS headers; needs no credentials.",
  security: [],
  responses: {
    "204": {
      description: "CORS preflight accepted.",
      headers: Object.fromEntries(
        Object.entries(CORS_HEADERS).map((
          [name, value],
        ) => [name, { schema: { type: "string", const: value } }]),
      ),
    },
  },
};

const otherMethods = "Any other method answers 405 `method_not_allowed` with `Allow: POST, OPTIONS`.";

interface FunctionSpec {
  name: string;
  operationId: string;
  summary: string;
  description: string;
  security: Json[];
  requestBody: Json;
  ok: Record<string, Json>;
  errors: ErrorCode[];
}

const jsonBody = (schema: string, description: string) => ({
  required: true,
  description: `${description} At most ${MAX_JSON_BODY} bytes.`,
  content: { "application/json": { schema: ref(schema) } },
});
const okJson = (schema: string, description: string) => ({
  description,
  content: { "application/json": { schema: ref(schema) } },
});

const SERVICE = [{ serviceKey: [] }, { secretApiKey: [] }];
const USER_OR_SERVICE = [{ userJwt: [] }, ...SERVICE];
const BOTH_AUTH_ERRORS: ErrorCode[] = ["invalid_request", "unauthorized", "forbidden", "payload_too_large"];

const FUNCTIONS: FunctionSpec[] = [
  {
    name: "consume-credit",
    operationId: "consumeCredit",
    summary: "The gate, called before work: check quotas and debit credits, once per idempotency key",
    description:
      "Atomically rolls an ended credit period forward, counts one request against every plan limit " +
      "for `feature`, and debits `amount` credits. All or nothing. The same `idempotency_key` with the same " +
      "body replays the first success (`replayed: true`) without a second debit; with a different body it is " +
      "409. A refused attempt (402, 429) binds nothing, so a retry after a top-up can succeed. A user token " +
      "acts as its own user, on its personal account or on a team account it is a member of (`account_id`), " +
      "where the member's cap is checked too; the service key names `account_id`, `user_id` (the acting " +
      "member, or alone: that user's personal account) or both. With `hold: true` the credits are reserved " +
      "instead of debited (quota and cap counted now) for `hold_ttl_seconds`, answering `hold_id`: settle it " +
      "with log-ai-usage, or it expires and its credits come back. `balance` is always what is still " +
      "available (the cached balance minus `held`).",
    security: USER_OR_SERVICE,
    requestBody: jsonBody("ConsumeRequest", "What to debit."),
    ok: { "200": okJson("ConsumeResponse", "Debited, or the first success replayed.") },
    errors: [
      ...BOTH_AUTH_ERRORS,
      "insufficient_credits",
      "not_found",
      "idempotency_conflict",
      "quota_exceeded",
      "member_cap_exceeded",
      "internal",
      "unavailable",
    ],
  },
  {
    name: "log-ai-usage",
    operationId: "logAiUsage",
    summary: "The meter, called after work: record one AI call, once per request id",
    description: "Records the call, prices it from the model prices in force, adds its tokens to the usage " +
      "counters and, with `charge_credits`, debits the priced credits. Usage already happened, so it never " +
      "refuses for quota or balance (a post-paid charge may take the balance below zero). A model without a " +
      "price is recorded at cost 0 with `unpriced: true`. The same `request_id` with the same body answers " +
      "the same (200, `replayed: true`); with a different body it is 409. `account_id` and `user_id` as in " +
      "consume-credit; a team member's charge counts toward their cap but is never refused by it. With " +
      "`hold_id`, in the same transaction, the priced credits are taken from that hold, the rest of it is " +
      "released (`hold_released`) and any excess is charged post-paid; a call that cost nothing (a failed " +
      "one with no tokens) releases it all. A hold is settled by one `request_id` only: another is 409. " +
      "`input_tokens` are the uncached input; cache reads (`cached_input_tokens`) and cache writes " +
      "(`cache_write_tokens`) are priced at their own rates. A batch " +
      "(`events`: 1 to 1,000 bodies, up to 1 MiB) records each as if sent alone and answers 200 with each " +
      "event's answer in order, an event that fails on its own as its error body and status.",
    security: USER_OR_SERVICE,
    requestBody: {
      required: true,
      description: `The AI call to record (at most ${MAX_JSON_BODY} bytes), or a batch of them (at most ` +
        `${MAX_USAGE_BATCH_BODY} bytes).`,
      content: {
        "application/json": { schema: { oneOf: [ref("LogUsageRequest"), ref("LogUsageBatchRequest")] } },
      },
    },
    ok: {
      "201": okJson("LogUsageResponse", "Recorded."),
      "200": {
        description: "Already recorded: the first answer, replayed; or a batch's answers.",
        content: {
          "application/json": { schema: { oneOf: [ref("LogUsageResponse"), ref("LogUsageBatchResponse")] } },
        },
      },
    },
    errors: [...BOTH_AUTH_ERRORS, "not_found", "idempotency_conflict", "internal", "unavailable"],
  },
  {
    name: "create-checkout-session",
    operationId: "createCheckoutSession",
    summary: "Start a Stripe Checkout for a plan (subscription) or a credit pack",
    description: "Owners and admins of a team account only (a member is 403); a user's personal account " +
      "otherwise. `success_url` and `cancel_url` must be on an origin in `TOLLGATE_ALLOWED_REDIRECTS` (400). " +
      "The account's Stripe customer is reused, or a new one is created and linked before the session, so the " +
      "webhook never waits for the link. What a pack buys is the catalogue's (`tollgate.credit_packs`), never " +
      "the request's; a plan's `trial_days` are offered to an account that never had a trial. The same request " +
      "(or `idempotency_key`) answers the same session (Stripe's idempotency key, from the account and the " +
      "request). 404 for an unknown plan or pack, 400 for a plan without a price or a price Stripe reports " +
      "inactive, 503 when Stripe cannot be reached.",
    security: USER_OR_SERVICE,
    requestBody: jsonBody(
      "CheckoutRequest",
      "What to buy, for which account, and where Stripe sends the customer back.",
    ),
    ok: { "200": okJson("CheckoutResponse", "The session: send the customer to `url`.") },
    errors: [...BOTH_AUTH_ERRORS, "not_found", "idempotency_conflict", "internal", "unavailable"],
  },
  {
    name: "create-portal-session",
    operationId: "createPortalSession",
    summary: "Open the Stripe customer portal of an account",
    description: "Owners and admins of a team account only; `return_url` on an origin in " +
      "`TOLLGATE_ALLOWED_REDIRECTS`. 404 when the account has no Stripe customer yet (before its first " +
      "checkout); 503 when Stripe cannot be reached.",
    security: USER_OR_SERVICE,
    requestBody: jsonBody("PortalRequest", "The account and where the portal sends the customer back."),
    ok: { "200": okJson("PortalResponse", "The portal session: send the customer to `url`.") },
    errors: [...BOTH_AUTH_ERRORS, "not_found", "internal", "unavailable"],
  },
  {
    name: "billing-status",
    operationId: "billingStatus",
    summary:
      "What a billing UI shows: balance, held, plan, period, quotas, the member's cap, the next expiry",
    description:
      "Reads the account's state (the caller's personal account, or `account_id` for a member; the " +
      "service key names `account_id`, `user_id` or both, as in consume-credit). Reads only: it counts no " +
      "request, no cap and releases no hold. `balance` is what is available (the cached balance minus live " +
      "holds).",
    security: USER_OR_SERVICE,
    requestBody: jsonBody("BillingStatusRequest", "Whose status; `{}` for the caller's own."),
    ok: { "200": okJson("BillingStatusResponse", "The account's status now.") },
    errors: [...BOTH_AUTH_ERRORS, "not_found", "internal", "unavailable"],
  },
  {
    name: "stripe-webhook",
    operationId: "stripeWebhook",
    summary: "The money: Stripe's signed events",
    description:
      "Called by Stripe, never by apps (`verify_jwt = false`). The signature in `Stripe-Signature` " +
      "is verified over the raw body with `STRIPE_WEBHOOK_SECRET`. Every verified event is stored once by " +
      "`event.id`; a redelivery answers 200 and changes nothing. Handles `checkout.session.completed`, " +
      "`customer.subscription.created/updated/deleted`, `invoice.paid`, `invoice.payment_failed` and " +
      "`charge.refunded`; other types are stored and ignored. A database failure answers 500 and leaves the " +
      "event unprocessed, so Stripe's retry completes it.",
    security: [{ stripeSignature: [] }],
    requestBody: {
      required: true,
      description:
        "The raw bytes exactly as Stripe sent them (the signature covers them: never re-serialize). " +
        `At most ${MAX_WEBHOOK_BODY} bytes.`,
      content: { "application/json": { schema: ref("StripeEvent") } },
    },
    ok: { "200": okJson("WebhookResponse", "Stored (or already stored) and applied, pending or ignored.") },
    errors: ["invalid_request", "invalid_signature", "payload_too_large", "internal", "unavailable"],
  },
  {
    name: "reset-monthly-quotas",
    operationId: "resetMonthlyQuotas",
    summary: "The clock: roll every account whose credit period has ended (service key only)",
    description: "Expires what is left of each ended period's plan credits, grants the current plan's " +
      "allowance once for the new period and advances the period; top-ups are untouched. A second call in the " +
      "same period changes nothing. A migration also schedules this hourly with pg_cron.",
    security: SERVICE,
    requestBody: jsonBody("ResetRequest", "Always `{}`: callers cannot choose the time."),
    ok: { "200": okJson("ResetResponse", "Totals of this run.") },
    errors: [...BOTH_AUTH_ERRORS, "internal", "unavailable"],
  },
  {
    name: "deliver-billing-events",
    operationId: "deliverBillingEvents",
    summary: "The dispatcher: post due billing events as signed webhooks (service key only)",
    description:
      "Claims the due billing events in batches and posts each to `TOLLGATE_WEBHOOK_URL`, signed " +
      "per Standard Webhooks with `TOLLGATE_WEBHOOK_SECRET` (`webhook-id` = the event's id); a failure is " +
      "retried with exponential backoff. Without the URL it claims nothing (`configured: false`). pg_cron " +
      "calls it every minute through pg_net (docs/events.md).",
    security: SERVICE,
    requestBody: jsonBody("DeliverRequest", "Always `{}`."),
    ok: { "200": okJson("DeliverResponse", "What this run delivered and what failed (retried later).") },
    errors: [...BOTH_AUTH_ERRORS, "internal", "unavailable"],
  },
];

/** The document, deterministic: same schemas, same bytes. */
export function buildDocument(): Json {
  const { version } = JSON.parse(Deno.readTextFileSync(`${ROOT}package.json`));
  const paths: Json = {};
  for (const fn of FUNCTIONS) {
    paths[`/${fn.name}`] = {
      description: otherMethods,
      post: {
        operationId: fn.operationId,
        summary: fn.summary,
        description: fn.description,
        security: fn.security,
        requestBody: fn.requestBody,
        responses: { ...fn.ok, ...errorResponses(fn.errors) },
      },
      options: { ...preflight, operationId: `${fn.operationId}Preflight` },
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Tollgate",
      version,
      summary: "Credits, usage metering, plan quotas and Stripe subscriptions for AI apps on Supabase",
      description: "Supabase Edge Functions. Every function takes POST with a JSON body (the webhook: " +
        "Stripe's raw body), answers JSON, answers OPTIONS with 204 and CORS headers. " + otherMethods +
        ' Errors are `{"error": {"code", "message", "details"}}`. Generated by `npm run openapi` from ' +
        "supabase/functions/_tollgate/contract.ts.",
      license: { name: "MIT", identifier: "MIT" },
    },
    servers: [
      {
        url: "https://{project_ref}.supabase.co/functions/v1",
        description: "A hosted Supabase project",
        variables: {
          project_ref: { default: "your-project-ref", description: "The project's reference id" },
        },
      },
      { url: "http://127.0.0.1:54321/functions/v1", description: "The local stack (`npm start`)" },
    ],
    paths,
    components: {
      securitySchemes: {
        userJwt: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description:
            "A signed-in user's Supabase access token (role `authenticated`, a uuid `sub`, `exp` " +
            "required). Signed with the project's signing keys (ES256/RS256): verified against `SUPABASE_JWKS`. " +
            "Legacy HS256: confirmed by the Auth server (`GET /auth/v1/user`) once per token for its remaining " +
            "life, or verified with `TOLLGATE_JWT_SECRET` when set. Acts for its own user only.",
        },
        serviceKey: {
          type: "http",
          scheme: "bearer",
          description: "A service credential as the Bearer token: a `sb_secret_…` key of the project " +
            "(`SUPABASE_SECRET_KEYS`) or the legacy `service_role` JWT. Acts for the account (`account_id`) or user (`user_id`) it names. " +
            "The publishable and anon keys are refused (403).",
        },
        secretApiKey: {
          type: "apiKey",
          in: "header",
          name: "apikey",
          description: "A `sb_secret_…` key (or the legacy `service_role` JWT) in the `apikey` header, as " +
            "supabase-js sends it; used when there is no Bearer token. Acts for the account (`account_id`) or user (`user_id`) it names.",
        },
        stripeSignature: {
          type: "apiKey",
          in: "header",
          name: "Stripe-Signature",
          description:
            "Stripe's `t=<timestamp>,v1=<HMAC-SHA256 of '<timestamp>.<raw body>'>` signed with the " +
            "endpoint's signing secret (`STRIPE_WEBHOOK_SECRET`).",
        },
      },
      schemas: {
        ConsumeRequest: jsonSchema(contract.ConsumeRequest, "input"),
        ConsumeResponse: jsonSchema(contract.ConsumeResponse, "output"),
        LogUsageRequest: jsonSchema(contract.LogUsageRequest, "input"),
        LogUsageResponse: jsonSchema(contract.LogUsageResponse, "output"),
        LogUsageBatchRequest: jsonSchema(contract.LogUsageBatchRequest, "input"),
        LogUsageBatchResponse: jsonSchema(contract.LogUsageBatchResponse, "output"),
        CheckoutRequest: jsonSchema(contract.CheckoutRequest, "input"),
        CheckoutResponse: jsonSchema(contract.CheckoutResponse, "output"),
        PortalRequest: jsonSchema(contract.PortalRequest, "input"),
        PortalResponse: jsonSchema(contract.PortalResponse, "output"),
        BillingStatusRequest: jsonSchema(contract.BillingStatusRequest, "input"),
        BillingStatusResponse: jsonSchema(contract.BillingStatusResponse, "output"),
        ResetRequest: jsonSchema(contract.ResetRequest, "input"),
        ResetResponse: jsonSchema(contract.ResetResponse, "output"),
        WebhookResponse: jsonSchema(contract.WebhookResponse, "output"),
        DeliverRequest: jsonSchema(contract.DeliverRequest, "input"),
        DeliverResponse: jsonSchema(contract.DeliverResponse, "output"),
        ErrorBody: jsonSchema(contract.ErrorBody, "output"),
        StripeEvent: {
          description: "A Stripe event object (see Stripe's API reference); only the fields Tollgate reads.",
          type: "object",
          required: ["id", "type", "created", "data"],
          properties: {
            id: { type: "string" },
            type: { type: "string" },
            created: { type: "integer" },
            data: { type: "object", required: ["object"], properties: { object: { type: "object" } } },
          },
        },
      },
      responses: {
        MethodNotAllowed: {
          description: ERROR_DESCRIPTIONS.method_not_allowed,
          headers: { Allow: { schema: { type: "string", const: "POST, OPTIONS" } } },
          content: {
            "application/json": {
              schema: {
                allOf: [
                  ref("ErrorBody"),
                  {
                    type: "object",
                    properties: {
                      error: { type: "object", properties: { code: { const: "method_not_allowed" } } },
                    },
                  },
                ],
              },
            },
          },
        },
      },
    },
  };
}

/** Writes the document and formats it as `deno fmt` would, so `fmt --check` stays clean. */
export async function writeDocument(path = OUTPUT): Promise<void> {
  Deno.writeTextFileSync(path, `${JSON.stringify(buildDocument(), null, 2)}\n`);
  const fmt = await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", path], cwd: ROOT }).output();
  if (!fmt.success) throw new Error(`deno fmt ${path} failed: ${new TextDecoder().decode(fmt.stderr)}`);
}

if (import.meta.main) {
  await writeDocument();
  console.log(`wrote ${OUTPUT.slice(ROOT.length)}`);
}
