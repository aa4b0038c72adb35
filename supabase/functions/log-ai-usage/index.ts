import { createAuthenticator } from "../_tollgate/auth.ts";
import { createPool } from "../_tollgate/db.ts";
import { loadPlatformConfig } from "../_tollgate/env.ts";
import { createHandler } from "./handler.ts";
import { logUsageBatchWith, logUsageWith } from "./usage.ts";

const config = loadPlatformConfig();
const sql = createPool(config.dbUrl, { prepare: config.dbPrepare });

Deno.serve(createHandler({
  authenticate: createAuthenticator(config.auth),
  logUsage: logUsageWith(sql),
  logUsageBatch: logUsageBatchWith(sql),
}));
