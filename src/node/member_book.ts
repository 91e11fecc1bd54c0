/**
 * The address book (`members.json` in the data directory): every member's peer and
 * HTTP address, and whether this node was removed. Membership itself lives in the
 * Raft log; this file only remembers where members are, so that a restarted or joined
 * node can reach peers it learned about from flags or from a join answer.
 *
 * @module
 */

import type { NodeId } from "../raft/messages.ts";
import type { MemberAddress } from "./config.ts";

/** The file's contents. */
export interface MemberBook {
  /** Set once this node applied its own removal: it must not start as a member again. */
  removed: boolean;
  members: [NodeId, MemberAddress][];
}

const FILE = "members.json";

/**
 * The address to keep when `incoming` (from flags, a membership entry or a snapshot)
 * meets what is `known`: incoming wins, except that an unknown (null) HTTP URL keeps the
 * known one for the same peer address. So a bootstrap entry without `@http://…`,
 * replayed at every restart, does not forget the URL the member announced in its handshake.
 */
export function mergeAddress(
  known: MemberAddress | undefined,
  incoming: MemberAddress,
): MemberAddress {
  if (incoming.httpUrl !== null || known?.peerAddr !== incoming.peerAddr) return incoming;
  return { peerAddr: incoming.peerAddr, httpUrl: known.httpUrl };
}

/** Reads the book, or null when there is none. */
export async function loadMemberBook(dataDir: string): Promise<MemberBook | null> {
  try {
    const book = JSON.parse(await Deno.readTextFile(`${dataDir}/${FILE}`)) as MemberBook;
    if (!Array.isArray(book.members)) throw new Error("members is not a list");
    return book;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new Error(`${dataDir}/${FILE} is unreadable: ${(e as Error).message}`);
  }
}

/** Replaces the book atomically: temp file, fsync, rename. */
export async function saveMemberBook(dataDir: string, book: MemberBook): Promise<void> {
  const tmp = `${dataDir}/${FILE}.tmp`;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    const bytes = new TextEncoder().encode(JSON.stringify(book, null, 2));
    for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
    await file.syncData();
  } finally {
    file.close();
  }
  await Deno.rename(tmp, `${dataDir}/${FILE}`);
}
