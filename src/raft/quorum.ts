/**
 * Majority math over a voter set: the highest index acknowledged by a majority, and
 * the outcome of a vote. Nothing else lives here.
 *
 * @module
 */

import { assert } from "./assert.ts";
import type { NodeId } from "./messages.ts";

/** The size of a majority of `n` voters. */
export function majority(n: number): number {
  assert(Number.isSafeInteger(n), "a voter count is an integer");
  assert(n >= 0, "a voter count is non-negative");
  const q = Math.floor(n / 2) + 1;
  assert(2 * q > n, "a majority is more than half");
  return q;
}

const scratch: number[] = [];

/**
 * The largest value that at least a majority of `voters` have reached, where
 * `valueOf(id)` is each voter's acknowledged value (match index, acked round…).
 * Returns 0 for an empty voter set.
 */
export function quorumValue(voters: readonly NodeId[], valueOf: (id: NodeId) => number): number {
  const n = voters.length;
  if (n === 0) return 0;
  scratch.length = n;
  for (let i = 0; i < n; i++) scratch[i] = valueOf(voters[i] as NodeId);
  // Insertion sort, descending: voter sets are small and this runs on every ack.
  for (let i = 1; i < n; i++) {
    const v = scratch[i] as number;
    let j = i - 1;
    while (j >= 0 && (scratch[j] as number) < v) {
      scratch[j + 1] = scratch[j] as number;
      j--;
    }
    scratch[j + 1] = v;
  }
  const value = scratch[majority(n) - 1] as number;
  assert(value <= (scratch[0] as number), "the quorum value is at most the highest");
  assert(value >= (scratch[n - 1] as number), "the quorum value is at least the lowest");
  return value;
}

/** Outcome of an election given the votes received so far. */
export type VoteResult = "won" | "lost" | "pending";

/** Tallies `votes` (true = granted) over `voters`; votes from non-voters are ignored. */
export function voteResult(
  voters: readonly NodeId[],
  votes: ReadonlyMap<NodeId, boolean>,
): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const q = majority(voters.length);
  assert(granted + rejected <= voters.length, "each voter counts at most once");
  if (granted >= q) return "won";
  if (rejected >= q || voters.length - rejected < q) return "lost";
  return "pending";
}
