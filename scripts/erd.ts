/**
 * `npm run erd`: writes docs/erd.md, a Mermaid erDiagram of schema tollgate read from the catalogue of a
 * throwaway cluster with every migration applied (or of SUPABASE_DB_URL when set).
 */
import { ERD, writeGenerated } from "./lib/generated.ts";

await writeGenerated(ERD);
