/** Tollgate's schema as a Mermaid `erDiagram`, read from the live catalogue (never from a hand-kept list). */

/** The schema drawn; tables elsewhere (auth.users) appear only as the targets of its foreign keys. */
export const SCHEMA = "tollgate";

export interface ErdColumn {
  name: string;
  type: string;
  not_null: boolean;
  pk: boolean;
  unique: boolean;
}

export interface ErdTable {
  schema: string;
  name: string;
  comment: string | null;
  partitioned: boolean;
  columns: ErdColumn[];
}

export interface ErdForeignKey {
  name: string;
  table: string;
  columns: string[];
  ref_schema: string;
  ref_table: string;
  ref_columns: string[];
  /** Every referencing column is NOT NULL: each row has exactly one parent. */
  required: boolean;
  /** The referencing columns are unique: at most one child per parent. */
  one_to_one: boolean;
  /** The referencing columns lie inside the table's primary key: the child is identified by its parent. */
  identifying: boolean;
}

export interface ErdModel {
  tables: ErdTable[];
  foreign_keys: ErdForeignKey[];
}

/** One JSON document describing the tables of the schema, their columns, keys and foreign keys, sorted. */
export const ERD_SQL = `
with tbl as (
  select c.oid, c.relname, c.relkind
    from pg_class c
   where c.relnamespace = '${SCHEMA}'::regnamespace and c.relkind in ('r', 'p') and not c.relispartition
     and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid
                                                 and d.deptype = 'e')
), pk as (
  select con.conrelid, con.conkey from pg_constraint con where con.contype = 'p'
), fk as (
  select con.conname, con.conrelid, tbl.relname as child, con.conkey, con.confrelid, con.confkey
    from pg_constraint con join tbl on tbl.oid = con.conrelid
   where con.contype = 'f'
)
select json_build_object(
  'tables', coalesce((
    select json_agg(json_build_object(
      'schema', '${SCHEMA}',
      'name', tbl.relname,
      'comment', obj_description(tbl.oid, 'pg_class'),
      'partitioned', tbl.relkind = 'p',
      'columns', (
        select json_agg(json_build_object(
          'name', a.attname,
          'type', format_type(a.atttypid, a.atttypmod),
          'not_null', a.attnotnull,
          'pk', exists (select 1 from pk where pk.conrelid = tbl.oid and a.attnum = any (pk.conkey)),
          'unique', exists (select 1 from pg_constraint u where u.conrelid = tbl.oid and u.contype = 'u'
                                                           and u.conkey = array[a.attnum])
        ) order by a.attnum)
          from pg_attribute a
         where a.attrelid = tbl.oid and a.attnum > 0 and not a.attisdropped
      )
    ) order by tbl.relname collate "C")
      from tbl
  ), '[]'::json),
  'foreign_keys', coalesce((
    select json_agg(json_build_object(
      'name', fk.conname,
      'table', fk.child,
      'columns', (select json_agg(a.attname order by k.i) from unnest(fk.conkey) with ordinality k(n, i)
                    join pg_attribute a on a.attrelid = fk.conrelid and a.attnum = k.n),
      'ref_schema', r.relnamespace::regnamespace::text,
      'ref_table', r.relname,
      'ref_columns', (select json_agg(a.attname order by k.i) from unnest(fk.confkey) with ordinality k(n, i)
                        join pg_attribute a on a.attrelid = fk.confrelid and a.attnum = k.n),
      'required', not exists (select 1 from pg_attribute a where a.attrelid = fk.conrelid
                                 and a.attnum = any (fk.conkey) and not a.attnotnull),
      'one_to_one', exists (select 1 from pg_index i where i.indrelid = fk.conrelid and i.indisunique
                               and i.indpred is null
                               and (i.indkey::int2[])::int2[] <@ fk.conkey),
      'identifying', exists (select 1 from pk where pk.conrelid = fk.conrelid and fk.conkey <@ pk.conkey)
    ) order by r.relnamespace::regnamespace::text collate "C", r.relname collate "C", fk.child collate "C",
              fk.conname collate "C")
      from fk join pg_class r on r.oid = fk.confrelid
  ), '[]'::json)
)`;

const SHORT_TYPES: Record<string, string> = {
  "timestamp with time zone": "timestamptz",
  "timestamp without time zone": "timestamp",
  "time with time zone": "timetz",
  "time without time zone": "time",
  "character varying": "varchar",
  "character": "char",
  "double precision": "float8",
  "bit varying": "varbit",
};

/** A Mermaid-safe type name (letters, digits, `_`, `-`, `[]`): typmods go, long SQL names get their short form. */
export function mermaidType(sqlType: string): string {
  const array = sqlType.endsWith("[]") ? "[]" : "";
  const base = sqlType.slice(0, sqlType.length - array.length).replace(/\(.*\)/, "").replace(`${SCHEMA}.`, "")
    .trim();
  return (SHORT_TYPES[base] ?? base).replace(/[^A-Za-z0-9_-]/g, "_") + array;
}

/** Entity name for a table: the schema's tables by name, others (auth.users) as schema_table. */
function entity(schema: string, name: string): string {
  return (schema === SCHEMA ? name : `${schema}_${name}`).replace(/[^A-Za-z0-9_-]/g, "_");
}

const quote = (text: string) => `"${text.replaceAll('"', "'")}"`;

/** The diagram itself: entities with typed columns and PK/FK/UK marks, then one line per foreign key. */
export function renderErdDiagram(model: ErdModel): string {
  const lines = ["erDiagram"];
  const fkByColumn = new Map<string, ErdForeignKey>();
  for (const fk of model.foreign_keys) {
    for (const c of fk.columns) {
      if (!fkByColumn.has(`${fk.table}.${c}`)) fkByColumn.set(`${fk.table}.${c}`, fk);
    }
  }
  for (const t of model.tables) {
    lines.push(`  ${entity(t.schema, t.name)} {`);
    for (const c of t.columns) {
      const fk = fkByColumn.get(`${t.name}.${c.name}`);
      const keys = [c.pk && "PK", fk && "FK", c.unique && !c.pk && "UK"].filter(Boolean).join(",");
      const notes = [
        c.type.includes("(") && c.type,
        !c.not_null && "nullable",
        fk &&
        `references ${fk.ref_schema === SCHEMA ? "" : `${fk.ref_schema}.`}${fk.ref_table}.${
          fk.ref_columns[fk.columns.indexOf(c.name)]
        }`,
      ].filter(Boolean).join("; ");
      lines.push(
        `    ${[mermaidType(c.type), c.name, keys, notes && quote(notes)].filter(Boolean).join(" ")}`,
      );
    }
    lines.push("  }");
  }
  // Tables outside the schema that it points at (auth.users): shown with the referenced columns only.
  const outside = new Map<string, Set<string>>();
  for (const fk of model.foreign_keys.filter((f) => f.ref_schema !== SCHEMA)) {
    const name = entity(fk.ref_schema, fk.ref_table);
    const cols = outside.get(name) ?? new Set<string>();
    fk.ref_columns.forEach((c) => cols.add(c));
    outside.set(name, cols);
  }
  for (const [name, cols] of [...outside].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`  ${name} {`);
    for (const c of [...cols].sort()) {
      lines.push(`    uuid ${c} PK ${quote(`outside ${SCHEMA}: managed by Supabase`)}`);
    }
    lines.push("  }");
  }
  for (const fk of model.foreign_keys) {
    const parent = entity(fk.ref_schema, fk.ref_table);
    const child = entity(SCHEMA, fk.table);
    const left = fk.required ? "||" : "|o";
    const right = fk.one_to_one ? "o|" : "o{";
    const line = fk.identifying ? "--" : "..";
    lines.push(`  ${parent} ${left}${line}${right} ${child} : ${quote(fk.columns.join(", "))}`);
  }
  return lines.join("\n");
}

/** docs/erd.md: the diagram and a table list with each table's comment, all from the catalogue. */
export function renderErdMarkdown(model: ErdModel): string {
  const rows = model.tables.map((t) =>
    `| \`${t.name}\`${t.partitioned ? " (partitioned)" : ""} | ${
      (t.comment ?? "").replace(/\s+/g, " ").replaceAll("|", "\\|")
    } |`
  );
  return [
    `# Tollgate schema (${SCHEMA})`,
    "",
    "<!-- Generated by `npm run generate` from the migrated database; do not edit. `npm test` fails when it is stale. -->",
    "",
    `Tables, columns (with types, \`PK\`/\`FK\`/\`UK\`), and foreign keys of the \`${SCHEMA}\` schema, read from the catalogue`,
    "of a database with every migration applied. Solid lines: the child's primary key contains the reference; dashed:",
    "a plain reference. `||` / `|o`: the reference is required / optional.",
    "",
    "```mermaid",
    renderErdDiagram(model),
    "```",
    "",
    "| table | comment |",
    "|---|---|",
    ...rows,
    "",
  ].join("\n");
}
