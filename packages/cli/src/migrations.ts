/**
 * Migration names and versions in an app: Tollgate's files go in as `<version>_tollgate_<what>.sql`, where
 * `<what>` is Tollgate's own file name without its version, so a later run knows which ones are there.
 */

/** `YYYYMMDDHHMMSS` in UTC, the version format of `supabase migration new`. */
export function versionAt(date: Date): string {
  return date.toISOString().replace(/\D/g, "").slice(0, 14);
}

/** The `<what>` of the migration uninstall writes. */
export const UNINSTALL = "uninstall";

/** The files the Supabase CLI applies: `<digits>_<name>.sql`. */
const APPLIED = /^\d+_.*\.sql$/;
const TOLLGATE = /^\d+_tollgate_(.+)\.sql$/;

/** The file name of Tollgate's migration `what` at `version`. */
export function installedName(version: string, what: string): string {
  return `${version}_tollgate_${what}.sql`;
}

/** The names the Supabase CLI applies, in the order it applies them (by version). */
export function applied(names: string[]): string[] {
  const version = (n: string) => BigInt(n.slice(0, n.indexOf("_")));
  return names.filter((n) => APPLIED.test(n)).sort((a, b) => {
    const d = version(a) - version(b);
    return d < 0n ? -1 : d > 0n ? 1 : a < b ? -1 : a > b ? 1 : 0;
  });
}

/**
 * Tollgate's migrations in the app since its last uninstall (earlier ones belong to a removed install), as
 * `what` → file name, in the order they apply.
 */
export function installedTollgate(names: string[]): Map<string, string> {
  const found = new Map<string, string>();
  for (const name of applied(names)) {
    const what = TOLLGATE.exec(name)?.[1];
    if (what === UNINSTALL) found.clear();
    else if (what) found.set(what, name);
  }
  return found;
}

/** The Date of a 14-digit version, or null when it is no timestamp. */
function versionDate(version: string): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(version);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number);
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  return versionAt(date) === version ? date : null;
}

/**
 * `count` versions one second apart, starting now, or one second after the app's newest migration if that is
 * later: new files always apply after everything the app has. Throws when the newest version is no timestamp
 * and not older than now.
 */
export function nextVersions(names: string[], count: number, now: Date): string[] {
  const last = applied(names).at(-1);
  const newest = last?.slice(0, last.indexOf("_"));
  let start = now;
  if (newest !== undefined && BigInt(newest) >= BigInt(versionAt(now))) {
    const date = versionDate(newest);
    if (!date) {
      throw new Error(
        `Cannot date migrations after the app's newest, ${newest}: it is not a YYYYMMDDHHMMSS timestamp`,
      );
    }
    start = new Date(date.getTime() + 1000);
  }
  return Array.from({ length: count }, (_, i) => versionAt(new Date(start.getTime() + i * 1000)));
}
