import assert from "node:assert/strict";
import { dbPrepare, loadPlatformConfig } from "./env.ts";

const HOSTED: Record<string, string> = {
  SUPABASE_URL: "https://ref.supabase.co",
  SUPABASE_DB_URL: "postgresql://postgres:pw@db.ref.supabase.co:5432/postgres",
  SUPABASE_JWKS: '{"keys":[{"kty":"EC","crv":"P-256","x":"x","y":"y","kid":"k","alg":"ES256"}]}',
  SUPABASE_PUBLISHABLE_KEYS: '{"default":"sb_publishable_a","web":"sb_publishable_b"}',
  SUPABASE_SECRET_KEYS: '{"default":"sb_secret_a"}',
  SUPABASE_ANON_KEY: "eyJ.anon",
  SUPABASE_SERVICE_ROLE_KEY: "eyJ.service",
  SUPABASE_JWT_SECRET: "hosted functions never get this; Tollgate never reads it",
};
const reader = (env: Record<string, string>) => (name: string) => env[name];

Deno.test("the hosted default secrets read as hosted writes them, and SUPABASE_JWT_SECRET is never read", () => {
  const config = loadPlatformConfig(reader(HOSTED));
  assert.equal(config.dbUrl, HOSTED.SUPABASE_DB_URL);
  assert.equal(config.dbPrepare, true);
  assert.equal(config.auth.jwks.keys[0].kid, "k");
  assert.deepEqual(config.auth.publishableKeys, { default: "sb_publishable_a", web: "sb_publishable_b" });
  assert.deepEqual(config.auth.secretKeys, { default: "sb_secret_a" });
  assert.deepEqual([config.auth.anonKey, config.auth.serviceRoleKey], ["eyJ.anon", "eyJ.service"]);
  assert.equal(config.auth.jwtSecret, null);
});

Deno.test("TOLLGATE_DB_URL, TOLLGATE_DB_PREPARE and TOLLGATE_JWT_SECRET are the deployer's overrides", () => {
  const config = loadPlatformConfig(reader({
    ...HOSTED,
    TOLLGATE_DB_URL: "postgresql://postgres.ref:pw@aws-0-eu.pooler.supabase.com:6543/postgres",
    TOLLGATE_JWT_SECRET: "legacy-secret",
  }));
  assert.match(config.dbUrl, /pooler/);
  assert.equal(config.dbPrepare, false, "port 6543 is the transaction pooler");
  assert.equal(config.auth.jwtSecret, "legacy-secret");
  assert.equal(dbPrepare("postgresql://h:6432/db", "false"), false);
  assert.equal(dbPrepare("postgresql://h:6543/db", "true"), true);
  assert.throws(() => dbPrepare("postgresql://h/db", "no"), /TOLLGATE_DB_PREPARE must be true or false/);
});

Deno.test("malformed or missing platform secrets fail at cold start, naming the variable", () => {
  assert.throws(() => loadPlatformConfig(reader({ ...HOSTED, SUPABASE_URL: "" })), /SUPABASE_URL/);
  assert.throws(
    () => loadPlatformConfig(reader({ ...HOSTED, SUPABASE_JWKS: "{" })),
    /SUPABASE_JWKS is not valid/,
  );
  assert.throws(
    () => loadPlatformConfig(reader({ ...HOSTED, SUPABASE_JWKS: '{"k":1}' })),
    /JSON Web Key Set/,
  );
  assert.throws(
    () => loadPlatformConfig(reader({ ...HOSTED, SUPABASE_SECRET_KEYS: '["sb_secret_a"]' })),
    /SUPABASE_SECRET_KEYS must be a JSON object/,
  );
  const bare = loadPlatformConfig(
    reader({ ...HOSTED, SUPABASE_JWKS: '[{"kty":"EC"}]', SUPABASE_SECRET_KEYS: "" }),
  );
  assert.equal(bare.auth.jwks.keys.length, 1, "a bare array of keys is a key set too");
  assert.deepEqual(bare.auth.secretKeys, {});
});
