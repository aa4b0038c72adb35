/**
 * `npm run types`: writes supabase/functions/_tollgate/database.types.ts with `supabase gen types typescript` from a
 * throwaway cluster with every migration applied (or from SUPABASE_DB_URL when set).
 */
import { TYPES, writeGenerated } from "./lib/generated.ts";

await writeGenerated(TYPES);
