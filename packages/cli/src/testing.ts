/** Helpers for the installer's tests: temporary apps and Tollgate sources, and byte snapshots of folders. */
import { dirname, join } from "node:path";
import { main } from "./main.ts";

/** The existing-app fixture: a Supabase project with its own tables, trigger, _shared/ and config.toml. */
export const FIXTURE = new URL("../../../tests/fixtures/existing_app", import.meta.url).pathname;
/** This repository's supabase/ folder: the real Tollgate. */
export const REPO_SUPABASE = new URL("../../../supabase", import.meta.url).pathname;

/** Every file under `dir` by relative path, as text (the trees compared here hold text only); `skip` leaves out paths. */
export function tree(dir: string, skip: (path: string) => boolean = () => false): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (rel: string) => {
    for (const e of Deno.readDirSync(join(dir, rel))) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (skip(path)) continue;
      if (e.isDirectory) walk(path);
      else if (e.isFile) files.set(path, Deno.readTextFileSync(join(dir, path)));
    }
  };
  walk("");
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Writes `files` (relative path → text) under `dir`. */
export function writeTree(dir: string, files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    Deno.mkdirSync(dirname(join(dir, path)), { recursive: true });
    Deno.writeTextFileSync(join(dir, path), text);
  }
}

const made: string[] = [];

/** A temporary folder, removed by the withTemp that runs the test. */
export function tempDir(prefix: string): string {
  const dir = Deno.makeTempDirSync({ prefix });
  made.push(dir);
  return dir;
}

/** Runs `fn`, then removes every temporary folder the helpers made. */
export async function withTemp(fn: () => void | Promise<void>): Promise<void> {
  try {
    await fn();
  } finally {
    for (const dir of made.splice(0)) Deno.removeSync(dir, { recursive: true });
  }
}

/** A fresh copy of the existing-app fixture in a temporary folder; returns the app's root. */
export function fixtureCopy(): string {
  const root = tempDir("tollgate-app-");
  writeTree(root, Object.fromEntries(tree(FIXTURE)));
  return root;
}

/**
 * A small Tollgate: a temporary repository whose supabase/ folder (returned) has two migrations, one function
 * with a deno.json, and shared code; `extra` adds or replaces files (relative to supabase/).
 */
export function fakeTollgate(extra: Record<string, string> = {}): string {
  const dir = join(tempDir("tollgate-src-"), "supabase");
  writeTree(dir, {
    "config.toml": `project_id = "tollgate"\n\n[api]\nschemas = ["public"]\n\n[functions.consume-credit]\n` +
      `verify_jwt = false\nimport_map = "./functions/consume-credit/deno.json"\n`,
    "migrations/20260101000100_create_plans.sql": "create schema if not exists tollgate;\n",
    "migrations/20260101000200_create_accounts.sql":
      "create table if not exists tollgate.accounts (id uuid);\n",
    "functions/_tollgate/db.ts": "export const db = 1;\n",
    "functions/consume-credit/index.ts": `import { db } from "../_tollgate/db.ts";\nconsole.log(db);\n`,
    "functions/consume-credit/deno.json": `{ "imports": {} }\n`,
    ...extra,
  });
  return dir;
}

/** Runs the `tollgate` command in-process against the Tollgate at `source`, at time `now`. */
export function tollgate(
  args: string[],
  source: string,
  now = new Date("2026-03-04T05:06:07Z"),
): { code: number; out: string; err: string } {
  const out: string[] = [];
  const err: string[] = [];
  const code = main(args, { out: (l) => out.push(l), err: (l) => err.push(l), now, source });
  return { code, out: out.join("\n"), err: err.join("\n") };
}
