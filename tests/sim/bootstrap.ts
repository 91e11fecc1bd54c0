/**
 * How simulated clusters are born: like the node driver (src/node/bootstrap.ts) and
 * etcd, every founding member's log starts with the same committed ConfChange entries
 * 1..n at term 1 (voters, then learners, each sorted by id) over an empty snapshot
 * conf. A host that joins later replays them like any other entry.
 *
 * @module
 */

import type { Entry, HardState, NodeId } from "../../src/raft/messages.ts";
import { EntryType } from "../../src/raft/messages.ts";
import type { Core } from "./core.ts";

/** What a founding member's durable log holds before its first start. */
export interface Bootstrap {
  entries: Entry[];
  hardState: HardState;
}

/** The founding entries for `voters` and `learners` (identical on every member). */
export function bootstrapLog(core: Core, voters: NodeId[], learners: NodeId[]): Bootstrap {
  const changes = [
    ...[...voters].sort().map((nodeId) => ({ type: "addVoter" as const, nodeId, context: "" })),
    ...[...learners].sort().map((nodeId) => ({ type: "addLearner" as const, nodeId, context: "" })),
  ];
  const entries = changes.map((cc, i): Entry => ({
    term: 1,
    index: i + 1,
    type: EntryType.ConfChange,
    data: core.encodeConfChange(cc),
  }));
  return { entries, hardState: { term: 1, vote: null, commit: entries.length } };
}
