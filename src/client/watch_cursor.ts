/**
 * Where a watch resumes, so reconnecting neither loses nor repeats events.
 *
 * A put changes one key per revision, so after a put the watch resumes at the next
 * revision. But one revision may hold several deletes (a prefix delete or an expiry
 * removes many keys at once), and a stream can break between them. So after a delete
 * the cursor resumes *at* that revision and skips the keys of it already delivered.
 * The set holds the keys of one revision only; it is as large as the largest prefix
 * delete the watch sees, a bound the server's store sets, not the client.
 *
 * @module
 */

import assert from "./assert.ts";

/** The resume point of a watch and the keys already delivered there. */
export class WatchCursor {
  #revision: number;
  #delivered = new Set<string>();
  /** True when the last event was a put: its revision holds nothing else. */
  #complete = false;

  /** A cursor that starts delivering at `fromRevision`. */
  constructor(fromRevision: number) {
    assert(Number.isSafeInteger(fromRevision) && fromRevision >= 0, "revisions are integers");
    this.#revision = fromRevision;
  }

  /** The `fromRevision` to ask for on (re)connect. */
  get resumeAt(): number {
    return this.#complete ? this.#revision + 1 : this.#revision;
  }

  /** True if `event` is new (and records it); false if it was already delivered. */
  accept(event: { type: "put" | "delete"; revision: number; key: string }): boolean {
    if (event.revision < this.#revision) return false;
    if (event.revision === this.#revision) {
      if (this.#complete || this.#delivered.has(event.key)) return false;
      this.#delivered.add(event.key);
    } else {
      this.#revision = event.revision;
      this.#delivered = new Set([event.key]);
    }
    this.#complete = event.type === "put";
    return true;
  }
}
