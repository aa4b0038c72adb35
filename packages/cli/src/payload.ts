/**
 * What Tollgate installs, read from its own supabase/ folder: the migrations, the functions (tests and local
 * files left out), the shared code in functions/_tollgate/ and each function's config.toml settings.
 */
import { basename, join, relative, resolve } from "node:path";
import { parse, type TomlTable, type TomlValue } from "smol-toml";
import { readIfExists } from "./app.ts";
import { asTable } from "./config.ts";
import { UNINSTALL } from "./migrations.ts";

/** The shared code's folder under functions/: named so it cannot collide with an app's own `_shared/`. */
export const SHARED = "_tollgate";

export interface Migration {
  /** Tollgate's file name without its version: what the app's copy is recognised by. */
  what: string;
  name: string;
  sql: string;
}

export interface TollgateFunction {
  name: string;
  /** Files by path inside the function's folder. */
  files: Map<string, Uint8Array>;
  /** Its `[functions.<name>]` settings; paths are `./functions/<name>/...` or `./functions/_tollgate/...`. */
  settings: Record<string, TomlValue>;
}

export interface Payload {
  migrations: Migration[];
  functions: TollgateFunction[];
  /** Files by path inside functions/_tollgate/. */
  shared: Map<string, Uint8Array>;
}

const MIGRATION = /^\d{14}_([a-z0-9_]+)\.sql$/;
/** Settings whose values are paths relative to supabase/. */
const PATH_SETTINGS = new Set(["import_map", "entrypoint", "static_files"]);

/** Files a deployed function does not need: tests, dotfiles (.env and caches) and node_modules. */
function shipped(name: string): boolean {
  return !name.startsWith(".") && name !== "node_modules" && !/[._]test\.[cm]?[jt]sx?$/.test(name) &&
    !["test", "tests", "__tests__"].includes(name);
}

/** Every shipped file under `dir`, by path relative to it, sorted. */
export function shippedFiles(dir: string): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const walk = (rel: string) => {
    const entries = [...Deno.readDirSync(join(dir, rel))].filter((e) => shipped(e.name));
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) walk(path);
      else if (e.isFile) files.set(path, Deno.readFileSync(join(dir, path)));
    }
  };
  walk("");
  return files;
}

/**
 * A function's settings with its paths made relative to the installed layout. A file outside both the
 * function's folder and functions/_tollgate/ (an import map at the repository root) is shipped in
 * functions/_tollgate/ and pointed at there.
 */
function placeSettings(
  supabase: string,
  name: string,
  settings: TomlTable,
  shared: Map<string, Uint8Array>,
): Record<string, TomlValue> {
  const place = (key: string, value: TomlValue): TomlValue => {
    if (Array.isArray(value)) return value.map((v) => place(key, v));
    if (typeof value !== "string") throw new Error(`[functions.${name}] ${key} is not a path`);
    const rel = relative(supabase, resolve(supabase, value));
    if (rel.startsWith(`functions/${name}/`) || rel.startsWith(`functions/${SHARED}/`)) return `./${rel}`;
    const bytes = key === "static_files" ? null : readIfExists(join(supabase, rel));
    if (!bytes) {
      throw new Error(`[functions.${name}] ${key} = "${value}" points outside supabase/functions/${name}/`);
    }
    const file = basename(rel);
    const have = shared.get(file);
    if (have && !sameBytes(have, bytes)) {
      throw new Error(`Two different files would ship as ${SHARED}/${file}`);
    }
    shared.set(file, bytes);
    return `./functions/${SHARED}/${file}`;
  };
  return Object.fromEntries(
    Object.entries(settings).map(([k, v]) => [k, PATH_SETTINGS.has(k) ? place(k, v) : v]),
  );
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Reads Tollgate's supabase/ folder. Throws on anything that cannot be installed as it is. */
export function readPayload(supabase: string): Payload {
  const migrations: Migration[] = [];
  for (
    const e of [...Deno.readDirSync(join(supabase, "migrations"))].sort((a, b) => (a.name < b.name ? -1 : 1))
  ) {
    const what = MIGRATION.exec(e.name)?.[1];
    if (!e.isFile || !what) continue;
    if (what === UNINSTALL || migrations.some((m) => m.what === what)) {
      throw new Error(`Tollgate's migration ${e.name} cannot be installed: its name ${what} is taken`);
    }
    migrations.push({ what, name: e.name, sql: Deno.readTextFileSync(join(supabase, "migrations", e.name)) });
  }

  const functionsDir = join(supabase, "functions");
  const shared = shippedFiles(join(functionsDir, SHARED));
  const config = asTable(parse(Deno.readTextFileSync(join(supabase, "config.toml"))).functions) ?? {};
  const names = [...Deno.readDirSync(functionsDir)]
    .filter((e) => e.isDirectory && /^[A-Za-z][A-Za-z0-9_-]*$/.test(e.name))
    .filter((e) => readIfExists(join(functionsDir, e.name, "index.ts")))
    .map((e) => e.name)
    .sort();
  const functions = names.map((name) => ({
    name,
    files: shippedFiles(join(functionsDir, name)),
    settings: placeSettings(supabase, name, asTable(config[name]) ?? {}, shared),
  }));
  return { migrations, functions, shared };
}
