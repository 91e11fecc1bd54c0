import assert from "node:assert/strict";
import type { Entry } from "../../src/raft/messages.ts";
import {
  chainDigest,
  entryFingerprint,
  InvariantChecker,
  InvariantViolation,
} from "./invariants.ts";

const enc = new TextEncoder();
function entry(index: number, term: number, text: string): Entry {
  return { index, term, type: 0, data: enc.encode(text) };
}

function violation(fn: () => void, name: string): void {
  assert.throws(fn, (e: unknown) => e instanceof InvariantViolation && e.invariant === name);
}

/** Applies `entries` on `node` through the checker, as a host does. */
function applyAll(inv: InvariantChecker, node: string, entries: Entry[]): number {
  let digest = 0;
  for (const e of entries) {
    inv.observeCommitted(node, e, 1);
    const fp = entryFingerprint(e);
    digest = chainDigest(digest, e.index, e.term, fp);
    inv.observeApplied(node, e.index, e.term, fp, digest);
  }
  return digest;
}

Deno.test("two leaders in one term break election safety", () => {
  const inv = new InvariantChecker();
  inv.observeLeader("n1", 3);
  inv.observeLeader("n1", 3);
  inv.observeLeader("n2", 4);
  violation(() => inv.observeLeader("n2", 3), "election-safety");
});

Deno.test("a voter granting two candidates in one term breaks election safety", () => {
  const inv = new InvariantChecker();
  inv.observeVoteGranted("n1", 2, "n2");
  inv.observeVoteGranted("n1", 2, "n2"); // a repeated grant (retransmission) is fine
  inv.observeVoteGranted("n1", 3, "n3");
  violation(() => inv.observeVoteGranted("n1", 2, "n3"), "election-safety");
});

Deno.test("same (index, term) with different payload or predecessor breaks log matching", () => {
  const inv = new InvariantChecker();
  inv.observeLogAppend("n1", [entry(1, 1, "a"), entry(2, 1, "b")], 0);
  inv.observeLogAppend("n2", [entry(1, 1, "a"), entry(2, 1, "b"), entry(3, 2, "c")], 0);
  violation(() => inv.observeLogAppend("n3", [entry(2, 1, "X")], 1), "log-matching");
  violation(() => inv.observeLogAppend("n3", [entry(3, 2, "c")], 2), "log-matching");
});

Deno.test("log matching rejects gaps and decreasing terms within an append", () => {
  const inv = new InvariantChecker();
  violation(
    () => inv.observeLogAppend("n1", [entry(1, 1, "a"), entry(3, 1, "b")], 0),
    "log-matching",
  );
  violation(
    () => inv.observeLogAppend("n1", [entry(1, 2, "a"), entry(2, 1, "b")], 0),
    "log-matching",
  );
});

Deno.test("two nodes applying different entries at one index break state machine safety", () => {
  const inv = new InvariantChecker();
  applyAll(inv, "n1", [entry(1, 1, "a"), entry(2, 1, "b")]);
  violation(
    () => applyAll(inv, "n2", [entry(1, 1, "a"), entry(2, 2, "z")]),
    "state-machine-safety",
  );
});

Deno.test("applied state that diverges earlier is caught by the digest", () => {
  const inv = new InvariantChecker();
  applyAll(inv, "n1", [entry(1, 1, "a")]);
  violation(() => inv.observeDigest("n2", 1, 12345), "state-machine-safety");
});

Deno.test("a leader missing a committed entry breaks leader completeness", () => {
  const inv = new InvariantChecker();
  applyAll(inv, "n1", [entry(1, 1, "a"), entry(2, 1, "b")]);
  const log = new Map([[1, 1]]); // holds index 1 only
  violation(
    () => inv.checkLeaderCompleteness("n2", 2, 1, (i) => log.get(i)),
    "leader-completeness",
  );
  const full = new Map([[1, 1], [2, 1]]);
  inv.checkLeaderCompleteness("n3", 2, 1, (i) => full.get(i));
});

Deno.test("leader completeness skips entries compacted into the leader's snapshot", () => {
  const inv = new InvariantChecker();
  applyAll(inv, "n1", [entry(1, 1, "a"), entry(2, 1, "b")]);
  inv.checkLeaderCompleteness("n2", 2, 3, () => undefined);
});

Deno.test("an acked write that is not the committed entry is reported", () => {
  const inv = new InvariantChecker();
  const e = entry(1, 1, "a");
  applyAll(inv, "n1", [e]);
  inv.observeAck(1, 1, entryFingerprint(e));
  violation(() => inv.observeAck(1, 2, entryFingerprint(e)), "durability-of-acked-writes");
});

Deno.test("a node that never applied up to the last acked write fails the final check", () => {
  const inv = new InvariantChecker();
  const d = applyAll(inv, "n1", [entry(1, 1, "a"), entry(2, 1, "b")]);
  inv.observeAck(2, 1, entryFingerprint(entry(2, 1, "b")));
  inv.checkAckedApplied("n1", 2, d);
  violation(() => inv.checkAckedApplied("n2", 1, 0), "durability-of-acked-writes");
});

Deno.test("a read answered below a write acked before it was issued is reported", () => {
  const inv = new InvariantChecker();
  const e = entry(1, 1, "a");
  inv.observeReadIssued(1); // before the ack: index 0 is fine
  applyAll(inv, "n1", [e]);
  inv.observeAck(1, 1, entryFingerprint(e));
  inv.observeReadIssued(2);
  inv.observeReadState("n1", 1, 0);
  violation(() => inv.observeReadState("n1", 2, 0), "read-after-acked-write");
});

Deno.test("a snapshot disagreeing with the committed term is reported", () => {
  const inv = new InvariantChecker();
  applyAll(inv, "n1", [entry(1, 1, "a")]);
  inv.observeSnapshot("n2", 1, 1);
  violation(() => inv.observeSnapshot("n2", 1, 2), "state-machine-safety");
});
