/**
 * Tollgate's entries in an app's supabase/config.toml, edited as text so every other byte stays as it was:
 * "tollgate" added to (and removed from) `[api] schemas`, and the `[functions.<name>]` tables kept in one
 * marked block. Every edit is checked with a TOML parser: the edited file must mean exactly the original plus
 * (or minus) Tollgate's entries, or nothing is written.
 */
import { parse, type TomlTable, type TomlValue } from "smol-toml";
import { arrayItems, statements, TomlTextError } from "./toml_text.ts";

/** The schema Tollgate lives in, which PostgREST must expose. */
export const SCHEMA = "tollgate";
/** What Supabase serves when `[api] schemas` is not set. */
const DEFAULT_SCHEMAS = ["public", "graphql_public"];
const BEGIN = "# >>> tollgate >>>";
const END = "# <<< tollgate <<<";
const BLOCK_HEADER = `${BEGIN} written by \`npx tollgate install\`, which refuses to run if this block was ` +
  "edited; `npx tollgate uninstall` removes it";
/** The line install adds to an `[api]` table that has no `schemas` (marked, so uninstall knows it is its own). */
const SCHEMAS_LINE = `schemas = ${
  tomlValue([...DEFAULT_SCHEMAS, SCHEMA])
} # added by \`npx tollgate install\`\n`;

/** A `[functions.<name>]` table as Tollgate installs it. */
export interface FunctionEntry {
  name: string;
  settings: Record<string, TomlValue>;
}

/**
 * An edited config.toml, with the Tollgate block it had and the one it has now (null: none), and whether the
 * edit put "tollgate" into `[api] schemas` (uninstall takes out only what install put in).
 */
export interface ConfigEdit {
  text: string;
  oldBlock: string | null;
  newBlock: string | null;
  addedSchema: boolean;
}

export type ConfigResult = { ok: true; edit: ConfigEdit } | { ok: false; refusals: string[] };

/** A TOML value as Tollgate writes it: strings, numbers, booleans and arrays of them. */
export function tomlValue(v: TomlValue): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(", ")}]`;
  throw new Error(
    `Cannot write ${JSON.stringify(v)} into config.toml: only strings, numbers, booleans, arrays`,
  );
}

/** The block of function tables (and `[api]` when the app has none), ending with a newline. */
function renderBlock(entries: FunctionEntry[], withApi: boolean): string {
  const tables = entries.map((e) =>
    [`[functions.${e.name}]`, ...Object.entries(e.settings).map(([k, v]) => `${k} = ${tomlValue(v)}`)].join(
      "\n",
    )
  );
  if (withApi) tables.unshift(`[api]\nschemas = ${tomlValue([...DEFAULT_SCHEMAS, SCHEMA])}`);
  return `${BLOCK_HEADER}\n${tables.join("\n\n")}\n${END}\n`;
}

/**
 * The text without Tollgate's block: `base`, where the block was (`at`), whether a blank line led into it
 * (`lead`), and the block. Null when the block is damaged (one marker without the other).
 */
function splitBlock(text: string): { base: string; at: number; lead: boolean; block: string | null } | null {
  const begin = lineStarting(text, BEGIN, 0);
  const end = begin < 0 ? lineStarting(text, END, 0) : lineStarting(text, END, begin);
  if (begin < 0 && end < 0) return { base: text, at: text.length, lead: text.length > 0, block: null };
  if (begin < 0 || end < 0) return null;
  let stop = end + END.length;
  if (text[stop] === "\r") stop++;
  if (text[stop] === "\n") stop++;
  const lead = begin >= 2 && text[begin - 1] === "\n" && text[begin - 2] === "\n";
  const at = lead ? begin - 1 : begin;
  return { base: text.slice(0, at) + text.slice(stop), at, lead, block: text.slice(begin, stop) };
}

/** The offset of the first line at or after `from` that starts with `prefix`, or -1. */
function lineStarting(text: string, prefix: string, from: number): number {
  for (let i = from; i < text.length;) {
    if ((i === 0 || text[i - 1] === "\n") && text.startsWith(prefix, i)) return i;
    const next = text.indexOf("\n", i);
    if (next < 0) return -1;
    i = next + 1;
  }
  return -1;
}

/** Parses TOML, or says what is wrong with it. */
function tryParse(text: string, what: string): TomlTable | string {
  try {
    return parse(text);
  } catch (error) {
    return `${what} is not valid TOML: ${error instanceof Error ? error.message.split("\n")[0] : error}`;
  }
}

/** A canonical string for a parsed value: keys sorted, so two tables compare by meaning alone. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v instanceof Date) return `date:${v.toISOString()}`;
  if (v !== null && typeof v === "object") {
    const entries = Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(",")}}`;
  }
  return typeof v === "bigint" ? `${v}n` : JSON.stringify(v);
}

/** `v` when it is a table: a plain object (not an array, a date or a scalar). */
export function asTable(v: TomlValue | undefined): TomlTable | undefined {
  const proto = v !== null && typeof v === "object" ? Object.getPrototypeOf(v) : undefined;
  return proto === null || proto === Object.prototype ? v as TomlTable : undefined;
}

/** Checks that `text` means `expected`; a refusal otherwise. */
function verify(text: string, expected: TomlTable, action: string): ConfigResult | null {
  const actual = tryParse(text, "The edited config.toml");
  if (typeof actual === "string" || canonical(actual) !== canonical(expected)) {
    return {
      ok: false,
      refusals: [
        `Cannot ${action} config.toml safely: the edited file would not mean the original plus Tollgate's ` +
        `entries (${typeof actual === "string" ? actual : "its tables differ"}); make the edit by hand`,
      ],
    };
  }
  return null;
}

/** The `schemas` value statement of `[api]` in `text`, if any, and whether an `[api]` table header exists. */
function findSchemas(text: string) {
  const all = statements(text);
  const value = all.find((s) => s.kind === "value" && s.path.join("\0") === `api\0schemas`);
  const header = all.find((s) => s.kind === "table" && s.path.length === 1 && s.path[0] === "api");
  return { value, header };
}

/** config.toml split from Tollgate's block, the rest parsed; or why it cannot be edited. */
function readConfig(text: string) {
  const original = tryParse(text, "supabase/config.toml");
  if (typeof original === "string") return original;
  const split = splitBlock(text);
  if (!split) return "supabase/config.toml has one of Tollgate's markers without the other";
  const base = tryParse(split.base, "supabase/config.toml without Tollgate's block");
  return typeof base === "string" ? base : { split, base };
}

/**
 * Adds Tollgate to config.toml: "tollgate" in `[api] schemas` (after the app's own schemas, in the app's
 * formatting) and the block of `[functions.<name>]` tables, replaced where it was or appended at the end.
 * Refuses when the app has a `[functions.<name>]` of its own for one of them.
 */
export function addTollgate(text: string, entries: FunctionEntry[]): ConfigResult {
  const read = readConfig(text);
  if (typeof read === "string") return { ok: false, refusals: [read] };
  const { split, base: baseParsed } = read;
  const appFunctions = asTable(baseParsed.functions) ?? {};
  const taken = entries.filter((e) => e.name in appFunctions);
  if (taken.length > 0) {
    return {
      ok: false,
      refusals: taken.map((e) =>
        `supabase/config.toml already has [functions.${e.name}] of the app's own: install with --prefix`
      ),
    };
  }

  let base = split.base;
  let at = split.at;
  let withApi = false;
  const api = asTable(baseParsed.api);
  const schemas = api?.schemas;
  let insert: { at: number; text: string } | null = null;
  try {
    const found = findSchemas(base);
    if (found.value) {
      if (!Array.isArray(schemas)) {
        return { ok: false, refusals: ["supabase/config.toml has an [api] schemas that is not a list"] };
      }
      if (!schemas.includes(SCHEMA)) {
        const items = arrayItems(base, found.value.valueStart);
        const last = items.at(-1);
        insert = last
          ? { at: last.end, text: `, ${tomlValue(SCHEMA)}` }
          : { at: found.value.valueStart + 1, text: tomlValue(SCHEMA) };
      }
    } else if (found.header) {
      const lineEnd = found.header.lineEnd;
      insert = { at: lineEnd, text: base[lineEnd - 1] === "\n" ? SCHEMAS_LINE : `\n${SCHEMAS_LINE}` };
    } else if (api) {
      return {
        ok: false,
        refusals: ["supabase/config.toml defines api without an [api] table: add schemas by hand"],
      };
    } else {
      withApi = true;
    }
    if (insert) {
      base = base.slice(0, insert.at) + insert.text + base.slice(insert.at);
      if (insert.at <= at) at += insert.text.length;
    }
  } catch (error) {
    if (!(error instanceof TomlTextError)) throw error;
    return { ok: false, refusals: [`Cannot read supabase/config.toml's [api] table: ${error.message}`] };
  }

  // A first block goes at the end, after a blank line; a block already there is replaced where it is.
  const block = renderBlock(entries, withApi);
  let head = base.slice(0, at);
  if (!split.block && head.length > 0 && !head.endsWith("\n")) head += "\n";
  const lead = split.block ? split.lead : head.length > 0;
  const result = head + (lead ? "\n" : "") + block + base.slice(at);

  const expected = parse(split.base);
  const expectedApi = asTable(expected.api) ?? (expected.api = {});
  const current = Array.isArray(expectedApi.schemas) ? expectedApi.schemas : DEFAULT_SCHEMAS;
  expectedApi.schemas = current.includes(SCHEMA) ? current : [...current, SCHEMA];
  const expectedFunctions = asTable(expected.functions) ?? (expected.functions = {});
  for (const e of entries) expectedFunctions[e.name] = e.settings;
  return verify(result, expected, "merge Tollgate into") ??
    {
      ok: true,
      edit: { text: result, oldBlock: split.block, newBlock: block, addedSchema: insert !== null },
    };
}

/**
 * Takes Tollgate out of config.toml: its block (with the blank line before it) and, when `schema` (install
 * put it there), "tollgate" from `[api] schemas`, with the separator install added or the line it added.
 */
export function removeTollgate(text: string, schema: boolean): ConfigResult {
  const read = readConfig(text);
  if (typeof read === "string") return { ok: false, refusals: [read] };
  const { split, base: expected } = read;
  let result = split.base;
  const api = asTable(expected.api);
  if (schema && Array.isArray(api?.schemas) && api.schemas.includes(SCHEMA)) {
    try {
      const { value } = findSchemas(result);
      if (!value) throw new TomlTextError("no schemas statement found");
      if (result.slice(value.start, value.lineEnd) === SCHEMAS_LINE) {
        result = result.slice(0, value.start) + result.slice(value.lineEnd);
        delete api.schemas;
      } else {
        const items = arrayItems(result, value.valueStart);
        const k = items.findIndex((it) => parse(`v = ${result.slice(it.start, it.end)}`).v === SCHEMA);
        if (k < 0) throw new TomlTextError(`no "${SCHEMA}" item found in schemas`);
        const cut = k > 0
          ? { start: items[k - 1].end, end: items[k].end }
          : { start: items[k].start, end: items[k + 1]?.start ?? items[k].end };
        result = result.slice(0, cut.start) + result.slice(cut.end);
        api.schemas = api.schemas.filter((s) => s !== SCHEMA);
      }
    } catch (error) {
      if (!(error instanceof TomlTextError)) throw error;
      return { ok: false, refusals: [`Cannot read supabase/config.toml's [api] table: ${error.message}`] };
    }
  }
  return verify(result, expected, "take Tollgate out of") ??
    { ok: true, edit: { text: result, oldBlock: split.block, newBlock: null, addedSchema: false } };
}
