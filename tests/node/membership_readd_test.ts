/**
 * A member removed and later added back under the same id (a wiped voter re-added with
 * --join replays both entries from the log) is a member again: it does not stay
 * "removed" and serve 503 forever, and its saved member book says so.
 */

import assert from "node:assert/strict";
import { Membership, type MembershipDeps } from "../../src/node/membership.ts";
import { encodeConfChange } from "../../src/raft/conf_change_codec.ts";
import { type ConfChange, type Entry, EntryType } from "../../src/raft/messages.ts";
import type { MemberBook } from "../../src/node/member_book.ts";
import { silentLogger } from "../../src/node/log.ts";
import { memoryMembers, testNodeConfig } from "./test_config.ts";
import { ConditionWaiters } from "../../src/node/waiters.ts";

function entry(index: number, cc: ConfChange): Entry {
  return { term: 2, index, type: EntryType.ConfChange, data: encodeConfChange(cc) };
}

Deno.test("a member removed and then added back under its id is a member again", async () => {
  const members = memoryMembers(["n1", "n2", "n3"]);
  const books: MemberBook[] = [];
  const deps = {
    config: testNodeConfig({ id: "n2", dataDir: "/nonexistent/n2", initialCluster: members }),
    transport: { setPeers() {} },
    log: silentLogger,
    now: () => 0,
    waiters: new ConditionWaiters(() => 0),
    saveBook: (book: MemberBook) => {
      books.push(book);
      return Promise.resolve();
    },
  } as unknown as MembershipDeps; // applying entries touches only these
  const membership = new Membership(deps, members);
  const context = JSON.stringify({ peerAddr: "mem:n2", httpUrl: "http://n2" });
  membership.applyConfChange(entry(10, { type: "remove", nodeId: "n2", context: "" }));
  assert.equal(membership.removed, true);
  membership.applyConfChange(entry(11, { type: "addLearner", nodeId: "n2", context }));
  assert.equal(membership.removed, false);
  membership.applyConfChange(entry(12, { type: "promote", nodeId: "n2", context: "" }));
  assert.equal(membership.removed, false);
  await membership.flushed();
  assert.deepEqual(books.map((b) => b.removed), [true, false, false]);
  // Another member's removal leaves this one alone.
  membership.applyConfChange(entry(13, { type: "remove", nodeId: "n3", context: "" }));
  assert.equal(membership.removed, false);
});
