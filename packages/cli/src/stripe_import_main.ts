/**
 * `tollgate stripe-import`: the command line and its I/O. Reads STRIPE_SECRET_KEY (STRIPE_API_BASE points the
 * SDK elsewhere, as for the functions) and the database URL (--db-url or SUPABASE_DB_URL), pages through the
 * Stripe API's customers and each one's subscriptions, and calls tollgate.import_stripe_customer once per
 * customer as the service role, each call its own transaction (rolled back with --dry-run).
 */
import postgres from "postgres";
import { parseArgs } from "node:util";
import { dbPrepare } from "../../../supabase/functions/_tollgate/env.ts";
import { createStripeClient, isLiveKey } from "../../../supabase/functions/_tollgate/stripe.ts";
import { storable } from "../../../supabase/functions/stripe-webhook/event.ts";
import { retrieveSubscriptionWith } from "../../../supabase/functions/stripe-webhook/handle_event.ts";
import {
  type CustomerOutcome,
  exitCode,
  type ImportDeps,
  type Mapping,
  runImport,
  type StripeCustomer,
  summaryLines,
} from "./stripe_import.ts";

export const STRIPE_IMPORT_USAGE =
  `  tollgate stripe-import [--db-url <url>] [--map <sql>] [--metadata-key <key>]... [--dry-run]
                                                  import the Stripe customers and subscriptions of STRIPE_SECRET_KEY`;

/** Metadata keys read when no --metadata-key is given. */
export const DEFAULT_METADATA_KEYS = ["account_id", "supabase_user_id"];

export interface ImportIo {
  out(line: string): void;
  err(line: string): void;
  env(name: string): string | undefined;
}

class Usage extends Error {}

/** The Date of a Stripe API answer: the moment its listing holds for. */
function listedAt(headers: unknown): Date {
  const h = headers as { get?: (name: string) => string | null } & Record<string, string | undefined>;
  const value = typeof h?.get === "function" ? h.get("date") : h?.date;
  const date = new Date(value ?? "");
  if (!value || Number.isNaN(date.getTime())) {
    throw new Error(
      "The Stripe API answered without a Date header: the listing cannot be ordered against events",
    );
  }
  return date;
}

/** The --map query's rows, read-only: (account id, Stripe customer id); rows without a customer are skipped. */
async function readMap(sql: postgres.Sql, query: string): Promise<Map<string, string[]>> {
  const rows = await sql.begin("read only", (tx) => tx.unsafe(query).values());
  if (rows.columns.length !== 2) {
    throw new Usage(
      `--map must select two columns, the account id and the Stripe customer id; it selects ${rows.columns.length}`,
    );
  }
  const map = new Map<string, string[]>();
  for (const [account, customer] of rows as unknown as [unknown, unknown][]) {
    if (customer === null || customer === "" || account === null) continue;
    const ids = map.get(String(customer)) ?? [];
    if (!ids.includes(String(account))) ids.push(String(account));
    map.set(String(customer), ids);
  }
  return map;
}

/** Ends a dry run's transaction, carrying what the call answered. */
class RolledBack extends Error {
  constructor(readonly outcome: CustomerOutcome) {
    super("Rolled back: dry run");
  }
}

/** Runs `stripe-import` with `args`; returns the exit code (2: usage or configuration, 1: something not imported). */
export async function stripeImport(args: string[], io: ImportIo): Promise<number> {
  let sql: postgres.Sql | null = null;
  try {
    const { values } = parseArgs({
      args,
      options: {
        "db-url": { type: "string" },
        map: { type: "string" },
        "metadata-key": { type: "string", multiple: true },
        "dry-run": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: false,
    });
    if (values.help) {
      io.out(`Usage:\n${STRIPE_IMPORT_USAGE}\nDocs: docs/adoption.md`);
      return 0;
    }
    const secretKey = io.env("STRIPE_SECRET_KEY");
    if (!secretKey) {
      throw new Usage("STRIPE_SECRET_KEY is not set: export the key of the Stripe account to import");
    }
    let live: boolean;
    try {
      live = isLiveKey(secretKey);
    } catch (error) {
      throw new Usage((error as Error).message);
    }
    const dbUrl = values["db-url"] ?? io.env("SUPABASE_DB_URL");
    if (!dbUrl) throw new Usage("No database: pass --db-url <url> or set SUPABASE_DB_URL");
    const dryRun = values["dry-run"] ?? false;
    sql = postgres(dbUrl, {
      max: 1,
      prepare: dbPrepare(dbUrl, io.env("TOLLGATE_DB_PREPARE") ?? null),
      onnotice: () => {},
      connection: { application_name: "tollgate-stripe-import" },
    });
    const mapping: Mapping = {
      metadataKeys: values["metadata-key"] ?? DEFAULT_METADATA_KEYS,
      map: values.map === undefined ? null : await readMap(sql, values.map),
    };
    const stripe = createStripeClient({
      secretKey,
      apiBase: io.env("STRIPE_API_BASE") || undefined,
      maxNetworkRetries: 3,
    });
    const db = sql;
    const deps: ImportDeps = {
      customers: () => stripe.customers.list({ limit: 100 }) as AsyncIterable<StripeCustomer>,
      async subscriptions(customer) {
        const listing = stripe.subscriptions.list({ customer, status: "all", limit: 100 });
        const first = await listing;
        const subscriptions: unknown[] = [];
        for await (const s of listing) subscriptions.push(storable(s));
        return { listedAt: listedAt(first.lastResponse?.headers), subscriptions };
      },
      retrieveSubscription: retrieveSubscriptionWith(stripe),
      async importCustomer(call, current) {
        const answer = async (tx: postgres.TransactionSql) => {
          await tx`select set_config('role', 'service_role', true)`;
          const [row] = await tx<{ result: CustomerOutcome }[]>`select tollgate.import_stripe_customer(
            ${call.customerId}, ${call.accountId}, ${tx.json(call.subscriptions as postgres.JSONValue)},
            ${call.listedAt}, ${tx.json(current as postgres.JSONValue)}) as result`;
          return row.result;
        };
        if (!dryRun) return await db.begin(answer) as CustomerOutcome;
        const ended = await db.begin(async (tx) => {
          throw new RolledBack(await answer(tx));
        }).catch((error) => error);
        if (ended instanceof RolledBack) return ended.outcome;
        throw ended;
      },
      out: io.out,
    };
    io.out(
      `Importing the Stripe customers of a ${live ? "live" : "test"}-mode key` +
        `${dryRun ? " (dry run: every change is rolled back)" : ""}:`,
    );
    const summary = await runImport(deps, mapping);
    for (const line of summaryLines(summary, dryRun)) io.out(line);
    return exitCode(summary);
  } catch (error) {
    if (error instanceof Usage || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      io.err(`tollgate stripe-import: ${(error as Error).message}\nUsage:\n${STRIPE_IMPORT_USAGE}`);
      return 2;
    }
    const cause = (error as { cause?: unknown }).cause;
    io.err(
      `tollgate stripe-import failed: ${(error as Error).message}${
        cause ? ` (${(cause as Error).message ?? cause})` : ""
      }`,
    );
    io.err(
      "Customers imported before the failure stay imported, the one it was on kept nothing: run it again.",
    );
    return 1;
  } finally {
    await sql?.end();
  }
}
