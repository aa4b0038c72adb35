import assert from "node:assert/strict";
import { dropTables, firstDifference, normaliseDump } from "./generated.ts";

Deno.test("a stale-file message points at the first differing line", () => {
  assert.equal(firstDifference("a\nb\nc", "a\nx\nc"), 'line 2: committed "b", generated "x"');
  assert.equal(firstDifference("a", "a\nb"), 'line 2: committed "<end of file>", generated "b"');
});

Deno.test("partitions are dropped from the generated types, the rest is left as generated", () => {
  const types = [
    "    Tables: {",
    '      "ai_usage": {',
    "        Row: { id: string };",
    "      };",
    '      "ai_usage_2026_11": {',
    "        Row: {",
    "          id: string;",
    "        };",
    "      };",
    '      "plans": {',
    "      };",
    "    };",
  ].join("\n");
  assert.equal(
    dropTables(types, ["ai_usage_2026_11"]),
    [
      "    Tables: {",
      '      "ai_usage": {',
      "        Row: { id: string };",
      "      };",
      '      "plans": {',
      "      };",
      "    };",
    ]
      .join("\n"),
  );
  assert.throws(() => dropTables(types, ["missing"]), /Cannot find table missing/);
});

Deno.test("a pg_dump is normalised: no banner, settings, restrict keys or owners, one block per object", () => {
  const dump = [
    "--",
    "-- PostgreSQL database dump",
    "--",
    "",
    "\\restrict AbC123random",
    "",
    "-- Dumped from database version 15.18",
    "-- Dumped by pg_dump version 15.18",
    "",
    "SET statement_timeout = 0;",
    "SELECT pg_catalog.set_config('search_path', '', false);",
    "",
    "--",
    "-- Name: tollgate; Type: SCHEMA; Schema: -; Owner: -",
    "--",
    "",
    "CREATE SCHEMA tollgate;",
    "",
    "",
    "--",
    "-- Name: plans; Type: TABLE; Schema: tollgate; Owner: postgres",
    "--",
    "",
    "CREATE TABLE tollgate.plans (",
    "    id text NOT NULL",
    ");",
    "",
    "",
    "--",
    "-- PostgreSQL database dump complete",
    "--",
    "",
    "\\unrestrict AbC123random",
    "",
  ].join("\n");
  assert.equal(
    normaliseDump(dump),
    [
      "-- Name: tollgate; Type: SCHEMA; Schema: -",
      "CREATE SCHEMA tollgate;",
      "",
      "-- Name: plans; Type: TABLE; Schema: tollgate",
      "CREATE TABLE tollgate.plans (",
      "    id text NOT NULL",
      ");",
      "",
    ].join("\n"),
  );
  assert.equal(normaliseDump(dump.replace("AbC123random", "xYz")), normaliseDump(dump));
});
