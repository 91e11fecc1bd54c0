/**
 * Membership rules for single-server changes: which changes are valid against a
 * configuration, and the configuration that results. Joint consensus is not used, so
 * the core allows only one change in flight at a time (enforced in raft.ts).
 *
 * @module
 */

import { assert } from "./assert.ts";
import type { ConfChange, ConfState, NodeId } from "./messages.ts";

/** Asserts that no member is listed twice, nor both voter and learner (small lists). */
function assertWellFormed(conf: ConfState): void {
  const seen = new Set<NodeId>();
  for (const id of [...conf.voters, ...conf.learners]) {
    assert(!seen.has(id), `member ${id} listed twice`);
    seen.add(id);
  }
}

/** Why a change cannot apply to a configuration, or null when it can. */
export function confChangeError(conf: ConfState, cc: ConfChange): string | null {
  assertWellFormed(conf);
  const isVoter = conf.voters.includes(cc.nodeId);
  const isLearner = conf.learners.includes(cc.nodeId);
  switch (cc.type) {
    case "addVoter":
      return isVoter || isLearner ? "already a member (use promote for learners)" : null;
    case "addLearner":
      return isVoter || isLearner ? "already a member" : null;
    case "promote":
      return isLearner ? null : "not a learner";
    case "remove":
      if (!isVoter && !isLearner) return "not a member";
      if (isVoter && conf.voters.length === 1) return "cannot remove the last voter";
      return null;
  }
}

/** The configuration after `cc`; an invalid change leaves a copy of `conf` unchanged. */
export function applyConfChange(conf: ConfState, cc: ConfChange): ConfState {
  const voters = conf.voters.slice();
  const learners = conf.learners.slice();
  if (confChangeError(conf, cc) !== null) return { voters, learners };
  const next = changed(voters, learners, cc);
  assertWellFormed(next);
  assert(
    conf.voters.length === 0 || next.voters.length > 0,
    "a change never removes the last voter",
  );
  return next;
}

function changed(voters: NodeId[], learners: NodeId[], cc: ConfChange): ConfState {
  const without = (list: NodeId[]) => list.filter((id) => id !== cc.nodeId);
  switch (cc.type) {
    case "addVoter":
      return { voters: [...voters, cc.nodeId], learners };
    case "addLearner":
      return { voters, learners: [...learners, cc.nodeId] };
    case "promote":
      return { voters: [...voters, cc.nodeId], learners: without(learners) };
    case "remove":
      return { voters: without(voters), learners: without(learners) };
  }
}

/** A deep copy of a configuration. */
export function cloneConf(conf: ConfState): ConfState {
  return { voters: conf.voters.slice(), learners: conf.learners.slice() };
}
