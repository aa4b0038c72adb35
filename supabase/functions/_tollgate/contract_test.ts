import assert from "node:assert/strict";
import { ConsumeRequest, jsonIssues, LogUsageRequest, MAX_JSON_DEPTH, parseBody } from "./contract.ts";
import { HttpError } from "./errors.ts";

/** The paths and messages parseBody reports for `body`, or [] when it passes. */
function issuesOf(schema: typeof ConsumeRequest | typeof LogUsageRequest, body: unknown) {
  try {
    parseBody(schema, body);
    return [];
  } catch (error) {
    assert.ok(error instanceof HttpError);
    assert.equal(error.status, 400);
    assert.equal(error.code, "invalid_request");
    return (error.details?.issues as { path: string[]; message: string }[]).map((
      i,
    ) => [i.path.join("."), i.message]);
  }
}

const nested = (depth: number): unknown => {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
};

Deno.test("every string field refuses U+0000 and a lone surrogate, naming the field", () => {
  const usage = { request_id: "r", model: "m", input_tokens: 1, output_tokens: 1 };
  for (const field of ["request_id", "model", "provider", "feature", "error_code", "prompt", "response"]) {
    for (const [bad, why] of [["a\u0000b", /U\+0000/], ["a\ud800b", /lone UTF-16 surrogate/]] as const) {
      const issues = issuesOf(LogUsageRequest, { ...usage, [field]: bad });
      assert.equal(issues.length, 1, `${field}: ${JSON.stringify(issues)}`);
      assert.equal(issues[0][0], field);
      assert.match(issues[0][1], why);
    }
  }
  for (const field of ["idempotency_key", "feature"]) {
    assert.deepEqual(issuesOf(ConsumeRequest, { idempotency_key: "k", [field]: "\u0000" }).map((i) => i[0]), [
      field,
    ]);
  }
});

Deno.test("a surrogate pair (an emoji) is a whole character and passes", () => {
  assert.deepEqual(
    issuesOf(ConsumeRequest, { idempotency_key: "job-\u{1F600}", metadata: { "\u{1F600}": "\u{1F600}" } }),
    [],
  );
});

Deno.test("metadata refuses U+0000 and lone surrogates in keys and values at any depth, naming the path", () => {
  assert.deepEqual(
    issuesOf(ConsumeRequest, { idempotency_key: "k", metadata: { a: { b: ["ok", "x\u0000"] } } }),
    [
      ["metadata.a.b.1", "must not contain U+0000"],
    ],
  );
  assert.deepEqual(issuesOf(ConsumeRequest, { idempotency_key: "k", metadata: { "bad\u0000key": 1 } }), [
    ["metadata.bad\u0000key", "key must not contain U+0000"],
  ]);
  assert.match(
    issuesOf(ConsumeRequest, { idempotency_key: "k", metadata: { k: "\udc00" } })[0][1],
    /surrogate/,
  );
});

Deno.test("metadata may nest 32 levels, not 33, and a number must be finite", () => {
  assert.deepEqual(issuesOf(ConsumeRequest, { idempotency_key: "k", metadata: nested(MAX_JSON_DEPTH) }), []);
  const deep = issuesOf(ConsumeRequest, { idempotency_key: "k", metadata: nested(MAX_JSON_DEPTH + 1) });
  assert.equal(deep.length, 1);
  assert.equal(deep[0][0], `metadata${".a".repeat(MAX_JSON_DEPTH)}`);
  assert.equal(deep[0][1], "must not nest deeper than 32 levels");
  assert.deepEqual(issuesOf(ConsumeRequest, { idempotency_key: "k", metadata: { n: Infinity } }), [
    ["metadata.n", "must be a finite number"],
  ]);
});

Deno.test("jsonIssues walks a value nested 20,000 deep without recursion", () => {
  const issues = jsonIssues(nested(20_000));
  assert.equal(issues.length, 1);
  assert.equal(issues[0].path.length, MAX_JSON_DEPTH);
});
