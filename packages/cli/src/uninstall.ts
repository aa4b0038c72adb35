/**
 * `tollgate uninstall`: plans the migration that removes Tollgate from the database (sql/uninstall.sql) and
 * the removal of everything install wrote into the app's files, except the migrations: they stay, so the
 * history the database has applied stays as it is.
 */
import { join } from "node:path";
import { type App, MANIFEST, type Plan, readIfExists, sha256 } from "./app.ts";
import { removeTollgate } from "./config.ts";
import { installedName, installedTollgate, nextVersions, UNINSTALL } from "./migrations.ts";

/** The uninstall migration, as shipped beside this module. */
export const UNINSTALL_SQL = new URL("../sql/uninstall.sql", import.meta.url);

/** Plans the uninstall; null when Tollgate is not installed in `app` (nothing to do). */
export function planUninstall(app: App, sql: string, now: Date): Plan | null {
  const installed = installedTollgate(app.migrations);
  const plan: Plan = { changes: [], refusals: [] };
  if (installed.size > 0) {
    try {
      const [version] = nextVersions(app.migrations, 1, now);
      const path = `migrations/${installedName(version, UNINSTALL)}`;
      plan.changes.push({ path, action: "add", bytes: new TextEncoder().encode(sql) });
    } catch (error) {
      plan.refusals.push(error instanceof Error ? error.message : String(error));
    }
  }
  for (const [path, hash] of Object.entries(app.manifest?.files ?? {})) {
    const current = readIfExists(join(app.supabase, path));
    if (current && sha256(current) === hash) plan.changes.push({ path, action: "delete" });
    else if (current) {
      plan.refusals.push(
        `supabase/${path} was changed since Tollgate installed it: keep your copy elsewhere first`,
      );
    }
  }
  const removed = removeTollgate(app.config, app.manifest?.added_schema ?? true);
  if (!removed.ok) plan.refusals.push(...removed.refusals);
  else if (removed.edit.text !== app.config) {
    plan.changes.push({
      path: "config.toml",
      action: "update",
      bytes: new TextEncoder().encode(removed.edit.text),
    });
  }
  if (app.manifest) plan.changes.push({ path: MANIFEST, action: "delete" });
  return plan.changes.length === 0 && plan.refusals.length === 0 ? null : plan;
}
