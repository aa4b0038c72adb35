/** Reads a required environment variable once, at cold start; a missing one fails loudly with its name. */
export function requireEnv(name: string): string {
  const value = Deno.env.get(name);
  if (value === undefined || value === "") throw new Error(`Missing required environment variable ${name}`);
  return value;
}

/** Everything the functions read from the platform, validated before the first request. */
export interface PlatformConfig {
  supabaseUrl: string;
  dbUrl: string;
  jwtSecret: string | null;
  serviceRoleKey: string;
}

/** Hosted projects may have no legacy JWT secret (asymmetric keys only); JWKS then covers user tokens. */
export function loadPlatformConfig(): PlatformConfig {
  return {
    supabaseUrl: requireEnv("SUPABASE_URL"),
    dbUrl: requireEnv("SUPABASE_DB_URL"),
    jwtSecret: Deno.env.get("SUPABASE_JWT_SECRET") || null,
    serviceRoleKey: requireEnv("SUPABASE_SERVICE_ROLE_KEY"),
  };
}
