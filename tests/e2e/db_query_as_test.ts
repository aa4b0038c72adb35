/**
 * queryAs, the transaction every function calls the database through: the role, claims and RLS apply to its
 * statement, a failing statement leaves nothing behind, the pooled connection comes back clean, and it takes 2
 * round trips with prepared statements and 3 without (behind a transaction pooler).
 */
import assert from "node:assert/strict";
import { createPool, queryAs } from "../../supabase/functions/_tollgate/db.ts";
import { HttpError } from "../../supabase/functions/_tollgate/errors.ts";
import { countingProxy, newCounts } from "../../bench/wire.ts";
import { db, FUNCTIONS_DB_PREPARE, FUNCTIONS_DB_URL, newUser } from "./_helpers.ts";
import type { Caller } from "../../supabase/functions/_tollgate/auth.ts";

const admin = db();
/** The functions' own database URL and prepare setting: behind pgbouncer in the pooler run. */
const pool = createPool(FUNCTIONS_DB_URL, { max: 1, prepare: FUNCTIONS_DB_PREPARE });

Deno.test("queryAs runs the statement as the user's role with their claims, under RLS", async () => {
  const me = await newUser(admin);
  await newUser(admin);
  const caller = { kind: "user" as const, userId: me.id, claims: { sub: me.id, role: "authenticated" } };
  const [row] = await queryAs(
    pool,
    caller,
    (tx) =>
      tx`select current_user as role, auth.uid() as uid, (select count(*)::int from tollgate.accounts) as visible`,
  );
  assert.deepEqual(row, { role: "authenticated", uid: me.id, visible: 1 });
});

Deno.test("queryAs hands over claims that carry quotes, backslashes and SQL exactly, as data", async () => {
  const me = await newUser(admin);
  const tricky = {
    sub: me.id,
    role: "authenticated",
    name: String.raw`O'Brien \' \\ E'x' $$ $q$ \u0000 "quoted"`,
    injection: `', true); select set_config('role', 'service_role', false); --`,
    lines: "one\ntwo\ttab",
    unicode: "Zoë 🚀 \u2028",
  };
  const caller = { kind: "user" as const, userId: me.id, claims: tricky };
  const [row] = await queryAs(
    pool,
    caller,
    (tx) => tx`select current_setting('request.jwt.claims')::jsonb as claims, current_user as role`,
  );
  assert.deepEqual(row.claims, tricky);
  assert.equal(row.role, "authenticated");
  // Nothing of the injection ran: the session role outside the transaction is untouched.
  const [{ role }] = await pool`select current_setting('role') as role`;
  assert.equal(role, "none");
});

Deno.test("queryAs answers a statement the server cannot parse with its error and leaves the connection clean", async () => {
  await assert.rejects(
    queryAs(
      pool,
      { kind: "service" },
      (tx) => tx`select tollgate.no_such_function(${1}::int)`,
      crypto.randomUUID(),
    ),
    (e: unknown) => e instanceof HttpError,
  );
  // Left in the aborted transaction, this would fail too.
  const [row] = await pool`select current_user as u, current_setting('request.jwt.claims', true) as claims`;
  assert.deepEqual(row, { u: "postgres", claims: "" });
});

Deno.test("queryAs takes 2 round trips with prepared statements and 3 without, as the consume path sends it", async () => {
  const me = await newUser(admin);
  // Prepared statements only where the functions use them: behind pgbouncer a named statement would vanish.
  for (const prepare of FUNCTIONS_DB_PREPARE ? [true, false] : [false]) {
    const counts = newCounts();
    const proxy = countingProxy(new URL(FUNCTIONS_DB_URL), counts);
    const counted = createPool(proxy.url, { max: 1, prepare });
    try {
      const consume = (key: string) =>
        queryAs(
          counted,
          { kind: "service" },
          (tx) =>
            tx`select tollgate.consume_credits(p_idempotency_key => ${key}, p_amount => ${0},
                 p_feature => ${"unlimited"}, p_metadata => ${null}, p_user_id => ${me.id}) as result`,
          me.id,
        );
      await consume(crypto.randomUUID()); // connects and, with prepare, prepares the statements
      const before = counts.flushes;
      for (let i = 0; i < 5; i++) await consume(crypto.randomUUID());
      const last = counts.trace.slice(-(prepare ? 2 : 3)).join(" → ");
      assert.equal((counts.flushes - before) / 5, prepare ? 2 : 3, `prepare: ${prepare}, last: ${last}`);
    } finally {
      await counted.end();
      proxy.close();
    }
  }
});

Deno.test("queryAs as the service role names the user in the claims", async () => {
  const someone = await newUser(admin);
  const [row] = await queryAs(
    pool,
    { kind: "service" },
    (tx) => tx`select current_user as role, auth.role() as claim_role, auth.uid() as uid`,
    someone.id,
  );
  assert.deepEqual(row, { role: "service_role", claim_role: "service_role", uid: someone.id });
});

Deno.test("queryAs leaves nothing behind when its statement fails, and the connection is reusable", async () => {
  const me = await newUser(admin);
  const caller = { kind: "service" as const };
  const key = `fails-${crypto.randomUUID()}`;
  await assert.rejects(
    queryAs(
      pool,
      caller,
      (tx) => tx`select tollgate.consume_credits(${key}, 1000000, 'default', null, ${me.id}::uuid)`,
      me.id,
    ),
    (e: unknown) => e instanceof HttpError && e.status === 402,
  );
  const [{ n }] = await admin`select count(*)::int as n from tollgate.idempotency_keys where key = ${key}`;
  assert.equal(n, 0);
  // The only pooled connection is idle again, not stuck in the failed transaction.
  const [row] = await queryAs(pool, caller, (tx) => tx`select current_setting('role') as role`, me.id);
  assert.equal(row.role, "service_role");
  const [{ outside }] = await pool`select current_user as outside`;
  assert.equal(outside, "postgres");
});

Deno.test("queryAs commits what its statement wrote", async () => {
  const me = await newUser(admin);
  const key = `commits-${crypto.randomUUID()}`;
  await queryAs(
    pool,
    { kind: "service" },
    (tx) => tx`select tollgate.consume_credits(${key}, 1, 'unlimited', null, ${me.id}::uuid)`,
    me.id,
  );
  const [{ balance }] = await admin`select balance::int from tollgate.accounts where id = ${me.id}`;
  assert.equal(balance, 2);
});

Deno.test("200 concurrent queryAs calls of two users and the service never see each other's role or claims", async () => {
  const alice = await newUser(admin);
  const bob = await newUser(admin);
  const asUser = (id: string): Caller => ({
    kind: "user",
    userId: id,
    claims: { sub: id, role: "authenticated" },
  });
  const callers: [Caller, string, string][] = [
    [asUser(alice.id), alice.id, "authenticated"],
    [asUser(bob.id), bob.id, "authenticated"],
    [{ kind: "service" }, bob.id, "service_role"],
  ];
  // More connections than pgbouncer's server pool, so server connections change hands between transactions.
  const wide = createPool(FUNCTIONS_DB_URL, { max: 20, prepare: FUNCTIONS_DB_PREPARE });
  try {
    const seen = await Promise.all(Array.from({ length: 200 }, async (_, i) => {
      const [caller, uid, role] = callers[i % callers.length];
      const [row] = await queryAs(
        wide,
        caller,
        (tx) =>
          tx`select current_user as role, auth.uid() as uid, auth.role() as claim_role,
                    (select count(*)::int from tollgate.accounts) as visible, pg_sleep(0.001) is null as slept`,
        uid,
      );
      return { expected: { role, uid, claim_role: role }, row };
    }));
    for (const { expected, row } of seen) {
      assert.deepEqual({ role: row.role, uid: row.uid, claim_role: row.claim_role }, expected);
      if (expected.role === "authenticated") {
        assert.equal(row.visible, 1, "RLS: a user sees their own account only");
      }
    }
    // Outside queryAs the connections are back to postgres, with no claims left behind.
    const rows = await Promise.all(
      Array.from({ length: 20 }, () => wide`select current_user as u, auth.uid() as uid`),
    );
    for (const [r] of rows) assert.deepEqual({ u: r.u, uid: r.uid }, { u: "postgres", uid: null });
  } finally {
    await wide.end();
  }
});

Deno.test({
  name: "teardown: close the database connections",
  fn: async () => {
    await pool.end();
    await admin.end();
  },
  sanitizeResources: false,
});
