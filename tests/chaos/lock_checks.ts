/**
 * The verdict on the fenced-lock workload (lock_workload.ts): holders of one lock
 * increment a counter key by read-modify-write, each write a transaction that compares
 * the holder's lock key's createRevision (the fencing token). Every counter value is
 * `<n>/<tag>`: the count and the unique tag of the increment that wrote it.
 *
 * What must hold, whatever the faults:
 * - **No lost or doubled increment**: the final count equals the number of increments
 *   that took effect: every acknowledged one, plus those of unknown outcome whose value
 *   some later read saw. (An increment that took effect is always seen: the next
 *   holder reads the counter before writing, and the final read comes last.)
 * - **No fork**: no two applied increments were computed from the same read value
 *   (two holders inside the read-modify-write at once).
 * - **No interleaving**: ordered by revision, the acknowledged writes of one holding
 *   (one lock key) are contiguous; another holder's write never lands between them.
 * - No two acknowledged writes share a revision, and every value the counter held is
 *   one some increment wrote and was not refused.
 * - **The fence holds**: a write sent after its holder's lease was revoked (a stalled
 *   holder, see lock_workload.ts) is never acknowledged.
 *
 * @module
 */

/** One attempted fenced increment. */
export interface IncrementRecord {
  /** Unique per increment; part of the value written. */
  tag: string;
  /** The holding it was made under: the lock key and its createRevision. */
  holding: string;
  /** The counter value its read returned (null: the key did not exist). */
  basedOn: string | null;
  /** The value it wrote, `<n>/<tag>`. */
  value: string;
  /**
   * acked: the txn succeeded; fenced: the compare failed (the holder had lost the
   * lock), nothing written; unknown: no definite answer; notApplied: the server said
   * it was not applied (connect failed, 503 refusal).
   */
  outcome: "acked" | "fenced" | "unknown" | "notApplied";
  /** The txn's revision when acknowledged. */
  revision: number | null;
  /** Sent after the holder's lease was revoked (acknowledged): it must be fenced out. */
  stale?: boolean;
}

/** Figures of a lock run. */
export interface LockSummary {
  acked: number;
  fenced: number;
  /** Of the fenced ones: writes of a stalled holder whose lease was revoked. */
  staleFenced: number;
  unknown: number;
  /** Unknown-outcome increments seen applied by a later read. */
  unknownApplied: number;
  finalCount: number;
  holdings: number;
}

/** The count in a counter value `<n>/<tag>` (0 for a missing key); NaN if malformed. */
export function countOf(value: string | null): number {
  if (value === null) return 0;
  const slash = value.indexOf("/");
  return slash < 0 ? NaN : Number(value.slice(0, slash));
}

/**
 * Checks the lock workload: `increments` every attempt, `reads` every counter value
 * read (by holders and the final read), `final` the final linearizable read.
 * Returns the violations (empty: passed) and the figures.
 */
export function checkFencedCounter(
  increments: readonly IncrementRecord[],
  reads: readonly (string | null)[],
  final: string | null,
): { violations: string[]; summary: LockSummary } {
  const violations: string[] = [];
  const seen = new Set(reads.filter((r): r is string => r !== null));
  if (final !== null) seen.add(final);
  const applied = increments.filter((i) =>
    i.outcome === "acked" || (i.outcome === "unknown" && seen.has(i.value))
  );
  const byValue = new Map(increments.map((i) => [i.value, i]));
  for (const value of seen) {
    const writer = byValue.get(value);
    if (writer === undefined) {
      violations.push(`the counter held ${value}, which no increment wrote`);
    } else if (writer.outcome === "fenced" || writer.outcome === "notApplied") {
      violations.push(
        `the counter held ${value}, whose increment was answered ${writer.outcome} ` +
          `(holding ${writer.holding})`,
      );
    }
  }
  const finalCount = countOf(final);
  if (Number.isNaN(finalCount)) violations.push(`the final counter value ${final} is malformed`);
  else if (finalCount !== applied.length) {
    const acked = applied.filter((i) => i.outcome === "acked").length;
    violations.push(
      `the counter ends at ${finalCount} but ${applied.length} increments took effect ` +
        `(${acked} acknowledged, ${applied.length - acked} of unknown outcome seen applied): ` +
        (finalCount < applied.length ? "increments were lost" : "increments were doubled"),
    );
  }
  for (const i of applied) {
    if (countOf(i.value) !== countOf(i.basedOn) + 1) {
      violations.push(`increment ${i.tag} wrote ${i.value} after reading ${i.basedOn}`);
    }
  }
  const byBase = new Map<string, IncrementRecord[]>();
  for (const i of applied) {
    const base = i.basedOn ?? "∅";
    byBase.set(base, [...(byBase.get(base) ?? []), i]);
  }
  for (const [base, forks] of byBase) {
    if (forks.length > 1) {
      violations.push(
        `${forks.length} increments took effect from the same read ${base}: ` +
          forks.map((i) => `${i.tag} (holding ${i.holding})`).join(", ") +
          ": two holders at once",
      );
    }
  }
  violations.push(...interleavings(applied.filter((i) => i.outcome === "acked")));
  for (const i of increments) {
    if (i.stale && i.outcome === "acked") {
      violations.push(
        `increment ${i.tag} was acknowledged although its holder's lease had been revoked ` +
          `(holding ${i.holding}): the fence did not hold`,
      );
    }
  }
  return {
    violations,
    summary: {
      acked: increments.filter((i) => i.outcome === "acked").length,
      fenced: increments.filter((i) => i.outcome === "fenced").length,
      staleFenced: increments.filter((i) => i.stale && i.outcome === "fenced").length,
      unknown: increments.filter((i) => i.outcome === "unknown").length,
      unknownApplied: applied.filter((i) => i.outcome === "unknown").length,
      finalCount,
      holdings: new Set(increments.map((i) => i.holding)).size,
    },
  };
}

/** Acknowledged writes in revision order: each holding's must be contiguous. */
function interleavings(acked: readonly IncrementRecord[]): string[] {
  const violations: string[] = [];
  const ordered = [...acked].sort((a, b) => (a.revision ?? 0) - (b.revision ?? 0));
  const closed = new Set<string>();
  let current: string | null = null;
  let previous: IncrementRecord | null = null;
  for (const i of ordered) {
    if (previous !== null && i.revision === previous.revision) {
      violations.push(`increments ${previous.tag} and ${i.tag} share revision ${i.revision}`);
    }
    if (i.holding !== current) {
      if (closed.has(i.holding)) {
        violations.push(
          `holding ${i.holding} wrote again (${i.tag} at revision ${i.revision}) after ` +
            `another holder's write (${previous?.tag} at revision ${previous?.revision})`,
        );
      }
      if (current !== null) closed.add(current);
      current = i.holding;
    }
    previous = i;
  }
  return violations;
}
