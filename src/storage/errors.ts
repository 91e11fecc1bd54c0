/**
 * Storage failures the node driver must treat specially. Neither is a user error:
 * both stop the node.
 *
 * - {@link StorageCorruptionError}: the data directory cannot be trusted; the node
 *   refuses to start and the operator rebuilds it from the cluster.
 * - {@link FatalStorageError}: an fsync or write failed. After a failed fsync the
 *   kernel may have dropped dirty pages, so retrying could acknowledge lost data.
 *   The driver must exit the process (it restarts and recovers from what is durable).
 *
 * @module
 */

import { RaftkvError } from "../errors.ts";

/** How an operator recovers a node whose log is corrupt. */
export const CORRUPTION_REMEDY =
  "wipe this node's data directory and re-add the node, so the leader rebuilds it";

/** Where recovery found damage it must not repair by itself. */
export interface CorruptionLocation {
  /** The damaged file (full path). */
  file: string;
  /** Byte offset of the damaged record inside `file`. */
  offset: number;
  /** The log index the record would hold (or the first index expected there). */
  index: number;
}

/**
 * The on-disk log is damaged somewhere other than a torn final write: a CRC mismatch
 * or short record mid-log, a missing segment, or an index gap. Nothing was modified.
 */
export class StorageCorruptionError extends Error {
  /** The damaged file. */
  readonly file: string;
  /** Byte offset in `file`. */
  readonly offset: number;
  /** The log index concerned. */
  readonly index: number;

  /** Builds the message from the location and what was wrong (`detail`). */
  constructor(where: CorruptionLocation, detail: string) {
    super(
      `storage corruption in ${where.file} at byte offset ${where.offset} ` +
        `(log index ${where.index}): ${detail}. Nothing was modified. To recover, ` +
        CORRUPTION_REMEDY + ".",
    );
    this.name = "StorageCorruptionError";
    this.file = where.file;
    this.offset = where.offset;
    this.index = where.index;
  }
}

/**
 * A write or fsync failed. The storage refuses all further writes; the node driver
 * must end the process (do not retry: the data may be gone from the page cache).
 */
export class FatalStorageError extends Error {
  /** Wraps the underlying I/O error, naming the operation that failed. */
  constructor(operation: string, cause: unknown) {
    super(`fatal storage error during ${operation}: ${String(cause)}`, { cause });
    this.name = "FatalStorageError";
  }
}

/**
 * The commit queue is full (see `MAX_WAITING_SAVES` in commit_queue.ts): the save or
 * exclusive operation was refused before anything was staged, so nothing of it was
 * written or acknowledged, and the caller must not treat it as durable. A
 * `too_many_requests` {@link RaftkvError}, so that if it ever reaches HTTP it answers
 * 429 (retry later); the node's Ready loop, which keeps one save in flight, never
 * fills the queue, and treats any refusal there as fatal.
 */
export class SaveQueueFullError extends RaftkvError {
  /** Names the limit that was reached. */
  constructor(pending: number) {
    super(
      "too_many_requests",
      `storage is overloaded: ${pending} saves already queued; retry shortly`,
      1,
    );
    this.name = "SaveQueueFullError";
  }
}
