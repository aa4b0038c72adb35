import assert from "node:assert/strict";
import { checkVersions, missingRollbacks, versionAt } from "./migration_checks.ts";

const existing = ["20261122000100_create_plans.sql", "20261122000900_create_account_on_signup.sql"];
const now = new Date("2026-11-23T03:20:05Z");

Deno.test("versions of a fresh clone (no new files) pass", () => {
  checkVersions(existing, [], now);
});

Deno.test("a new migration dated after the newest existing one passes", () => {
  checkVersions(
    [...existing, "20261123031500_create_webhooks.sql"],
    ["20261123031500_create_webhooks.sql"],
    now,
  );
});

Deno.test("a new migration dated before the newest existing one is refused with a rename to now", () => {
  const late = "20261122000500_create_webhooks.sql";
  assert.throws(
    () => checkVersions([...existing, late], [late], now),
    /dated before the newest existing one .*rename it to 20261123032005_create_webhooks\.sql/s,
  );
});

Deno.test("an old file that is already upstream is not refused even if out of order with a new one", () => {
  checkVersions([...existing, "20261122000500_create_webhooks.sql"], [], now);
});

Deno.test("a new migration when the clock is behind the newest version is told to use a later version", () => {
  const late = "20261122000500_create_webhooks.sql";
  assert.throws(
    () => checkVersions([...existing, late], [late], new Date("2026-01-01T00:00:00Z")),
    /rename it to <a version after 20261122000900>_create_webhooks\.sql/,
  );
});

Deno.test("a version used twice is refused", () => {
  assert.throws(() => checkVersions([...existing, "20261122000100_create_other.sql"], [], now), /used twice/);
});

Deno.test("a version that is not 14 digits is refused", () => {
  assert.throws(() => checkVersions(["2026112200010_create_plans.sql"], [], now), /misnamed/);
});

Deno.test("versionAt formats UTC as YYYYMMDDHHMMSS", () => {
  assert.equal(versionAt(now), "20261123032005");
});

Deno.test("missing rollbacks are named", () => {
  assert.deepEqual(missingRollbacks(existing, [existing[0]]), [existing[1]]);
});
