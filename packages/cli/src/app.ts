/**
 * The app's side: its supabase/ folder as install and uninstall find it, the manifest of what Tollgate wrote
 * there (supabase/tollgate.json, so an upgrade replaces only files nobody changed and uninstall removes
 * exactly them), and applying a checked plan.
 */
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";

export const MANIFEST = "tollgate.json";

/**
 * What an install wrote: the names it gave the functions, its files and its config.toml block by sha256, and
 * whether it (rather than the app) put "tollgate" into `[api] schemas`.
 */
export interface Manifest {
  version: string;
  prefix: string;
  functions: string[];
  files: Record<string, string>;
  config: string;
  added_schema: boolean;
}

export interface App {
  /** The app's supabase/ folder. */
  supabase: string;
  config: string;
  /** File names in supabase/migrations/. */
  migrations: string[];
  manifest: Manifest | null;
}

/** One file to write or delete, by path inside supabase/. */
export type Change =
  | { path: string; action: "add" | "update"; bytes: Uint8Array }
  | { path: string; action: "delete" };

/** What a command would do, checked in full before anything is written; any refusal means nothing is. */
export interface Plan {
  changes: Change[];
  refusals: string[];
}

export function sha256(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A file's bytes, or null when there is none. */
export function readIfExists(path: string): Uint8Array | null {
  try {
    return Deno.readFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.IsADirectory) return null;
    throw error;
  }
}

export function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

function parseManifest(text: string): Manifest | null {
  try {
    const m = JSON.parse(text);
    const ok = typeof m?.version === "string" && typeof m.prefix === "string" && Array.isArray(m.functions) &&
      typeof m.files === "object" && m.files !== null && typeof m.config === "string" &&
      typeof m.added_schema === "boolean";
    return ok ? m : null;
  } catch {
    return null;
  }
}

/** The manifest as written: keys in a fixed order, files sorted, so the same install writes the same bytes. */
export function renderManifest(m: Manifest): string {
  const files = Object.fromEntries(Object.entries(m.files).sort(([a], [b]) => (a < b ? -1 : 1)));
  return `${JSON.stringify({ ...m, files }, null, 2)}\n`;
}

/** Reads the app at `root` (the folder holding supabase/), or says why it cannot be installed into. */
export function readApp(root: string): App | string {
  const supabase = join(root, "supabase");
  if (!isDirectory(supabase)) {
    return isDirectory(root) && readIfExists(join(root, "config.toml"))
      ? `${root} looks like a supabase/ folder: pass the folder that holds it`
      : `${root} has no supabase/ folder: pass the app's root (run \`supabase init\` there first)`;
  }
  const config = readIfExists(join(supabase, "config.toml"));
  if (!config) return `${supabase} has no config.toml: run \`supabase init\` in ${root} first`;
  let migrations: string[] = [];
  if (isDirectory(join(supabase, "migrations"))) {
    migrations = [...Deno.readDirSync(join(supabase, "migrations"))].filter((e) => e.isFile).map((e) =>
      e.name
    );
  }
  const manifestText = readIfExists(join(supabase, MANIFEST));
  const manifest = manifestText ? parseManifest(new TextDecoder().decode(manifestText)) : null;
  if (manifestText && !manifest) {
    return `${join(supabase, MANIFEST)} is not Tollgate's manifest: move it aside`;
  }
  return { supabase, config: new TextDecoder().decode(config), migrations, manifest };
}

/** Writes and deletes what the plan says; folders a deletion empties under supabase/functions/ go too. */
export function applyPlan(supabase: string, changes: Change[]): void {
  for (const c of changes) {
    const path = join(supabase, c.path);
    if (c.action === "delete") {
      Deno.removeSync(path);
      for (let dir = dirname(c.path); dir.startsWith("functions/"); dir = dirname(dir)) {
        if ([...Deno.readDirSync(join(supabase, dir))].length > 0) break;
        Deno.removeSync(join(supabase, dir));
      }
    } else {
      Deno.mkdirSync(dirname(path), { recursive: true });
      Deno.writeFileSync(path, c.bytes);
    }
  }
}
