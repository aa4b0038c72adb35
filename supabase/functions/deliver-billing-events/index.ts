import { createAuthenticator } from "../_tollgate/auth.ts";
import { createPool } from "../_tollgate/db.ts";
import { loadPlatformConfig } from "../_tollgate/env.ts";
import { deliverWith } from "./deliver.ts";
import { createHandler } from "./handler.ts";
import { loadWebhookConfig } from "./webhook.ts";

const config = loadPlatformConfig();
const webhook = loadWebhookConfig();
const sql = createPool(config.dbUrl, { prepare: config.dbPrepare });
Deno.serve(
  createHandler({ authenticate: createAuthenticator(config.auth), deliver: deliverWith(sql, webhook) }),
);
