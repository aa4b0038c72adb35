/**
 * stripe-import's core: which account each Stripe customer belongs to (its metadata, the operator's --map query,
 * never a guess), and the run over every customer, one database call each (tollgate.import_stripe_customer, the
 * webhook's own SQL), with ties settled as the webhook settles them. Every I/O arrives through ImportDeps.
 */
import { withCurrentSubscriptions } from "../../../supabase/functions/stripe-webhook/handle_event.ts";

/** The fields of a Stripe customer the import reads. */
export interface StripeCustomer {
  id: string;
  email?: string | null;
  metadata?: Record<string, string> | null;
}

/** Where account ids come from: metadata keys, in order, and the --map query's rows (customer id -> account ids). */
export interface Mapping {
  metadataKeys: string[];
  map: Map<string, string[]> | null;
}

/** An account named for a customer (null: none, the database's link decides), or why none can be. */
export type AccountChoice = { accountId: string | null; via: string[] } | { unmapped: string };

/** What tollgate.import_stripe_customer answers. */
export interface CustomerOutcome {
  status: "imported" | "unchanged" | "unmapped" | "conflict" | "failed" | "retrieve";
  customer_id: string;
  account_id?: string;
  linked?: boolean;
  reason?: string;
  subscription_id?: string;
  pending_applied?: number;
  subscriptions?: {
    subscription_id: string;
    status: "processed" | "unchanged" | "ignored" | "failed";
    reason?: string;
  }[];
}

export interface ImportDeps {
  /** Every customer, the list paged through. */
  customers(): AsyncIterable<StripeCustomer>;
  /** A customer's subscriptions of every status, and when the Stripe API listed them (its answer's Date). */
  subscriptions(customerId: string): Promise<{ listedAt: Date; subscriptions: unknown[] }>;
  retrieveSubscription(id: string): Promise<unknown>;
  /** One call of tollgate.import_stripe_customer in its own transaction (rolled back on a dry run). */
  importCustomer(
    call: { customerId: string; accountId: string | null; subscriptions: unknown[]; listedAt: Date },
    current: unknown[],
  ): Promise<CustomerOutcome>;
  out(line: string): void;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The account a customer's metadata and the map name: one, none, or (several, or not an id) unmapped. */
export function accountFor(customer: StripeCustomer, mapping: Mapping): AccountChoice {
  const named: { via: string; id: string }[] = [];
  for (const key of mapping.metadataKeys) {
    const value = customer.metadata?.[key]?.trim();
    if (value) named.push({ via: `metadata.${key}`, id: value });
  }
  for (const id of mapping.map?.get(customer.id) ?? []) named.push({ via: "--map", id });
  const bad = named.find((n) => !UUID.test(n.id));
  if (bad) return { unmapped: `${bad.via} is ${JSON.stringify(bad.id)}, not an account id` };
  const ids = [...new Set(named.map((n) => n.id.toLowerCase()))];
  if (ids.length > 1) {
    return { unmapped: `${named.map((n) => `${n.via} names ${n.id}`).join(", ")}: not guessed` };
  }
  return { accountId: ids[0] ?? null, via: [...new Set(named.map((n) => n.via))] };
}

/** Counts of a run, by outcome. */
export interface ImportSummary {
  customers: Record<"imported" | "unchanged" | "unmapped" | "conflict" | "failed", number>;
  subscriptions: Record<"processed" | "unchanged" | "ignored" | "failed", number>;
  pendingApplied: number;
  unmapped: { customer: StripeCustomer; reason: string }[];
}

function describe(outcome: CustomerOutcome, via: string[]): string {
  const parts: string[] = [outcome.status];
  if (outcome.account_id) {
    parts.push(
      `account ${outcome.account_id}${via.length > 0 ? ` (${via.join(", ")})` : " (linked before)"}`,
    );
  }
  if (outcome.linked) parts.push("linked");
  if (outcome.reason) parts.push(outcome.reason);
  // Counts per status; the subscriptions that were not applied, by name with the reason.
  const subs = outcome.subscriptions ?? [];
  for (const status of ["processed", "unchanged"] as const) {
    const n = subs.filter((s) => s.status === status).length;
    if (n > 0) parts.push(`${n} subscription(s) ${status === "processed" ? "applied" : status}`);
  }
  for (const s of subs.filter((s) => s.status === "ignored" || s.status === "failed")) {
    parts.push(`${s.subscription_id} ${s.status} (${s.reason})`);
  }
  if (outcome.pending_applied) parts.push(`${outcome.pending_applied} waiting webhook event(s) applied`);
  return parts.join("; ");
}

const orList = (items: string[]) =>
  items.length > 1 ? `${items.slice(0, -1).join(", ")} or ${items.at(-1)}` : items.join("");

/** Imports every customer in turn, printing one line each; returns the counts. */
export async function runImport(deps: ImportDeps, mapping: Mapping): Promise<ImportSummary> {
  const summary: ImportSummary = {
    customers: { imported: 0, unchanged: 0, unmapped: 0, conflict: 0, failed: 0 },
    subscriptions: { processed: 0, unchanged: 0, ignored: 0, failed: 0 },
    pendingApplied: 0,
    unmapped: [],
  };
  const sources = [...mapping.metadataKeys.map((k) => `metadata.${k}`), ...(mapping.map ? ["--map"] : [])];
  for await (const customer of deps.customers()) {
    const choice = accountFor(customer, mapping);
    let outcome: CustomerOutcome;
    let via: string[] = [];
    if ("unmapped" in choice) {
      outcome = { status: "unmapped", customer_id: customer.id, reason: choice.unmapped };
    } else {
      via = choice.via;
      const { listedAt, subscriptions } = await deps.subscriptions(customer.id);
      outcome = await withCurrentSubscriptions(
        (current) =>
          deps.importCustomer({
            customerId: customer.id,
            accountId: choice.accountId,
            subscriptions,
            listedAt,
          }, current),
        (id) => deps.retrieveSubscription(id),
        // Each listed subscription may tie with the webhook's latest state once, and so may waiting events.
        subscriptions.length + 5,
      );
      if (outcome.status === "unmapped") {
        outcome.reason = `no ${orList(sources) || "mapping"} names an account, and it is not linked to one`;
      }
    }
    if (outcome.status === "retrieve") throw new Error(`Unexpected answer: ${JSON.stringify(outcome)}`);
    summary.customers[outcome.status]++;
    for (const s of outcome.subscriptions ?? []) summary.subscriptions[s.status]++;
    summary.pendingApplied += outcome.pending_applied ?? 0;
    if (outcome.status === "unmapped") summary.unmapped.push({ customer, reason: outcome.reason ?? "" });
    deps.out(`  ${customer.id}  ${describe(outcome, via)}`);
  }
  return summary;
}

/** The closing lines: the unmapped customers by name, then the counts. */
export function summaryLines(summary: ImportSummary, dryRun: boolean): string[] {
  const lines: string[] = [];
  if (summary.unmapped.length > 0) {
    lines.push(
      "",
      `Unmapped customers (${summary.unmapped.length}), nothing imported for them: name their accounts in metadata ` +
        "or with --map, then run again:",
      ...summary.unmapped.map(({ customer, reason }) =>
        `  ${customer.id}  ${customer.email ?? "(no email)"}  ${reason}`
      ),
    );
  }
  const c = summary.customers;
  const s = summary.subscriptions;
  lines.push(
    "",
    `${
      dryRun ? "Dry run, nothing kept: would be " : ""
    }customers ${c.imported} imported, ${c.unchanged} unchanged, ` +
      `${c.unmapped} unmapped, ${c.conflict} conflicts, ${c.failed} failed; subscriptions ${s.processed} applied, ` +
      `${s.unchanged} unchanged, ${s.ignored} ignored, ${s.failed} failed; ${summary.pendingApplied} waiting ` +
      "webhook events applied",
  );
  return lines;
}

/** Exit code of a run: 1 when a customer or subscription could not be imported (unmapped ones are listed, not errors). */
export function exitCode(summary: ImportSummary): number {
  return summary.customers.conflict + summary.customers.failed + summary.subscriptions.failed > 0 ? 1 : 0;
}
