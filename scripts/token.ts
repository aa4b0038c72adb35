/**
 * `npm run token -- <user-uuid> [email] [--hs256]`: makes sure the user exists and prints an access token for
 * them, signed ES256 with the running stack's signing key (its JWKS), as new projects sign; `--hs256` prints a
 * legacy token signed with the JWT secret instead (functions confirm those through the Auth endpoint).
 * `npm run token -- --service-role`: prints the local service-role key (a JWT, as `npm start` prints it).
 */
import { LOCAL_SERVICE_ROLE_KEY } from "./lib/keys.ts";
import { ROOT, userToken } from "./lib/stack.ts";

const hs256 = Deno.args.includes("--hs256");
const [userId, email] = Deno.args.filter((a) => a !== "--hs256");
if (userId === "--service-role") {
  console.log(LOCAL_SERVICE_ROLE_KEY);
  Deno.exit(0);
}
if (!userId || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(userId)) {
  console.error("Usage: npm run token -- <user-uuid> [email] [--hs256], or npm run token -- --service-role");
  Deno.exit(2);
}
const dbUrl = Deno.env.get("SUPABASE_DB_URL") ?? "postgresql://postgres:postgres@127.0.0.1:54322/postgres";
try {
  const key = hs256
    ? undefined
    : JSON.parse(Deno.readTextFileSync(`${ROOT}/.tollgate/signing_key.json`)).privateJwk;
  console.log(await userToken(dbUrl, userId, email, 3600, key));
} catch (error) {
  console.error(
    `Cannot make the token: is \`npm start\` running?\n${error instanceof Error ? error.message : error}`,
  );
  Deno.exit(1);
}
