import type { DeliverResponse } from "../_tollgate/contract.ts";
import { queryAs, type Sql } from "../_tollgate/db.ts";
import { type BillingEvent, signedRequest, type WebhookConfig } from "./webhook.ts";

/** Events claimed per round trip, and how long one invocation keeps claiming (pg_cron calls every minute). */
export const BATCH = 100;
const BUDGET_MS = 30_000;
/** A receiver that has not answered by then counts as failed; the event is retried later. */
const POST_TIMEOUT_MS = 10_000;

export interface Outbox {
  /** tollgate.claim_billing_events: up to `limit` due events, leased to this caller. */
  claim(limit: number): Promise<BillingEvent[]>;
  /** tollgate.record_billing_event_deliveries: null error = delivered. */
  record(results: { id: string; error: string | null }[]): Promise<void>;
}

/** Posts one signed event; resolves to null when the receiver answered 2xx, else to the error to record. */
export async function post(
  config: WebhookConfig,
  event: BillingEvent,
  send: typeof fetch = fetch,
): Promise<string | null> {
  try {
    const res = await send(signedRequest(config, event, new Date()), {
      signal: AbortSignal.timeout(POST_TIMEOUT_MS),
    });
    const text = (await res.text()).slice(0, 200);
    return res.ok ? null : `HTTP ${res.status}${text ? `: ${text}` : ""}`;
  } catch (error) {
    return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  }
}

/**
 * Delivers due events batch by batch until none is left or the time budget is spent: each batch is claimed (so no
 * other dispatcher takes it), posted concurrently, and its outcomes recorded in one call. At least once: an event
 * posted but not recorded (a crash) is due again when its lease ends, with the same webhook-id.
 */
export async function deliver(
  config: WebhookConfig | null,
  outbox: Outbox,
  send: typeof fetch = fetch,
  budgetMs = BUDGET_MS,
): Promise<DeliverResponse> {
  const totals = { configured: config !== null, delivered: 0, failed: 0 };
  if (config === null) return totals;
  const deadline = Date.now() + budgetMs;
  while (Date.now() < deadline) {
    const events = await outbox.claim(BATCH);
    if (events.length === 0) break;
    const errors = await Promise.all(events.map((e) => post(config, e, send)));
    await outbox.record(events.map((e, i) => ({ id: e.id, error: errors[i] })));
    const failed = errors.filter((e) => e !== null).length;
    totals.failed += failed;
    totals.delivered += events.length - failed;
    if (events.length < BATCH) break;
  }
  return totals;
}

/** The outbox in the database, as the service role. */
export function outboxIn(sql: Sql): Outbox {
  return {
    claim: (limit) =>
      queryAs<BillingEvent[]>(
        sql,
        { kind: "service" },
        (tx) =>
          tx`select id, account_id, type, data, created_at from tollgate.claim_billing_events(${limit})`,
      ),
    record: async (results) => {
      await queryAs(
        sql,
        { kind: "service" },
        (tx) => tx`select tollgate.record_billing_event_deliveries(${tx.json(results)})`,
      );
    },
  };
}

/** The handler's dependency: deliver with this database and webhook configuration. */
export function deliverWith(sql: Sql, config: WebhookConfig | null): () => Promise<DeliverResponse> {
  return () => deliver(config, outboxIn(sql));
}
