/** Checks over the migrations folder and the migrated database, run by `npm test` as one test each. */
import { ROOT } from "./stack.ts";

export interface MigrationCheck {
  name: string;
  run(ctx: { dbUrl: string; workDir: string }): Promise<void>;
}

/** Migration file names: `<14-digit version>_<verb>_<object>.sql`, versions unique and in order. */
export function checkVersions(names: string[]): void {
  const seen = new Set<string>();
  for (const name of names) {
    const m = name.match(/^(\d{14})_[a-z0-9_]+\.sql$/);
    if (!m) throw new Error(`Migration ${name} is misnamed: use <14-digit timestamp>_<verb>_<object>.sql`);
    if (seen.has(m[1])) {
      throw new Error(`Migration version ${m[1]} is used twice: rename ${name} with a new timestamp`);
    }
    seen.add(m[1]);
  }
}

export const migrationChecks: MigrationCheck[] = [
  {
    name: "migration versions are unique 14-digit timestamps",
    run() {
      checkVersions([...Deno.readDirSync(`${ROOT}/supabase/migrations`)].map((e) => e.name).sort());
      return Promise.resolve();
    },
  },
];
