/**
 * queryAs, the two-round-trip transaction the consume path uses: the role, claims and RLS apply to its statement,
 * a failing statement leaves nothing behind, and the pooled connection comes back clean.
 */
import assert from "node:assert/strict";
import { createPool, queryAs } from "../../supabase/functions/_tollgate/db.ts";
import { HttpError } from "../../supabase/functions/_tollgate/errors.ts";
import { db, DB_URL, newUser } from "./_helpers.ts";

const admin = db();
const pool = createPool(DB_URL, { max: 1 });

Deno.test("queryAs runs the statement as the user's role with their claims, under RLS", async () => {
  const me = await newUser(admin);
  await newUser(admin);
  const caller = { kind: "user" as const, userId: me.id, claims: { sub: me.id, role: "authenticated" } };
  const [row] = await queryAs(
    pool,
    caller,
    (tx) =>
      tx`select current_user as role, auth.uid() as uid, (select count(*)::int from public.accounts) as visible`,
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
      (tx) => tx`select public.consume_credits(${key}, 1000000, 'default', null, ${me.id}::uuid)`,
      me.id,
    ),
    (e: unknown) => e instanceof HttpError && e.status === 402,
  );
  const [{ n }] = await admin`select count(*)::int as n from public.idempotency_keys where key = ${key}`;
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
    (tx) => tx`select public.consume_credits(${key}, 1, 'unlimited', null, ${me.id}::uuid)`,
    me.id,
  );
  const [{ balance }] = await admin`select balance::int from public.accounts where user_id = ${me.id}`;
  assert.equal(balance, 2);
});

Deno.test({
  name: "close the database connections",
  fn: async () => {
    await pool.end();
    await admin.end();
  },
  sanitizeResources: false,
});
