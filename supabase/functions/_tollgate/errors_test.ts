import assert from "node:assert/strict";
import { fromDatabaseError } from "./errors.ts";

Deno.test("a business SQLSTATE keeps its message and JSON details", () => {
  const e = fromDatabaseError({
    code: "TG402",
    message: "Cannot consume credits: balance is 3, 5 required",
    detail: '{"balance":3,"required":5}',
  });
  assert.equal(e.status, 402);
  assert.equal(e.code, "insufficient_credits");
  assert.deepEqual(e.details, { balance: 3, required: 5 });
});

Deno.test("a quota error carries Retry-After from its details", () => {
  const e = fromDatabaseError({ code: "TG429", message: "Quota exceeded", detail: '{"retry_after":42}' });
  assert.equal(e.status, 429);
  assert.equal(e.headers?.["Retry-After"], "42");
});

Deno.test("a member over their cap is 429 member_cap_exceeded, with its details and Retry-After", () => {
  const e = fromDatabaseError({
    code: "TGM29",
    message: "Cannot consume credits: member cap is 10 per day, 9 used, 2 required",
    detail:
      '{"cap":10,"used":9,"required":2,"period":"day","resets_at":"2027-01-02T00:00:00+00:00","retry_after":60}',
  });
  assert.deepEqual([e.status, e.code, e.headers?.["Retry-After"]], [429, "member_cap_exceeded", "60"]);
  assert.equal(e.details?.cap, 10);
});

Deno.test("a membership rule refused is 403 or 404 with its message, never 500", () => {
  for (
    const [code, status] of [["TGM01", 403], ["TGM02", 403], ["TGM03", 403], ["TGM04", 404], ["TGM05", 403], [
      "TGM06",
      404,
    ]] as const
  ) {
    const e = fromDatabaseError({ code, message: "Cannot change members: rule" });
    assert.deepEqual([e.status, e.message], [status, "Cannot change members: rule"], code);
  }
});

Deno.test("a lost connection is 503 with Retry-After, anything else a 500 that hides the message", () => {
  assert.equal(fromDatabaseError({ code: "ECONNREFUSED", message: "connect" }).status, 503);
  assert.equal(fromDatabaseError({ code: "57P01", message: "terminating connection" }).status, 503);
  const internal = fromDatabaseError({ code: "42P01", message: "relation secret_table does not exist" });
  assert.equal(internal.status, 500);
  assert.doesNotMatch(internal.message, /secret_table/);
});

Deno.test("values the database refuses (U+0000, bad escapes, deep nesting, bad formats, ranges) are 400, never 500", () => {
  for (const code of ["22021", "22P05", "54001", "22P02", "22008", "22003"]) {
    const e = fromDatabaseError({ code, message: 'invalid input syntax for type uuid: "secret"' });
    assert.equal(e.status, 400, code);
    assert.equal(e.code, "invalid_request", code);
    assert.match(e.message, /^Invalid request: /, code);
    assert.doesNotMatch(e.message, /secret/, code);
  }
});
