import assert from "node:assert/strict";
import { refusalError } from "../../src/node/refusals.ts";
import type { RefusalReason } from "../../src/raft/raft.ts";

const ALL: RefusalReason[] = [
  "not_leader",
  "uncommitted_limit",
  "transfer_in_progress",
  "conf_change_pending",
  "not_yet_committed_in_term",
  "invalid_conf_change",
];

Deno.test("a leader refusing a membership change never answers that it is not the leader", () => {
  for (const reason of ALL.filter((r) => r !== "not_leader")) {
    const e = refusalError(reason, "n1", "n1");
    assert.doesNotMatch(e.message, /not the leader/, `${reason}: ${e.message}`);
    assert.doesNotMatch(e.message, /n1 is/, `${reason}: ${e.message}`);
  }
  const young = refusalError("not_yet_committed_in_term", "n1", "n1");
  assert.equal(young.code, "unavailable");
  assert.match(young.message, /just elected/);
  assert.equal(refusalError("conf_change_pending", "n1", "n1").code, "conflict");
  assert.equal(refusalError("invalid_conf_change", "n1", "n1").code, "bad_request");
  assert.equal(refusalError("uncommitted_limit", "n1", "n1").code, "too_many_requests");
});

Deno.test("a follower names the leader it knows, and never itself", () => {
  assert.match(refusalError("not_leader", "n2", "n1").message, /not the leader \(n2 is\)/);
  assert.match(refusalError("not_leader", null, "n1").message, /no leader is known/);
  assert.doesNotMatch(refusalError("not_leader", "n1", "n1").message, /n1 is/);
});
