/**
 * What a client is told when the core refuses a proposal or the node will not take a
 * write: one exhaustive switch over the core's {@link RefusalReason}s, so a new reason
 * does not compile until it has an answer here.
 *
 * @module
 */

import { RaftkvError } from "../errors.ts";
import type { NodeId } from "../raft/messages.ts";
import type { RefusalReason } from "../raft/raft.ts";

/** The error for a proposal refused for `reason`; `self` is this node's id. */
export function refusalError(
  reason: RefusalReason,
  leader: NodeId | null,
  self: NodeId,
): RaftkvError {
  switch (reason) {
    case "not_leader":
      if (leader === null) return new RaftkvError("unavailable", "no leader is known", 1);
      // A node never names itself as the leader it is not (a stale view of its own role).
      if (leader === self) {
        return new RaftkvError("unavailable", "leadership is changing; retry shortly", 1);
      }
      return new RaftkvError("unavailable", `this node is not the leader (${leader} is)`, 1);
    case "uncommitted_limit":
      return new RaftkvError("too_many_requests", "too many uncommitted writes; retry shortly", 1);
    case "transfer_in_progress":
      return new RaftkvError("unavailable", "leadership is being transferred; retry shortly", 1);
    case "conf_change_pending":
      return new RaftkvError(
        "conflict",
        "another membership change is in progress; retry after it",
      );
    case "not_yet_committed_in_term":
      return new RaftkvError(
        "unavailable",
        "this leader was just elected and takes membership changes once its first entry " +
          "commits; retry shortly",
        1,
      );
    case "invalid_conf_change":
      return new RaftkvError(
        "bad_request",
        "that membership change is not valid for the current configuration",
      );
    default:
      return unreachable(reason);
  }
}

/** A write this node gave up before proposing or applying: safe to retry. */
export function notApplied(message: string): RaftkvError {
  return new RaftkvError("unavailable", `${message}; the write was not applied`, 1);
}

function unreachable(reason: never): never {
  throw new Error(`unhandled refusal reason ${String(reason)}`);
}
