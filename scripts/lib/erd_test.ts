import assert from "node:assert/strict";
import {
  type ErdForeignKey,
  type ErdModel,
  mermaidType,
  renderErdDiagram,
  renderErdMarkdown,
} from "./erd.ts";

const col = (
  name: string,
  type: string,
  extra: Partial<{ not_null: boolean; pk: boolean; unique: boolean }> = {},
) => ({
  name,
  type,
  not_null: true,
  pk: false,
  unique: false,
  ...extra,
});

const fk = (extra: Partial<ErdForeignKey>): ErdForeignKey => ({
  name: "fk",
  table: "accounts",
  columns: ["plan_id"],
  ref_schema: "tollgate",
  ref_table: "plans",
  ref_columns: ["id"],
  required: true,
  one_to_one: false,
  identifying: false,
  ...extra,
});

const model: ErdModel = {
  tables: [
    {
      schema: "tollgate",
      name: "accounts",
      comment: "Tollgate: one | account",
      partitioned: false,
      columns: [
        col("user_id", "uuid", { pk: true }),
        col("plan_id", "text"),
        col("cost_usd", "numeric(20,10)", { not_null: false }),
      ],
    },
    {
      schema: "tollgate",
      name: "plans",
      comment: null,
      partitioned: true,
      columns: [col("id", "text", { pk: true })],
    },
  ],
  foreign_keys: [
    fk({
      name: "accounts_user_id_fkey",
      columns: ["user_id"],
      ref_schema: "auth",
      ref_table: "users",
      one_to_one: true,
      identifying: true,
    }),
    fk({ name: "accounts_plan_id_fkey" }),
  ],
};

Deno.test("long SQL type names become Mermaid-safe short names and typmods are dropped", () => {
  assert.equal(mermaidType("timestamp with time zone"), "timestamptz");
  assert.equal(mermaidType("numeric(20,10)"), "numeric");
  assert.equal(mermaidType("character varying(64)[]"), "varchar[]");
  assert.equal(mermaidType("tollgate.credit_source"), "credit_source");
});

Deno.test("columns carry their type, keys and notes; a dropped typmod is kept in the note", () => {
  const diagram = renderErdDiagram(model);
  assert.match(diagram, /^ {4}uuid user_id PK,FK "references auth\.users\.id"$/m);
  assert.match(diagram, /^ {4}text plan_id FK "references plans\.id"$/m);
  assert.match(diagram, /^ {4}numeric cost_usd "numeric\(20,10\); nullable"$/m);
});

Deno.test("a table outside tollgate that tollgate references is drawn with the referenced columns only", () => {
  assert.match(
    renderErdDiagram(model),
    /^ {2}auth_users \{\n {4}uuid id PK "outside tollgate: managed by Supabase"\n {2}\}$/m,
  );
});

Deno.test("relationships show optionality, uniqueness and whether the reference is part of the key", () => {
  const diagram = renderErdDiagram(model);
  assert.match(diagram, /^ {2}auth_users \|\|--o\| accounts : "user_id"$/m);
  assert.match(diagram, /^ {2}plans \|\|\.\.o\{ accounts : "plan_id"$/m);
  const optional = renderErdDiagram({ ...model, foreign_keys: [fk({ required: false })] });
  assert.match(optional, /^ {2}plans \|o\.\.o\{ accounts : "plan_id"$/m);
});

Deno.test("the markdown holds one mermaid block and a table list with escaped comments", () => {
  const md = renderErdMarkdown(model);
  assert.equal(md.match(/```mermaid\nerDiagram\n/g)?.length, 1);
  assert.match(md, /^\| `accounts` \| Tollgate: one \\\| account \|$/m);
  assert.match(md, /^\| `plans` \(partitioned\) \| {2}\|$/m);
});

Deno.test("the same model always renders the same text", () => {
  assert.equal(renderErdMarkdown(structuredClone(model)), renderErdMarkdown(model));
});
