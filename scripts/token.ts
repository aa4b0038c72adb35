/**
 * `npm run token -- <user-uuid> [email]`: makes sure the user exists and prints a valid access token.
 * `npm run token -- --service-role`: prints the local service-role key (a JWT, as `npm start` prints it).
 */
import { LOCAL_SERVICE_ROLE_KEY } from "./lib/keys.ts";
import { userToken } from "./lib/stack.ts";

const [userId, email] = Deno.args;
if (userId === "--service-role") {
  console.log(LOCAL_SERVICE_ROLE_KEY);
  Deno.exit(0);
}
if (!userId || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(userId)) {
  console.error("Usage: npm run token -- <user-uuid> [email], or npm run token -- --service-role");
  Deno.exit(2);
}
const dbUrl = Deno.env.get("SUPABASE_DB_URL") ?? "postgresql://postgres:postgres@127.0.0.1:54322/postgres";
try {
  console.log(await userToken(dbUrl, userId, email));
} catch (error) {
  console.error(
    `Cannot create the user: is \`npm start\` running?\n${error instanceof Error ? error.message : error}`,
  );
  Deno.exit(1);
}
