import type { JSONWebKeySet } from "jose";
import type { AuthConfig } from "./auth.ts";

/** Reads one environment variable; tests pass their own. */
export type EnvReader = (name: string) => string | undefined;

const fromDeno: EnvReader = (name) => Deno.env.get(name);

/** Reads a required environment variable once, at cold start; a missing one fails loudly with its name. */
export function requireEnv(name: string, get: EnvReader = fromDeno): string {
  const value = get(name);
  if (value === undefined || value === "") throw new Error(`Missing required environment variable ${name}`);
  return value;
}

/** Everything the functions read from the platform, validated before the first request. */
export interface PlatformConfig {
  dbUrl: string;
  /** Whether postgres.js may keep named prepared statements (not through a transaction pooler). */
  dbPrepare: boolean;
  auth: AuthConfig;
}

/**
 * The secrets a hosted function gets by default (SUPABASE_URL, SUPABASE_DB_URL, SUPABASE_JWKS,
 * SUPABASE_PUBLISHABLE_KEYS, SUPABASE_SECRET_KEYS, the legacy SUPABASE_ANON_KEY / SUPABASE_SERVICE_ROLE_KEY) and
 * the optional ones a deployer sets: TOLLGATE_DB_URL (e.g. the transaction pooler), TOLLGATE_DB_PREPARE,
 * TOLLGATE_JWT_SECRET (verify legacy HS256 tokens locally instead of asking the Auth server).
 */
export function loadPlatformConfig(get: EnvReader = fromDeno): PlatformConfig {
  const optional = (name: string) => get(name) || null;
  const dbUrl = optional("TOLLGATE_DB_URL") ?? requireEnv("SUPABASE_DB_URL", get);
  return {
    dbUrl,
    dbPrepare: dbPrepare(dbUrl, optional("TOLLGATE_DB_PREPARE")),
    auth: {
      supabaseUrl: requireEnv("SUPABASE_URL", get),
      jwks: parseJwks(optional("SUPABASE_JWKS")),
      publishableKeys: parseKeys("SUPABASE_PUBLISHABLE_KEYS", optional("SUPABASE_PUBLISHABLE_KEYS")),
      secretKeys: parseKeys("SUPABASE_SECRET_KEYS", optional("SUPABASE_SECRET_KEYS")),
      anonKey: optional("SUPABASE_ANON_KEY"),
      serviceRoleKey: optional("SUPABASE_SERVICE_ROLE_KEY"),
      jwtSecret: optional("TOLLGATE_JWT_SECRET"),
    },
  };
}

/**
 * Prepared statements: TOLLGATE_DB_PREPARE=true|false when set; otherwise on, except on port 6543 (Supavisor's
 * transaction mode), since a transaction pooler hands each transaction a different server connection.
 */
export function dbPrepare(url: string, setting: string | null): boolean {
  if (setting === null) return new URL(url).port !== "6543";
  if (setting === "true" || setting === "false") return setting === "true";
  throw new Error(`TOLLGATE_DB_PREPARE must be true or false, not ${JSON.stringify(setting)}`);
}

function parseJson(name: string, raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch (cause) {
    throw new Error(`${name} is not valid JSON: ${(cause as Error).message}`);
  }
}

/** SUPABASE_JWKS as hosted sets it, `{"keys": [...]}` (a bare array is accepted too); unset, no keys. */
export function parseJwks(raw: string | null): JSONWebKeySet {
  if (raw === null) return { keys: [] };
  const parsed = parseJson("SUPABASE_JWKS", raw);
  const keys = Array.isArray(parsed) ? parsed : (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new Error('SUPABASE_JWKS must be a JSON Web Key Set: {"keys": [...]}');
  return { keys };
}

/** SUPABASE_PUBLISHABLE_KEYS / SUPABASE_SECRET_KEYS as hosted sets them: `{"default": "sb_...", ...}`. */
export function parseKeys(name: string, raw: string | null): Record<string, string> {
  if (raw === null) return {};
  const parsed = parseJson(name, raw);
  if (
    typeof parsed !== "object" || parsed === null || Array.isArray(parsed) ||
    !Object.values(parsed).every((v) => typeof v === "string" && v !== "")
  ) {
    throw new Error(`${name} must be a JSON object of key names to keys: {"default": "sb_..."}`);
  }
  return parsed as Record<string, string>;
}
