/**
 * The first log entries of a new cluster. Like etcd, every initial member writes the
 * same committed ConfChange entries at indices 1..n (term 1), so membership and member
 * addresses live in the log itself: a learner that joins later replays them like any
 * other entry. The entries must be byte-identical on every member, so members are
 * sorted by id; every member must be started with the same --initial-cluster.
 *
 * @module
 */

import { encodeConfChange } from "../raft/conf_change_codec.ts";
import { type Entry, EntryType, type HardState, type NodeId } from "../raft/messages.ts";
import type { MemberAddress } from "./config.ts";

/** The bootstrap entries and the hard state that marks them committed. */
export function bootstrapEntries(
  members: ReadonlyMap<NodeId, MemberAddress>,
): { hardState: HardState; entries: Entry[] } {
  const ids = [...members.keys()].sort();
  const entries = ids.map((id, i): Entry => {
    const addr = members.get(id)!;
    return {
      term: 1,
      index: i + 1,
      type: EntryType.ConfChange,
      data: encodeConfChange({
        type: "addVoter",
        nodeId: id,
        context: JSON.stringify({ peerAddr: addr.peerAddr, httpUrl: addr.httpUrl }),
      }),
    };
  });
  return { hardState: { term: 1, vote: null, commit: entries.length }, entries };
}
