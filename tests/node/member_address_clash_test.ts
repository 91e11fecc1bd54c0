/**
 * Adding a member at an address another member already has is refused as a conflict (two
 * members at one address would each receive the other's traffic), before anything is
 * proposed; a free address passes that check.
 */

import assert from "node:assert/strict";
import { Membership, type MembershipDeps } from "../../src/node/membership.ts";
import { RaftkvError } from "../../src/errors.ts";
import type { AddMemberRequest } from "../../src/http/admin_api.ts";
import { silentLogger } from "../../src/node/log.ts";
import { memoryMembers, testNodeConfig } from "./test_config.ts";
import { ConditionWaiters } from "../../src/node/waiters.ts";

/** A leader's Membership whose proposals are counted and refused (nothing is applied). */
function leaderMembership(): { membership: Membership; proposals: unknown[] } {
  const members = memoryMembers(["n1", "n2", "n3"]);
  const proposals: unknown[] = [];
  const conf = { voters: ["n1", "n2", "n3"], learners: [] };
  const deps = {
    config: testNodeConfig({ id: "n1", dataDir: "/nonexistent/n1", initialCluster: members }),
    transport: { setPeers() {} },
    log: silentLogger,
    now: () => 0,
    waiters: new ConditionWaiters(() => 0),
    raft: {
      basicStatus: () => ({ role: "leader", leader: "n1" }),
      status: () => ({ role: "leader", leader: "n1", conf }),
    },
    guard: (propose: () => unknown) => propose(),
    kick() {},
  } as unknown as MembershipDeps; // addMember's checks touch only these
  (deps as unknown as { raft: { proposeConfChange(cc: unknown): unknown } }).raft
    .proposeConfChange = (cc) => {
      proposals.push(cc);
      return { ok: false, reason: "not_leader", leader: null };
    };
  return { membership: new Membership(deps, members), proposals };
}

Deno.test("adding a member at another member's peer address or HTTP URL answers 409", async () => {
  const { membership, proposals } = leaderMembership();
  const signal = new AbortController().signal;
  const n2 = memoryMembers(["n2"]).get("n2")!;
  for (
    const [request, named] of [
      [{ id: "n9", peerAddr: n2.peerAddr, httpUrl: "http://n9", role: "learner" }, "peer address"],
      [{ id: "n9", peerAddr: "mem:n9", httpUrl: n2.httpUrl!, role: "voter" }, "HTTP URL"],
    ] as [AddMemberRequest, string][]
  ) {
    await assert.rejects(membership.addMember(request, signal), (e: unknown) => {
      assert.ok(e instanceof RaftkvError);
      assert.equal(e.code, "conflict");
      assert.match(e.message, new RegExp(`${named} .* belongs to member n2; remove n2 first`));
      return true;
    });
  }
  assert.equal(proposals.length, 0, "nothing proposed");
  // A free address gets past the check to the proposal.
  await assert.rejects(
    membership.addMember(
      { id: "n9", peerAddr: "mem:n9", httpUrl: "http://n9", role: "learner" },
      signal,
    ),
  );
  assert.equal(proposals.length, 1);
});
