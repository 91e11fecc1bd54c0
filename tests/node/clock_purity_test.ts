/**
 * One clock in the driver: outside `src/node/clock.ts`, nothing in `src/node/` reads the
 * runtime's time or arms its timers or draws unseeded randomness, so the simulator's
 * virtual clock (and a test's) sees every wait the node makes.
 */

import { ok } from "node:assert/strict";
import { stripComments, tsFilesUnder } from "../source_scan.ts";

const NODE = new URL("../../src/node/", import.meta.url);
/** The one module allowed to name the runtime's clock and timers. */
const CLOCK_MODULE = "clock.ts";

/** What only the clock module may use (comments stripped first). */
const FORBIDDEN: [string, RegExp][] = [
  ["Date.now", /\bDate\s*\.\s*now\b/],
  ["setTimeout", /\bsetTimeout\b/],
  ["setInterval", /\bsetInterval\b/],
  ["performance.now", /\bperformance\s*\.\s*now\b/],
  ["Math.random", /\bMath\s*\.\s*random\b/],
  ["AbortSignal.timeout", /\bAbortSignal\s*\.\s*timeout\b/],
];

/** `path: line: what` for each forbidden use in `src`. */
function violations(path: string, src: string): string[] {
  const problems: string[] = [];
  stripComments(src).split("\n").forEach((line, k) => {
    for (const [name, pattern] of FORBIDDEN) {
      if (pattern.test(line)) problems.push(`src/node/${path}:${k + 1}: ${name}: ${line.trim()}`);
    }
  });
  return problems;
}

Deno.test("nothing in src/node/ but clock.ts reads the clock, arms a timer or calls Math.random", () => {
  const files = tsFilesUnder(NODE);
  ok(files.includes(CLOCK_MODULE) && files.includes("join.ts"), "src/node/ found");
  const problems = files.filter((f) => f !== CLOCK_MODULE)
    .flatMap((f) => violations(f, Deno.readTextFileSync(new URL(f, NODE))));
  ok(
    problems.length === 0,
    `clock or timer used outside src/node/clock.ts:\n${problems.join("\n")}`,
  );
});

Deno.test("the clock check catches the forms it is meant to, and not comments", () => {
  for (
    const line of [
      "const t = Date.now();",
      "await new Promise((r) => setTimeout(r, 1000));",
      "setInterval(tick, 10)",
      "performance.now() - start",
      "Math.random() < 0.5",
      "signal: AbortSignal.timeout(10_000)",
    ]
  ) {
    ok(violations("x.ts", line).length === 1, line);
  }
  ok(violations("x.ts", "// a comment about Date.now and setTimeout").length === 0);
  ok(violations("x.ts", "/** default `performance.now` */").length === 0);
  ok(violations("x.ts", "deps.now(); clock.timers.after(5, fn)").length === 0);
});
