/**
 * Reset: N accounts whose credit period ended yesterday, each holding its unspent plan lot (what the signup
 * trigger leaves a month later, written set-based), then the scheduled reset (`call
 * tollgate.reset_monthly_quotas_in_batches(p_now)`, committing per batch) timed beside a bare INSERT ... SELECT of
 * the rows the reset writes: one plan lot and two ledger entries (expiry, grant) per account, into unindexed copies
 * of those tables. During the largest reset, users of the due cohort consume (the function's own code, in-process,
 * open-loop), and their latency is the figure users feel.
 */
import postgres from "postgres";
import { insertDueCohort } from "../scripts/lib/cohort.ts";
import { createPool } from "../supabase/functions/_tollgate/db.ts";
import { consumeWith } from "../supabase/functions/consume-credit/consume.ts";
import { openLoop, type OpenLoopResult } from "./open_loop.ts";

export interface ResetResult {
  accounts: number;
  setup_s: number;
  bare_insert_s: number;
  reset_s: number;
  accounts_rolled: number;
  credits_granted: number;
  credits_expired: number;
  /**
   * Accounts still due or not holding exactly the plan's allowance (less the credit each consume during the
   * reset took) after it (should be 0).
   */
  accounts_wrong: number;
  /** check_ledger problems among 20 of the reset accounts and 20 that consumed during it (should be 0). */
  ledger_problems_in_sample: number;
  /** Consumes by users of the due cohort offered while the reset ran (the largest size only). */
  consumes_during?: OpenLoopResult & { first_error: string | null };
}

/** Consumes offered per second during the reset, each by another user of the due cohort. */
const DURING_RATE = 50;

const seconds = (since: number) => Number(((performance.now() - since) / 1000).toFixed(2));

/** Creates `n` due accounts tagged with `tag`, bypassing the signup trigger (replica mode) but keeping the books. */
async function createDueAccounts(sql: postgres.Sql, n: number, tag: string): Promise<void> {
  // Two halves in parallel (one per core of the reference machine); ids are random, emails unique per half.
  const half = Math.ceil(n / 2);
  await Promise.all(
    [0, 1].map((part) =>
      insertDueCohort(sql, {
        domain: `${tag}.bench.example.com`,
        from: part * half,
        count: Math.min(half, n - part * half),
      })
    ),
  );
  // Steady state before timing: statistics current and hint bits set, as on a database that has lived a month.
  await sql`vacuum analyze auth.users, tollgate.accounts, tollgate.credit_lots, tollgate.credit_ledger`;
}

/** The baseline: the same rows the reset inserts, by one bare INSERT ... SELECT per table, no indexes. */
async function bareInsert(sql: postgres.Sql, now: Date): Promise<number> {
  await sql`create table if not exists bench.plain_lots (like tollgate.credit_lots including defaults)`;
  await sql`create table if not exists bench.plain_ledger (like tollgate.credit_ledger including defaults)`;
  await sql`truncate bench.plain_lots, bench.plain_ledger`;
  await sql`checkpoint`;
  const started = performance.now();
  await sql.begin(async (tx) => {
    await tx`
      insert into bench.plain_lots (account_id, source, amount, remaining, expires_at, priority, grant_key, created_at)
      select a.id, 'plan', p.monthly_credits, p.monthly_credits, a.period_end + interval '1 month', 10,
             'plan:next', ${now}
        from tollgate.accounts a join tollgate.plans p on p.id = a.plan_id
       where a.settle_at <= ${now}`;
    await tx`
      insert into bench.plain_ledger (account_id, seq, delta, balance_after, reason, idempotency_key, created_at)
      select a.id, a.ledger_seq + k, case k when 1 then -a.balance else p.monthly_credits end,
             case k when 1 then 0 else p.monthly_credits end, case k when 1 then 'expire' else 'grant' end,
             'plan:next', ${now}
        from tollgate.accounts a join tollgate.plans p on p.id = a.plan_id cross join generate_series(1, 2) k
       where a.settle_at <= ${now}`;
  });
  return seconds(started);
}

/**
 * Offers consumes of 1 credit by users `ids` of the due cohort (each once) at DURING_RATE per second until
 * `reset` settles, through `consumeWith` on a pool as the functions open it (as postgres). Adds each user whose
 * consume succeeded to `consumed`.
 */
async function consumesDuring(
  functionsDbUrl: string,
  ids: string[],
  reset: Promise<unknown>,
  consumed: string[],
): Promise<NonNullable<ResetResult["consumes_during"]>> {
  const pool = createPool(functionsDbUrl);
  const consume = consumeWith(pool);
  let i = 0;
  let firstError: string | null = null;
  try {
    const result = await openLoop({
      rate: DURING_RATE,
      seconds: 900,
      until: reset,
      send: async () => {
        const user = ids[i++];
        if (!user) throw new Error("Ran out of due users to consume as");
        try {
          await consume({ kind: "service" }, { userId: user }, {
            idempotency_key: `during-${i}`,
            amount: 1,
            feature: "default",
            hold: false,
            hold_ttl_seconds: 600,
          });
          consumed.push(user);
          return true;
        } catch (error) {
          firstError ??= error instanceof Error ? error.message : String(error);
          return false;
        }
      },
    });
    return { ...result, first_error: firstError };
  } finally {
    await pool.end();
  }
}

/**
 * Times the reset of each size, on accounts created for it (earlier sizes are already rolled, so not due); the
 * last size with consumes of due users during it.
 */
export async function runResets(opts: {
  dbUrl: string;
  functionsDbUrl: string;
  sizes: number[];
  log: (line: string) => void;
}): Promise<ResetResult[]> {
  const sql = postgres(opts.dbUrl, { max: 2, onnotice: () => {} });
  const results: ResetResult[] = [];
  try {
    for (const n of opts.sizes) {
      const tag = `reset${n}`;
      let started = performance.now();
      await createDueAccounts(sql, n, tag);
      const setup = seconds(started);
      const now = new Date();
      const bare = await bareInsert(sql, now);
      const emails = `%@${tag}.bench.example.com`;
      const dueUsers = n === opts.sizes.at(-1)
        ? (await sql<{ id: string }[]>`select id from auth.users where email like ${emails} order by random()
                                        limit 20000`).map((r) => r.id)
        : [];
      await sql`checkpoint`;
      started = performance.now();
      const resetting = sql`call tollgate.reset_monthly_quotas_in_batches(${now})`.execute();
      const consumed: string[] = [];
      const consumes = dueUsers.length
        ? await consumesDuring(opts.functionsDbUrl, dueUsers, resetting, consumed)
        : undefined;
      const [totals] = await resetting;
      const reset = seconds(started);
      // The books after the reset: every account rolled to the plan's allowance, and check_ledger (one
      // account per call, so a sample) finds nothing.
      const [{ wrong }] = await sql`
        select count(*)::int as wrong
          from tollgate.accounts a join auth.users u on u.id = a.id join tollgate.plans p on p.id = a.plan_id
         where u.email like ${emails}
           and (a.period_end <= ${now} or a.balance <> p.monthly_credits - (a.id = any(${consumed}::uuid[]))::int)`;
      const [{ problems }] = await sql`
        select count(*)::int as problems
          from ((select id from auth.users where email like ${emails} limit 20)
                union select unnest(${consumed.slice(0, 20)}::uuid[])) u
         cross join lateral tollgate.check_ledger(u.id)`;
      const r: ResetResult = {
        accounts: n,
        setup_s: setup,
        bare_insert_s: bare,
        reset_s: reset,
        accounts_rolled: Number(totals.accounts_rolled),
        credits_granted: Number(totals.credits_granted),
        credits_expired: Number(totals.credits_expired),
        accounts_wrong: wrong,
        ledger_problems_in_sample: problems,
        ...(consumes ? { consumes_during: consumes } : {}),
      };
      results.push(r);
      opts.log(
        `  reset ${n}: ${reset} s (bare INSERT ... SELECT ${bare} s, setup ${setup} s), ` +
          `rolled ${r.accounts_rolled}, wrong ${wrong}, ledger problems in a sample of ${
            dueUsers.length ? "40" : "20"
          }: ${problems}`,
      );
      if (consumes) {
        opts.log(
          `  consumes of due users during it: ${consumes.sent} at ${DURING_RATE}/s, p50 ${
            consumes.p50_ms.toFixed(1)
          } ms, p99 ${consumes.p99_ms.toFixed(1)} ms, max ${
            consumes.max_ms.toFixed(1)
          } ms, errors ${consumes.errors}` +
            (consumes.first_error ? ` (first: ${consumes.first_error})` : ""),
        );
      }
    }
  } finally {
    await sql.end();
  }
  return results;
}
