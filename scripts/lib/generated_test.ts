import assert from "node:assert/strict";
import { dropTables, firstDifference } from "./generated.ts";

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
