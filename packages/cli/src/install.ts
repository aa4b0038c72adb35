/**
 * `tollgate install`: plans every file Tollgate writes into an app's supabase/ folder and checks all of it
 * before anything is written. Running it again plans nothing; a newer Tollgate plans only what changed.
 */
import { join } from "node:path";
import type { TomlValue } from "smol-toml";
import {
  type App,
  isDirectory,
  MANIFEST,
  type Manifest,
  type Plan,
  readIfExists,
  renderManifest,
  sha256,
} from "./app.ts";
import { addTollgate, type FunctionEntry } from "./config.ts";
import { installedName, installedTollgate, nextVersions } from "./migrations.ts";
import { type Payload, sameBytes, SHARED } from "./payload.ts";

const FUNCTION_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;

export interface InstallOptions {
  /** Installs the functions as `<prefix><name>`; default: the prefix of the install already there, or none. */
  prefix?: string;
  /** Tollgate's version, recorded in the manifest. */
  version: string;
  now: Date;
}

/** Settings with the function's own paths renamed for the prefix. */
function renamed(settings: Record<string, TomlValue>, from: string, to: string): Record<string, TomlValue> {
  const rename = (v: TomlValue): TomlValue =>
    Array.isArray(v)
      ? v.map(rename)
      : typeof v === "string" && v.startsWith(`./functions/${from}/`)
      ? `./functions/${to}/${v.slice(`./functions/${from}/`.length)}`
      : v;
  return Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, rename(v)]));
}

/** The files to write: checked against what is there, the manifest telling Tollgate's own from the app's. */
function planFiles(app: App, desired: Map<string, Uint8Array>, functions: string[], plan: Plan): void {
  const owned = app.manifest?.files ?? {};
  for (const name of functions) {
    if (isDirectory(join(app.supabase, "functions", name)) && !app.manifest?.functions.includes(name)) {
      plan.refusals.push(
        `supabase/functions/${name}/ belongs to the app: install with --prefix <p> to name Tollgate's <p>${name}`,
      );
    }
  }
  for (const [path, bytes] of desired) {
    const current = readIfExists(join(app.supabase, path));
    if (!current) plan.changes.push({ path, action: "add", bytes });
    else if (sameBytes(current, bytes)) continue;
    else if (owned[path] === sha256(current)) plan.changes.push({ path, action: "update", bytes });
    else if (owned[path]) plan.refusals.push(`supabase/${path} was changed since Tollgate installed it`);
    else plan.refusals.push(`supabase/${path} exists with other content`);
  }
  for (const [path, hash] of Object.entries(owned)) {
    if (desired.has(path)) continue;
    const current = readIfExists(join(app.supabase, path));
    if (current && sha256(current) === hash) plan.changes.push({ path, action: "delete" });
    else if (current) {
      plan.refusals.push(
        `supabase/${path} was changed since Tollgate installed it, and this version drops it`,
      );
    }
  }
}

/** The migrations the app does not have yet, versioned after its newest; refusals for the ones that differ. */
function planMigrations(app: App, payload: Payload, now: Date, plan: Plan): void {
  const installed = installedTollgate(app.migrations);
  const shipped = new Map(payload.migrations.map((m, i) => [m.what, i]));
  for (const [what, name] of installed) {
    if (!shipped.has(what)) {
      plan.refusals.push(
        `supabase/migrations/${name} is not one of this Tollgate's migrations: install the version that wrote it`,
      );
    }
  }
  const missing = payload.migrations.filter((m) => !installed.has(m.what));
  for (const m of payload.migrations) {
    const name = installed.get(m.what);
    const bytes = name ? readIfExists(join(app.supabase, "migrations", name)) : null;
    if (name && (!bytes || new TextDecoder().decode(bytes) !== m.sql)) {
      plan.refusals.push(
        `supabase/migrations/${name} differs from Tollgate's ${m.name}: a shipped migration never changes`,
      );
    }
  }
  const lastInstalled = Math.max(-1, ...[...installed.keys()].map((w) => shipped.get(w) ?? -1));
  for (const m of missing) {
    if ((shipped.get(m.what) ?? 0) < lastInstalled) {
      plan.refusals.push(`Tollgate's migration ${m.name} belongs before migrations the app already has`);
    }
  }
  try {
    const versions = nextVersions(app.migrations, missing.length, now);
    missing.forEach((m, i) => {
      const path = `migrations/${installedName(versions[i], m.what)}`;
      plan.changes.push({ path, action: "add", bytes: new TextEncoder().encode(m.sql) });
    });
  } catch (error) {
    plan.refusals.push(error instanceof Error ? error.message : String(error));
  }
}

/** Plans the install of `payload` into `app`. */
export function planInstall(app: App, payload: Payload, opts: InstallOptions): Plan {
  const plan: Plan = { changes: [], refusals: [] };
  const prefix = opts.prefix ?? app.manifest?.prefix ?? "";
  if (app.manifest && opts.prefix !== undefined && opts.prefix !== app.manifest.prefix) {
    plan.refusals.push(
      `Tollgate is installed here with --prefix "${app.manifest.prefix}": use that prefix, or uninstall first`,
    );
  }
  const names = payload.functions.map((f) => `${prefix}${f.name}`);
  for (const name of names.filter((n) => !FUNCTION_NAME.test(n))) {
    plan.refusals.push(`${name} is not a valid function name: it must match ${FUNCTION_NAME.source}`);
  }

  const desired = new Map<string, Uint8Array>();
  for (const [path, bytes] of payload.shared) desired.set(`functions/${SHARED}/${path}`, bytes);
  for (const f of payload.functions) {
    for (const [path, bytes] of f.files) desired.set(`functions/${prefix}${f.name}/${path}`, bytes);
  }
  planFiles(app, desired, names, plan);
  planMigrations(app, payload, opts.now, plan);

  const entries: FunctionEntry[] = payload.functions.map((f) => ({
    name: `${prefix}${f.name}`,
    settings: renamed(f.settings, f.name, `${prefix}${f.name}`),
  }));
  const merged = addTollgate(app.config, entries);
  let block = "";
  let addedSchema = app.manifest?.added_schema ?? false;
  if (!merged.ok) plan.refusals.push(...merged.refusals);
  else {
    const { text, oldBlock, newBlock } = merged.edit;
    block = newBlock ?? "";
    addedSchema ||= merged.edit.addedSchema;
    if (oldBlock !== null && oldBlock !== newBlock && sha256(oldBlock) !== app.manifest?.config) {
      plan.refusals.push("supabase/config.toml's Tollgate block was edited since Tollgate wrote it");
    }
    if (text !== app.config) {
      plan.changes.push({ path: "config.toml", action: "update", bytes: new TextEncoder().encode(text) });
    }
  }

  const manifest: Manifest = {
    version: opts.version,
    prefix,
    functions: names,
    files: Object.fromEntries([...desired].map(([path, bytes]) => [path, sha256(bytes)])),
    config: sha256(block),
    added_schema: addedSchema,
  };
  const text = renderManifest(manifest);
  const current = readIfExists(join(app.supabase, MANIFEST));
  if (!current || new TextDecoder().decode(current) !== text) {
    plan.changes.push({
      path: MANIFEST,
      action: current ? "update" : "add",
      bytes: new TextEncoder().encode(text),
    });
  }
  return plan;
}
