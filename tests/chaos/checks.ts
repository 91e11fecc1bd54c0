/**
 * The checks a chaos run makes besides linearizability: acknowledged writes survive,
 * values refused with 503 never appear, no read returns a value nobody wrote, and
 * stale reads from a learner never go back in time for one reader.
 *
 * Each check returns a list of violations (empty: passed), so the report can show
 * all of them at once.
 *
 * @module
 */

import type { ReadAnswer } from "./kv_http.ts";
import type { ObservedValue, WriteRecord } from "./clients.ts";

/** Violations listed per check at most (the rest are counted). */
export const MAX_VIOLATIONS_LISTED = 10;

/**
 * Per-reader monotonicity of stale reads. "Older" is defined by revisions: the store
 * revision a read saw (X-Raftkv-Revision) must never decrease, a key's modRevision
 * (ETag) must never decrease, and a key seen absent at store revision R can only
 * reappear with a modRevision above R. A new `window` (e.g. a restarted learner)
 * starts over.
 */
export class MonotonicReads {
  #window = "";
  #storeRevision = 0;
  readonly #modRevision = new Map<string, number>();
  readonly #absentAt = new Map<string, number>();

  /** Records one read; returns a description of the regression, or null. */
  observe(window: string, key: string, read: ReadAnswer): string | null {
    if (window !== this.#window) {
      this.#window = window;
      this.#storeRevision = 0;
      this.#modRevision.clear();
      this.#absentAt.clear();
    }
    const store = read.storeRevision ?? 0;
    let violation: string | null = null;
    if (store < this.#storeRevision) {
      violation = `${window} key ${key}: store revision went back from ` +
        `${this.#storeRevision} to ${store}`;
    }
    this.#storeRevision = Math.max(this.#storeRevision, store);
    if (read.value === null) {
      this.#absentAt.set(key, Math.max(this.#absentAt.get(key) ?? 0, store));
      return violation;
    }
    const mod = read.modRevision ?? 0;
    const seen = this.#modRevision.get(key) ?? 0;
    const absent = this.#absentAt.get(key) ?? 0;
    if (mod < seen) {
      violation ??= `${window} key ${key}: modRevision went back from ${seen} to ${mod}`;
    } else if (mod <= absent) {
      violation ??= `${window} key ${key}: value at modRevision ${mod} reappeared after ` +
        `the key was seen absent at store revision ${absent}`;
    }
    this.#modRevision.set(key, Math.max(seen, mod));
    return violation;
  }
}

/**
 * Every acknowledged write is still there or was superseded: the final value is the
 * write's own, or the key's final modRevision is higher, or the key is gone and a
 * delete (acknowledged after the write, or of unknown outcome) explains it.
 */
export function checkAckedWrites(
  writes: readonly WriteRecord[],
  finals: ReadonlyMap<string, ReadAnswer>,
): string[] {
  const violations: string[] = [];
  for (const w of writes) {
    if (w.outcome !== "acked" || w.value === null || w.revision === null) continue;
    const revision = w.revision;
    const final = finals.get(w.key);
    if (final === undefined) {
      violations.push(`key ${w.key}: no final read to check acknowledged ${w.value}`);
      continue;
    }
    if (final.value === w.value) {
      if (final.modRevision !== w.revision) {
        violations.push(
          `key ${w.key}: ${w.value} was acknowledged at modRevision ${w.revision} ` +
            `but is read at ${final.modRevision}`,
        );
      }
      continue;
    }
    if (final.value !== null) {
      if ((final.modRevision ?? 0) <= w.revision) {
        violations.push(
          `key ${w.key}: acknowledged ${w.value} (modRevision ${w.revision}) is lost: ` +
            `final value ${final.value} has modRevision ${final.modRevision}`,
        );
      }
      continue;
    }
    const deleted = writes.some((d) =>
      d.key === w.key && d.value === null &&
      (d.outcome === "unknown" || d.outcome === "refused503" ||
        (d.outcome === "acked" && (d.revision ?? 0) > revision))
    );
    if (!deleted) {
      violations.push(
        `key ${w.key}: acknowledged ${w.value} (modRevision ${w.revision}) is lost: ` +
          `the key is gone and no later delete explains it`,
      );
    }
  }
  return violations;
}

/** The final store revision covers every acknowledged write's revision. */
export function checkStoreRevision(
  writes: readonly WriteRecord[],
  finals: ReadonlyMap<string, ReadAnswer>,
): string[] {
  let highest = 0;
  for (const w of writes) if (w.outcome === "acked") highest = Math.max(highest, w.revision ?? 0);
  const seen = Math.max(0, ...[...finals.values()].map((f) => f.storeRevision ?? 0));
  return seen >= highest
    ? []
    : [`final store revision ${seen} is below acknowledged revision ${highest}`];
}

/**
 * Reads only return values some write sent, and never a value whose write was
 * refused: a CAS answered 412, or any write answered 503 (documented as "not applied").
 */
export function checkObservedValues(
  writes: readonly WriteRecord[],
  observed: readonly ObservedValue[],
): string[] {
  const written = new Map<string, WriteRecord>();
  for (const w of writes) if (w.value !== null) written.set(`${w.key}\n${w.value}`, w);
  const violations = new Set<string>();
  for (const o of observed) {
    const w = written.get(`${o.key}\n${o.value}`);
    if (w === undefined) {
      violations.add(`key ${o.key}: ${o.source} read returned ${o.value}, which nobody wrote`);
    } else if (w.outcome === "rejected") {
      violations.add(
        `key ${o.key}: ${o.source} read returned ${o.value}, whose CAS (op #${w.opId}) ` +
          `was refused with 412`,
      );
    } else if (w.outcome === "notSent") {
      violations.add(
        `key ${o.key}: ${o.source} read returned ${o.value}, whose write (op #${w.opId}) ` +
          `could not even connect`,
      );
    } else if (w.outcome === "refused503") {
      violations.add(
        `key ${o.key}: ${o.source} read returned ${o.value}, whose write (op #${w.opId}) ` +
          `was answered 503 "not applied"`,
      );
    }
  }
  return [...violations];
}

/** The first {@link MAX_VIOLATIONS_LISTED} violations, plus a count of the rest. */
export function summarize(violations: readonly string[]): string[] {
  const shown = violations.slice(0, MAX_VIOLATIONS_LISTED);
  if (violations.length > shown.length) {
    shown.push(`… and ${violations.length - shown.length} more`);
  }
  return shown;
}
