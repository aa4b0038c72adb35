import assert from "node:assert/strict";
import { applied, installedTollgate, nextVersions } from "./migrations.ts";

const NOW = new Date("2026-03-04T05:06:07.890Z");

Deno.test("new versions start now when the app's newest migration is older", () => {
  assert.deepEqual(nextVersions(["20240105093000_create_app_tables.sql"], 2, NOW), [
    "20260304050607",
    "20260304050608",
  ]);
  assert.deepEqual(nextVersions([], 1, NOW), ["20260304050607"]);
});

Deno.test("new versions start one second after an app's newest migration that is dated now or later", () => {
  for (const newest of ["20260304050607", "20261231235959"]) {
    const next = nextVersions([`${newest}_later.sql`, "20240101000000_a.sql"], 2, NOW);
    assert.ok(next[0] > newest, `${next[0]} after ${newest}`);
    assert.equal(next.length, 2);
  }
  assert.deepEqual(nextVersions(["20261231235959_new_year.sql"], 2, NOW), [
    "20270101000000",
    "20270101000001",
  ]);
});

Deno.test("an app's newest version that is no timestamp and not older than now cannot be followed", () => {
  assert.throws(() => nextVersions(["99999999999999999_x.sql"], 1, NOW), /not a YYYYMMDDHHMMSS timestamp/);
  assert.deepEqual(nextVersions(["0001_init.sql"], 1, NOW), ["20260304050607"]);
});

Deno.test("applied orders the files the CLI applies by version and ignores the rest", () => {
  assert.deepEqual(
    applied(["20240102000000_b.sql", "0001_a.sql", "notes.md", "x_y.sql", "20240101000000_c.sql"]),
    [
      "0001_a.sql",
      "20240101000000_c.sql",
      "20240102000000_b.sql",
    ],
  );
});

Deno.test("installedTollgate finds Tollgate's migrations by name, forgetting those before an uninstall", () => {
  const names = [
    "20240101000000_create_app.sql",
    "20240201000000_tollgate_create_plans.sql",
    "20240201000001_tollgate_create_accounts.sql",
    "20240301000000_tollgate_uninstall.sql",
    "20240401000000_tollgate_create_plans.sql",
  ];
  assert.deepEqual([...installedTollgate(names)], [[
    "create_plans",
    "20240401000000_tollgate_create_plans.sql",
  ]]);
  assert.deepEqual([...installedTollgate(names.slice(0, 3)).keys()], ["create_plans", "create_accounts"]);
  assert.equal(installedTollgate(names.slice(0, 4)).size, 0);
});
