/**
 * One process per data directory: a node holds an exclusive flock on `<dir>/LOCK` while
 * its storage is open, so a second node started on the same directory (a duplicate
 * systemd unit, a restore run beside the live node) refuses to start instead of
 * recovering, truncating and appending to the WAL the first one is writing. The kernel
 * drops the lock when the holder exits, even on `kill -9`, so a crash leaves nothing to
 * clean up.
 *
 * Within one process the lock is shared (counted): tests reopen a directory whose
 * earlier storage they abandoned to simulate a crash, which is not a second writer.
 *
 * @module
 */

import { resolve } from "node:path";
import { runtime } from "../runtime/current.ts";

/** The lock file's name inside a data directory (it holds no data). */
export const LOCK_FILE_NAME = "LOCK";

/** Locks this process holds, by resolved directory: how many opens share each. */
const held = new Map<string, { release: () => void; opens: number }>();

/**
 * Takes `dir`'s lock for this process, or throws naming the directory when another
 * process holds it. Resolves with the function that gives this open's share back.
 */
export async function lockDataDir(dir: string): Promise<() => void> {
  const key = resolve(dir);
  let entry = held.get(key);
  if (entry === undefined) {
    const release = await runtime.lockFile(`${dir}/${LOCK_FILE_NAME}`);
    if (release === null) {
      throw new Error(
        `data directory ${dir} is in use by another process (it holds ${dir}/` +
          `${LOCK_FILE_NAME}); stop that node first: two nodes on one data directory would ` +
          `corrupt its log`,
      );
    }
    // Another open of the same directory may have won while this one waited.
    const raced = held.get(key);
    if (raced !== undefined) release();
    entry = raced ?? { release, opens: 0 };
    held.set(key, entry);
  }
  entry.opens++;
  const share = entry;
  let given = false;
  return () => {
    if (given) return;
    given = true;
    if (--share.opens === 0 && held.get(key) === share) {
      held.delete(key);
      share.release();
    }
  };
}
