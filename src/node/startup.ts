/**
 * What a node starts from (its member book, flags and latest snapshot) and how it stops
 * when it cannot go on: the default fatal handler is the one place a node exits.
 *
 * @module
 */

import type { NodeId } from "../raft/messages.ts";
import type { RaftStorage } from "../storage/raft_storage.ts";
import { KvStore } from "../kv/store.ts";
import { loadMemberBook, type MemberBook, mergeAddress } from "./member_book.ts";
import { kvLimitsOf, type MemberAddress, type NodeConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import { decodeNodeSnapshot } from "./snapshot_format.ts";
import { runtime } from "../runtime/current.ts";

/** The state machine and member addresses a node starts with. */
export interface StartState {
  kv: KvStore;
  members: Map<NodeId, MemberAddress>;
}

/**
 * Loads the member book (refusing a node that was removed), adds the flags' members,
 * and restores the state machine from storage's latest snapshot.
 */
export async function loadStartState(
  config: NodeConfig,
  storage: RaftStorage,
  loadBook: () => Promise<MemberBook | null> = () => loadMemberBook(config.dataDir),
): Promise<StartState> {
  const book = await loadBook();
  if (book?.removed) {
    throw new Error(
      `node ${config.id} was removed from the cluster; it cannot start as a member again. ` +
        `Wipe ${config.dataDir} and add it anew (POST /v1/cluster/members or --join).`,
    );
  }
  const members = new Map(book?.members ?? []);
  for (const [id, addr] of config.initialCluster) {
    members.set(id, mergeAddress(members.get(id), addr));
  }
  let kv = new KvStore(kvLimitsOf(config));
  const opened = storage.openSnapshot();
  if (opened && opened.meta.index > 0) {
    const decoded = await decodeNodeSnapshot(opened.chunks());
    kv = await KvStore.restore(decoded.kvChunks, kvLimitsOf(config));
    for (const [id, addr] of decoded.header.members) {
      if (!members.has(id)) members.set(id, addr);
    }
  }
  return { kv, members };
}

/** The default reaction to a fatal error: log it and exit the process (the one place). */
export function exitOnFatal(log: Logger): (e: unknown) => void {
  return (e) => {
    log.log("error", "fatal error (storage failure or broken invariant): exiting", {
      error: e instanceof Error ? e.stack ?? e.message : String(e),
    });
    runtime.exit(1);
  };
}

/** Why a voter whose data was lost stops (see `BasicStatus.lostLog`). */
export function lostLogError(
  id: NodeId,
  from: NodeId,
  lastIndex: number,
  acknowledged: number,
): Error {
  return new Error(
    `this node's log ends at index ${lastIndex}, but leader ${from} counts it as ` +
      `holding index ${acknowledged}: its data was lost (data directory wiped or ` +
      `truncated). Remove it (DELETE /v1/cluster/members/${id}) and add it again ` +
      `with an empty data directory and --join`,
  );
}
