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
 * - Likewise an unknown transaction that puts a value some read returned (a get, or a
 *   get inside a transaction) took effect with its success branch: it becomes a
 *   completed one (`succeeded: true`) when that branch has no get (whose answer we do
 *   not know) and its failure branch writes nothing; otherwise it stays unknown.
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

import type { Operation, TxnInput, TxnResult } from "./history.ts";

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
  const seen = (key: string, value: string | null, at: number) => {
    if (value === null) return;
    const id = `${key}\n${value}`;
    firstSeen.set(id, Math.min(firstSeen.get(id) ?? Infinity, at));
  };
  for (const op of history) {
    if (op.ret === null || op.output === null) continue;
    if (op.input.op === "get" && "value" in op.output) seen(op.input.key, op.output.value, op.ret);
    if (op.input.op === "txn" && "results" in op.output) {
      const branch = op.output.succeeded ? op.input.success : op.input.failure;
      op.output.results.forEach((r, i) => {
        const o = branch[i];
        if (o?.op === "get" && "value" in r) seen(o.key, r.value, op.ret ?? Infinity);
      });
    }
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
    if (input.op === "txn") {
      const at = txnSeenAt(input, firstSeen);
      if (at === undefined) dropped++;
      else if (at < op.call || !promotable(input)) reduced.push(op);
      else {
        const results: TxnResult[] = input.success.map(() => ({ ok: true }));
        reduced.push({ ...op, ret: at, output: { succeeded: true, results } });
        promoted++;
      }
      continue;
    }
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

/** The earliest return of a read that saw a value this transaction's success branch puts. */
function txnSeenAt(txn: TxnInput, firstSeen: ReadonlyMap<string, number>): number | undefined {
  let at: number | undefined;
  for (const o of txn.success) {
    if (o.op !== "put") continue;
    const t = firstSeen.get(`${o.key}\n${o.value}`);
    if (t !== undefined) at = Math.min(at ?? Infinity, t);
  }
  return at;
}

/** Whether a completed success can be written down for it without guessing an answer. */
function promotable(txn: TxnInput): boolean {
  return txn.success.every((o) => o.op !== "get") && txn.failure.every((o) => o.op === "get");
}
