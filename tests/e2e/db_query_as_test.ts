/**
 * queryAs, the two-round-trip transaction the consume path uses: the role, claims and RLS apply to its statement,
 * a failing statement leaves nothing behind, and the pooled connection comes back clean.
 */
import assert from "node:assert/strict";
import { createPool, queryAs } from "../../supabase/functions/_tollgate/db.ts";
import { HttpError } from "../../supabase/functions/_tollgate/errors.ts";
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
