/**
 * Only src/runtime/ may talk to the runtime directly: any `Deno.*`, `Bun.*` or a check
 * for either global elsewhere in src/ fails here, so a node keeps running on both.
 */

import { ok } from "node:assert/strict";
import { stripComments, tsFilesUnder } from "../source_scan.ts";

const SRC = new URL("../../src/", import.meta.url);
const SEAM = "runtime/";

/** Direct uses of a runtime global (comments stripped first). */
const PATTERNS = [
  /\b(?:Deno|Bun)\s*[.\[]/,
  /globalThis\s*[.\[]\s*["']?(?:Deno|Bun)\b/,
  /["'](?:Deno|Bun)["']\s+in\b/,
  /\btypeof\s+(?:Deno|Bun)\b/,
];

Deno.test("nothing in src/ outside src/runtime/ calls Deno.* or Bun.*", () => {
  const files = tsFilesUnder(SRC);
  ok(files.includes("main.ts") && files.includes("runtime/current.ts"), "src/ found");
  const problems: string[] = [];
  for (const path of files) {
    if (path.startsWith(SEAM)) continue;
    const lines = stripComments(Deno.readTextFileSync(new URL(path, SRC))).split("\n");
    lines.forEach((line, k) => {
      if (PATTERNS.some((p) => p.test(line))) problems.push(`src/${path}:${k + 1}: ${line.trim()}`);
    });
  }
  ok(problems.length === 0, `runtime calls outside src/runtime/:\n${problems.join("\n")}`);
});

Deno.test("the seam check catches the forms it is meant to", () => {
  for (const line of ["Deno.exit(1)", "await Bun.write(p, b)", "globalThis.Deno", '"Bun" in x']) {
    ok(PATTERNS.some((p) => p.test(stripComments(line))), line);
  }
  ok(!PATTERNS.some((p) => p.test(stripComments("// Deno.serve drains bodies"))));
});
