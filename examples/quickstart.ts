/**
 * Tollgate end to end on the local stack. With `npm start` running in another terminal:
 *
 *   npm run quickstart
 *
 * It creates a user, buys a pack of 500 credits through a signed test `checkout.session.completed` event (what
 * Stripe sends after a paid Checkout), holds credits for a job with consume-credit, settles the hold with the AI
 * call's usage through log-ai-usage, and prints the user's balance history from `credit_ledger`, read as that user under RLS.
 */
import postgres from "postgres";
import Stripe from "stripe";
import { createClient } from "@supabase/supabase-js";
import { createTollgateClient } from "../packages/client/src/mod.ts";
import { LOCAL_ANON_KEY } from "../scripts/lib/keys.ts";
import { loadFunctionsEnv, userToken } from "../scripts/lib/stack.ts";

export interface QuickstartConfig {
  /** The project URL; functions live under /functions/v1. */
  url: string;
  dbUrl: string;
  anonKey: string;
  webhookSecret: string;
  log: (line: string) => void;
}

/** The local stack's defaults; TOLLGATE_URL, TOLLGATE_DB_URL (or SUPABASE_DB_URL) and STRIPE_WEBHOOK_SECRET override. */
export function localConfig(): QuickstartConfig {
  const webhookSecret = Deno.env.get("STRIPE_WEBHOOK_SECRET") ?? loadFunctionsEnv().STRIPE_WEBHOOK_SECRET;
  if (!webhookSecret) {
    throw new Error("STRIPE_WEBHOOK_SECRET is not set and supabase/functions/.env has none");
  }
  return {
    url: Deno.env.get("TOLLGATE_URL") ?? "http://127.0.0.1:54321",
    dbUrl: Deno.env.get("TOLLGATE_DB_URL") ?? Deno.env.get("SUPABASE_DB_URL") ??
      "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
    anonKey: Deno.env.get("TOLLGATE_ANON_KEY") ?? LOCAL_ANON_KEY,
    webhookSecret,
    log: console.log,
  };
}

export interface LedgerRow {
  seq: number;
  reason: string;
  delta: number;
  balance_after: number;
  idempotency_key: string | null;
}

export interface QuickstartResult {
  userId: string;
  ledger: LedgerRow[];
}

/** Sends what Stripe sends when a Checkout payment for a credit pack succeeds, signed like Stripe signs it. */
async function buyCreditPack(cfg: QuickstartConfig, userId: string, credits: number): Promise<void> {
  const id = crypto.randomUUID().replaceAll("-", "");
  const payload = JSON.stringify({
    id: `evt_quickstart_${id}`,
    object: "event",
    type: "checkout.session.completed",
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    data: {
      object: {
        id: `cs_test_${id}`,
        object: "checkout.session",
        mode: "payment",
        payment_status: "paid",
        status: "complete",
        client_reference_id: userId,
        customer: `cus_quickstart_${id.slice(0, 14)}`,
        payment_intent: `pi_quickstart_${id.slice(0, 14)}`,
        amount_total: 500,
        currency: "usd",
        metadata: { credits: String(credits) },
      },
    },
  });
  // The SDK's test helper signs with the endpoint secret exactly as Stripe does (t=...,v1=HMAC-SHA256).
  const signature = await new Stripe("sk_test_quickstart").webhooks.generateTestHeaderStringAsync({
    payload,
    secret: cfg.webhookSecret,
  });
  const res = await fetch(`${cfg.url}/functions/v1/stripe-webhook`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Stripe-Signature": signature },
    body: payload,
  });
  const answer = await res.text();
  if (res.status !== 200) throw new Error(`stripe-webhook answered ${res.status}: ${answer}`);
}

/**
 * The user's ledger, read the way the browser reads it: as role `authenticated` with the user's claims, so RLS
 * returns their rows only (no `where user_id` needed). On a hosted project that is `supabase.schema("tollgate")
 *   .from("credit_ledger").select("seq, reason, delta, balance_after, idempotency_key").order("seq")`.
 */
async function ledgerAsUser(cfg: QuickstartConfig, userId: string): Promise<LedgerRow[]> {
  const sql = postgres(cfg.dbUrl, { max: 1, onnotice: () => {} });
  try {
    return await sql.begin(async (tx) => {
      await tx`select set_config('role', 'authenticated', true),
                      set_config('request.jwt.claims', ${
        JSON.stringify({ sub: userId, role: "authenticated" })
      }, true)`;
      const rows = await tx`
        select seq, reason, delta, balance_after, idempotency_key from tollgate.credit_ledger order by seq`;
      return rows.map((r) => ({
        seq: Number(r.seq),
        reason: r.reason,
        delta: Number(r.delta),
        balance_after: Number(r.balance_after),
        idempotency_key: r.idempotency_key,
      }));
    }) as LedgerRow[];
  } finally {
    await sql.end();
  }
}

export async function runQuickstart(cfg: QuickstartConfig): Promise<QuickstartResult> {
  const { log } = cfg;

  // 1. A user. Locally `npm run token` does this; on a hosted project the user signs in with Supabase Auth.
  const userId = crypto.randomUUID();
  const token = await userToken(cfg.dbUrl, userId, `quickstart-${userId.slice(0, 8)}@example.com`);
  log(`1. created user ${userId} (the signup trigger opened their account on the free plan)`);

  // The app's client: supabase-js with the user's session, and Tollgate on top of it.
  const supabase = createClient(cfg.url, cfg.anonKey, { accessToken: () => Promise.resolve(token) });
  const tollgate = createTollgateClient(supabase);

  // 2. Buy a credit pack: Stripe calls the webhook, which grants a top-up lot.
  await buyCreditPack(cfg, userId, 500);
  log("2. bought 500 credits: a signed checkout.session.completed event reached stripe-webhook");

  // 3. The gate, before the expensive work: refuses with 402/429 instead of letting it run.
  // An AI call's cost is known only afterwards: hold up to 10 credits, call the model, settle with what it used.
  const job = `quickstart-job-${userId.slice(0, 8)}`;
  const hold = await tollgate.consumeCredit({
    idempotency_key: job,
    amount: 10,
    feature: "quickstart",
    hold: true,
  });
  log(`3. consume-credit: ${hold.held} credits held for ${job}, ${hold.balance} still available`);

  const usage = await tollgate.logAiUsage({
    request_id: job,
    hold_id: hold.hold_id,
    model: "gpt-4o",
    provider: "openai",
    feature: "quickstart",
    input_tokens: 12_000,
    output_tokens: 3_500,
    latency_ms: 840,
  });
  log(
    `4. log-ai-usage settles the hold: cost $${usage.cost_usd}${
      usage.unpriced ? " (model unpriced)" : ""
    }, ` +
      `${usage.credits_charged} credits charged, ${usage.hold_released} released, balance ${usage.balance}`,
  );

  const ledger = await ledgerAsUser(cfg, userId);
  log("5. credit_ledger, read as the user under RLS:");
  log("   seq  reason      delta  balance_after  key");
  for (const row of ledger) {
    const delta = row.delta > 0 ? `+${row.delta}` : String(row.delta);
    log(
      `   ${String(row.seq).padEnd(4)} ${row.reason.padEnd(10)} ${delta.padStart(6)}  ${
        String(row.balance_after).padStart(13)
      }  ${row.idempotency_key ?? ""}`,
    );
  }
  return { userId, ledger };
}

if (import.meta.main) {
  try {
    await runQuickstart(localConfig());
  } catch (error) {
    console.error(
      `Quickstart failed: is \`npm start\` running?\n${error instanceof Error ? error.message : error}`,
    );
    Deno.exit(1);
  }
}
