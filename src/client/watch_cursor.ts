/**
 * Where a watch resumes, so reconnecting neither loses nor repeats events.
 *
 * One revision may hold several events: a prefix delete, an expiry or a lease revoke
 * removes many keys at once, and a transaction puts and deletes several keys at one
 * revision. A stream can break between them. So the cursor resumes *at* the revision of
 * the last event and skips the keys of it already delivered (a revision changes each key
 * at most once). The set holds the keys of one revision only; it is as large as the
 * largest write the watch sees, a bound the server's limits set, not the client.
 *
 * @module
 */

import assert from "./assert.ts";

/** The resume point of a watch and the keys already delivered there. */
export class WatchCursor {
  #revision: number;
  #delivered = new Set<string>();

  /** A cursor that starts delivering at `fromRevision`. */
  constructor(fromRevision: number) {
    assert(Number.isSafeInteger(fromRevision) && fromRevision >= 0, "revisions are integers");
    this.#revision = fromRevision;
  }

  /** The `fromRevision` to ask for on (re)connect. */
  get resumeAt(): number {
    return this.#revision;
  }

  /** True if `event` is new (and records it); false if it was already delivered. */
  accept(event: { type: "put" | "delete"; revision: number; key: string }): boolean {
    if (event.revision < this.#revision) return false;
    if (event.revision === this.#revision) {
      if (this.#delivered.has(event.key)) return false;
      this.#delivered.add(event.key);
    } else {
      this.#revision = event.revision;
      this.#delivered = new Set([event.key]);
    }
    return true;
  }
}
