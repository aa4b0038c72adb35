import { createAuthenticator } from "../_shared/auth.ts";
import { createPool } from "../_shared/db.ts";
import { loadPlatformConfig } from "../_shared/env.ts";
import { createHandler } from "./handler.ts";
import { logUsageWith } from "./usage.ts";

const config = loadPlatformConfig();
const sql = createPool(config.dbUrl, { prepare: config.dbPrepare });

Deno.serve(createHandler({ authenticate: createAuthenticator(config.auth), logUsage: logUsageWith(sql) }));
