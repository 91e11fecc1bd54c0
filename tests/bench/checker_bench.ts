/**
 * How long the linearizability checker takes on chaos-sized histories. Standalone:
 * `deno run -A tests/bench/checker_bench.ts`; prints one line per shape and exits.
 *
 * @module
 */

import { type Operation, randomHistory, type RandomHistoryOptions } from "../chaos/history.ts";
import { checkHistory, formatFailure } from "../chaos/linearizability.ts";

/** Histories to time: the brief's 10 clients × 2,000 ops over 10 keys, and harder shapes. */
const SHAPES: (Omit<RandomHistoryOptions, "seed"> & { corrupt?: boolean })[] = [
  { clients: 10, opsPerClient: 2000, keys: 10, unknownRate: 0.05 },
  { clients: 10, opsPerClient: 2000, keys: 10, unknownRate: 0 },
  { clients: 10, opsPerClient: 2000, keys: 10, unknownRate: 0.05, values: "unique" },
  { clients: 10, opsPerClient: 2000, keys: 10, unknownRate: 0.2, values: "unique" },
  { clients: 10, opsPerClient: 2000, keys: 1, unknownRate: 0.05 },
  { clients: 10, opsPerClient: 2000, keys: 1, unknownRate: 0.05, values: "unique" },
  { clients: 20, opsPerClient: 1000, keys: 10, unknownRate: 0.1 },
  { clients: 30, opsPerClient: 300, keys: 1, unknownRate: 0 },
  // Proving a violation means exhausting the search: the expensive direction.
  { clients: 10, opsPerClient: 2000, keys: 10, unknownRate: 0, corrupt: true },
  { clients: 10, opsPerClient: 2000, keys: 10, unknownRate: 0.05, corrupt: true },
  { clients: 10, opsPerClient: 2000, keys: 10, unknownRate: 0.05, values: "unique", corrupt: true },
];
/** Per-history budget; the bench must finish in about a minute even on a loaded machine. */
const TIMEOUT_MS = 5_000;
const SEED = 42;

/** Makes the middle returned get (by id) read a value nobody wrote. */
function corrupt(history: Operation[]): Operation[] {
  const gets = history.filter((op) => op.input.op === "get" && op.ret !== null);
  const victim = gets[Math.floor(gets.length / 2)];
  return history.map((op) => op === victim ? { ...op, output: { value: "never-written" } } : op);
}

for (const { corrupt: corrupted, ...shape } of SHAPES) {
  const history = randomHistory({ seed: SEED, ...shape });
  const result = checkHistory(corrupted ? corrupt(history) : history, { timeoutMs: TIMEOUT_MS });
  const verdict = result.ok === true ? "linearizable" : formatFailure(result).split("\n")[0];
  console.log(
    `${shape.clients} clients × ${shape.opsPerClient} ops, ${shape.keys} keys, ` +
      `${(shape.unknownRate ?? 0) * 100}% unknown, ${shape.values ?? 6} values` +
      `${corrupted ? ", one read corrupted" : ""} (seed ${SEED}): ${verdict} in ` +
      `${result.elapsedMs.toFixed(0)} ms`,
  );
}
