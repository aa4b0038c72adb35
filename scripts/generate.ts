/**
 * `npm run generate`: every generated file from ONE throwaway cluster with every migration applied (or from
 * SUPABASE_DB_URL when set): database.types.ts, docs/erd.md, supabase/schema.sql; then docs/openapi.json, which
 * comes from the functions' zod schemas.
 */
import { GENERATED, writeGenerated } from "./lib/generated.ts";
import { OUTPUT, writeDocument } from "./openapi.ts";

await writeGenerated(...GENERATED);
await writeDocument();
console.log(`Wrote ${OUTPUT.slice(OUTPUT.indexOf("docs/"))}`);
