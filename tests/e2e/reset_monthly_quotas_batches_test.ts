/**
 * The reset in batches that commit, against the real database, at pinned times: cohorts whose periods ended in
 * December 2000 are due at P_NOW, and nothing else in the database is, so these resets touch only them.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { db, DB_URL } from "./_helpers.ts";
import { insertDueCohort, removeCohort } from "../../scripts/lib/cohort.ts";

const sql = db();
const P_NOW = new Date("2001-01-01T00:00:00Z");
const ALLOWANCE = 3; // the default plan's monthly credits, which every cohort account holds unspent
const DOMAIN = "batches.example.com";

type Totals = { accounts_rolled: number; credits_granted: number; credits_expired: number };

/** Creates a cohort `tag` of `count` due accounts whose period ends at `periodEnd`; returns their ids. */
async function cohort(tag: string, count: number, periodEnd: string): Promise<string[]> {
  await insertDueCohort(sql, { domain: `${tag}.${DOMAIN}`, count, periodEnd: new Date(periodEnd) });
  return (await sql`select id from auth.users where email like ${`%@${tag}.${DOMAIN}`}`).map((r) => r.id);
}

async function removeAll(tags: string[]): Promise<void> {
  for (const tag of tags) await removeCohort(sql, `${tag}.${DOMAIN}`);
}

/** A connection of its own (its backend pid, for watching and cancelling it), closed by `end()`. */
async function session() {
  const conn = postgres(DB_URL, { max: 1, onnotice: () => {} });
  const [{ pid }] = await conn`select pg_backend_pid() as pid`;
  return { conn, pid: pid as number, end: () => conn.end() };
}

/** `call tollgate.reset_monthly_quotas_in_batches(P_NOW, batchSize)` on `conn`, its totals as numbers. */
async function resetInBatches(conn: postgres.Sql, batchSize: number): Promise<Totals> {
  const [row] = await conn`call tollgate.reset_monthly_quotas_in_batches(${P_NOW}, ${batchSize})`;
  return {
    accounts_rolled: Number(row.accounts_rolled),
    credits_granted: Number(row.credits_granted),
    credits_expired: Number(row.credits_expired),
  };
}

/** Polls `check` every few milliseconds until it is true (or fails after 60 s). */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** How many of `ids` have been rolled past P_NOW, as other connections see it (committed). */
async function rolled(ids: string[]): Promise<number> {
  const [{ n }] = await sql`select count(*)::int as n from tollgate.accounts
                             where id = any(${ids}::uuid[]) and period_end > ${P_NOW}`;
  return n;
}

/** Plan grants per account among `ids` (the cohort's own grant plus one per period rolled), as [count, n]. */
async function grantsPerAccount(ids: string[]): Promise<[number, number][]> {
  const rows = await sql`
    select g.n, count(*)::int as accounts
      from (select l.account_id, count(*)::int as n from tollgate.credit_ledger l
             where l.account_id = any(${ids}::uuid[]) and l.reason = 'grant' and l.idempotency_key like 'plan:%'
             group by l.account_id) g
     group by g.n order by g.n`;
  return rows.map((r) => [r.n, r.accounts]);
}

async function ledgerProblems(ids: string[]): Promise<unknown[]> {
  return [
    ...await sql`select p.* from unnest(${ids}::uuid[]) i(id) cross join lateral tollgate.check_ledger(i.id) p`,
  ];
}

Deno.test("a due user whose batch has committed consumes while the reset is still running", async () => {
  const first = await cohort("first", 1, "2000-11-01T00:00:00Z");
  const fillers = await cohort("fill", 20_000, "2000-12-01T00:00:00Z");
  const last = await cohort("last", 1, "2000-12-31T00:00:00Z");
  const r = await session();
  try {
    let finished = false;
    const resetting = resetInBatches(r.conn, 500).finally(() => finished = true);
    // The account due earliest is in the first batch; once that batch is committed, its user consumes.
    await until("the first batch has committed", async () => await rolled(first) === 1);
    await sql`select tollgate._consume_credits(${first[0]}, 'batches-first', 1, 'default', null, ${P_NOW})`;
    assert.equal(finished, false, "the reset was still running when the first batch's user had consumed");
    // The account due last is in a batch not yet reached: its own consume settles it and does not wait either.
    await sql`select tollgate._consume_credits(${last[0]}, 'batches-last', 1, 'default', null, ${P_NOW})`;
    assert.equal(finished, false, "the reset was still running when the last batch's user had consumed");

    const totals = await resetting;
    assert.equal(totals.accounts_rolled, fillers.length + 1, "every account but the one its consume settled");
    const all = [...first, ...fillers, ...last];
    assert.equal(await rolled(all), all.length, "every account is in the period containing P_NOW");
    assert.deepEqual(await grantsPerAccount(all), [[2, all.length]], "one period grant for every account");
    const balances = await sql`select a.id, a.balance from tollgate.accounts a
                                where a.id = any(${[first[0], last[0], fillers[0]]}::uuid[])`;
    const balance = new Map(balances.map((b) => [b.id, Number(b.balance)]));
    assert.deepEqual([balance.get(first[0]), balance.get(last[0]), balance.get(fillers[0])], [
      ALLOWANCE - 1,
      ALLOWANCE - 1,
      ALLOWANCE,
    ]);
    assert.deepEqual(await ledgerProblems([...first, ...last, ...fillers.slice(0, 50)]), []);
  } finally {
    await r.end();
    await removeAll(["first", "fill", "last"]);
  }
});

Deno.test("a reset stopped midway keeps its committed batches and the next run finishes the rest", async () => {
  const ids = await cohort("stop", 10_000, "2000-12-01T00:00:00Z");
  const r = await session();
  try {
    const resetting = resetInBatches(r.conn, 500);
    await until("a batch has committed", async () => await rolled(ids) > 0);
    await sql`select pg_cancel_backend(${r.pid})`;
    await assert.rejects(
      resetting,
      (e: postgres.PostgresError) => e.code === "57014",
      "the run was cancelled",
    );

    const done = await rolled(ids);
    assert.ok(done > 0 && done < ids.length, `some batches were committed before the stop, not all: ${done}`);
    assert.equal(done % 500, 0, "whole batches only: the batch in progress was rolled back entirely");
    assert.deepEqual(
      await grantsPerAccount(ids),
      [[1, ids.length - done], [2, done]].filter(([, n]) => n > 0),
    );
    assert.deepEqual([...await sql`select * from tollgate.check_ledger() limit 5`], []);

    const rest = await resetInBatches(sql, 500);
    assert.deepEqual(rest, {
      accounts_rolled: ids.length - done,
      credits_granted: (ids.length - done) * ALLOWANCE,
      credits_expired: (ids.length - done) * ALLOWANCE,
    }, "the next run settles exactly the accounts the stopped one left");
    assert.equal(await rolled(ids), ids.length);
    assert.deepEqual(await grantsPerAccount(ids), [[2, ids.length]], "no account was granted twice");
  } finally {
    await r.end();
    await removeAll(["stop"]);
  }
});

Deno.test("two resets at once take different accounts and grant each once", async () => {
  const ids = await cohort("twice", 6_000, "2000-12-01T00:00:00Z");
  const [r1, r2] = [await session(), await session()];
  try {
    const [a, b] = await Promise.all([resetInBatches(r1.conn, 200), resetInBatches(r2.conn, 200)]);
    assert.ok(
      a.accounts_rolled > 0 && b.accounts_rolled > 0,
      `both took accounts: ${JSON.stringify([a, b])}`,
    );
    assert.equal(a.accounts_rolled + b.accounts_rolled, ids.length, "no account was rolled by both");
    assert.equal(a.credits_granted + b.credits_granted, ids.length * ALLOWANCE);
    assert.equal(a.credits_expired + b.credits_expired, ids.length * ALLOWANCE);
    assert.deepEqual(await grantsPerAccount(ids), [[2, ids.length]], "one period grant for every account");
    assert.deepEqual([...await sql`select * from tollgate.check_ledger() limit 5`], []);
  } finally {
    await r1.end();
    await r2.end();
    await removeAll(["twice"]);
  }
});

Deno.test("the batches' totals add up to what each account lost and gained, and a rerun changes nothing", async () => {
  const ids = await cohort("sum", 30, "2000-12-01T00:00:00Z");
  try {
    // Before the period ends, account i spends i % 4 of its 3 credits (never more), and every fifth buys a top-up.
    let spent = 0;
    for (const [i, id] of ids.entries()) {
      const n = Math.min(i % 4, ALLOWANCE);
      if (n > 0) {
        await sql`select tollgate._consume_credits(${id}, 'sum-spend', ${n}, 'default', null,
                                                   '2000-11-20T00:00:00Z')`;
      }
      spent += n;
      if (i % 5 === 0) {
        await sql`select tollgate._grant_lot(${id}, 'top_up', 10, null, 100, 'sum-topup', '{}', '2000-11-21Z')`;
      }
    }
    const totals = await resetInBatches(sql, 7);
    assert.deepEqual(totals, {
      accounts_rolled: ids.length,
      credits_granted: ids.length * ALLOWANCE,
      credits_expired: ids.length * ALLOWANCE - spent,
    }, "five batches of 7 (the last of 2) and an empty one, summed");
    const [{ balance }] = await sql`select sum(balance)::int as balance from tollgate.accounts
                                    where id = any(${ids}::uuid[])`;
    assert.equal(balance, ids.length * ALLOWANCE + 10 * Math.ceil(ids.length / 5), "allowances plus top-ups");
    assert.deepEqual(await resetInBatches(sql, 7), {
      accounts_rolled: 0,
      credits_granted: 0,
      credits_expired: 0,
    });
    assert.deepEqual(await grantsPerAccount(ids), [[2, ids.length]]);
    assert.deepEqual(await ledgerProblems(ids), []);
  } finally {
    await removeAll(["sum"]);
  }
});

// F6: the reset once locked accounts in the statement that read their lots. A consume that committed after that
// statement's snapshot but before its lock was seen in the account row and not in the lots, so the credits it had
// spent were expired again: the balance fell below what the lots hold.
Deno.test("a consume that commits while the reset runs is settled on the lots it left", async () => {
  const fillers = await cohort("race", 20_000, "2000-12-01T00:00:00Z");
  const [x] = await cohort("racex", 1, "2000-12-31T12:00:00Z");
  const r = await session();
  const consumer = await sql.reserve();
  try {
    // Plan the reset's scans by the settle_at index, as on a large table: the account due last is reached after
    // the 20,000 due before it, whatever the table's physical order.
    await r.conn`set enable_seqscan = off`;
    await r.conn`set enable_bitmapscan = off`;
    // At 2000-12-31 the account is not due yet, so the consume only draws 1 of its 3 plan credits, and holds its lock.
    await consumer`begin`;
    await consumer`select tollgate._consume_credits(${x}, 'race-consume', 1, 'default', null, '2000-12-31T00:00Z')`;
    const resetting = r.conn`select * from tollgate.reset_monthly_quotas(${P_NOW})`.execute();
    // The reset's transaction id appears with its first row lock: its statement (and snapshot) has begun.
    await until("the reset locks its first account", async () => {
      const [a] =
        await sql`select backend_xid is not null as locking from pg_stat_activity where pid = ${r.pid}`;
      return a.locking;
    });
    await consumer`commit`;
    await resetting;

    const [account] = await sql`select balance, period_end > ${P_NOW} as rolled from tollgate.accounts
                                 where id = ${x}`;
    assert.equal(
      account.rolled,
      true,
      "the reset reached the account after the consume committed (else retry)",
    );
    assert.deepEqual(await ledgerProblems([x]), [], "balance, ledger and lots agree");
    assert.equal(Number(account.balance), ALLOWANCE, "the 2 credits left expired and the new allowance came");
    const expired =
      await sql`select delta from tollgate.credit_ledger where account_id = ${x} and reason = 'expire'`;
    assert.deepEqual(expired.map((e) => Number(e.delta)), [-2], "only the 2 unspent credits expired");
    assert.equal(await rolled(fillers), fillers.length);
  } finally {
    await consumer`rollback`.catch(() => {});
    consumer.release();
    await r.end();
    await removeAll(["race", "racex"]);
  }
});

Deno.test({
  name: "teardown: close the database connection",
  fn: () => sql.end(),
  sanitizeResources: false,
});
