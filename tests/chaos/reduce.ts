/**
 * A cheaper history to check first. Operations with unknown outcomes make the
 * linearizability search expensive (each stays pending from its call to the end), and
 * over a long run a few dozen per key are enough to exhaust the checker's budget.
 *
 * {@link reduceUnknowns} builds a history H' from H such that "H' is linearizable"
 * implies "H is linearizable", so a passing H' is a sound pass for H:
 *
 * - An unknown write whose unique value some read returned did take effect, and before
 *   that read answered: it becomes a completed write (cas: `ok: true`) whose `ret` is
 *   the earliest such read's `ret`. Every linearization of H already places it there.
 * - Every other unknown operation is dropped. A linearization of H' is one of H in
 *   which the dropped operations never took effect, which unknown outcomes allow.
 *
 * The converse does not hold: a dropped write may be what explains, say, a failed CAS.
 * So when H' fails, the caller must check the full H before reporting a violation.
 *
 * Requires what the chaos clients guarantee: every written value is unique per key.
 *
 * @module
 */

import type { Operation } from "./history.ts";

/** The reduced history (see the module comment) and what the reduction did. */
export interface Reduction {
  history: Operation[];
  /** Unknown writes turned into completed ones. */
  promoted: number;
  /** Unknown operations left out. */
  dropped: number;
}

/** Builds the reduced history of `history`. */
export function reduceUnknowns(history: readonly Operation[]): Reduction {
  const firstSeen = new Map<string, number>();
  for (const op of history) {
    if (op.input.op !== "get" || op.ret === null || op.output === null) continue;
    if (!("value" in op.output) || op.output.value === null) continue;
    const id = `${op.input.key}\n${op.output.value}`;
    firstSeen.set(id, Math.min(firstSeen.get(id) ?? Infinity, op.ret));
  }
  const reduced: Operation[] = [];
  let promoted = 0;
  let dropped = 0;
  for (const op of history) {
    if (op.ret !== null) {
      reduced.push(op);
      continue;
    }
    const input = op.input;
    const seenAt = input.op === "put" || input.op === "cas"
      ? firstSeen.get(`${input.key}\n${input.value}`)
      : undefined;
    if (seenAt === undefined) {
      dropped++;
      continue;
    }
    if (seenAt < op.call) {
      // Read before it was even sent: no linearization exists; leave it for the checker.
      reduced.push(op);
      continue;
    }
    reduced.push({ ...op, ret: seenAt, output: { ok: true } });
    promoted++;
  }
  return { history: reduced, promoted, dropped };
}
