import assert from "node:assert/strict";
import { HistoryBuilder, type Operation, randomHistory } from "./history.ts";
import { checkHistory } from "./linearizability.ts";
import { reduceUnknowns } from "./reduce.ts";

Deno.test("an unknown write whose value was read completes at the earliest such read", () => {
  const h = new HistoryBuilder()
    .put(1, "k", "a", [0, null])
    .cas(2, "k", null, "b", [1, null])
    .get(3, "k", [10, 20], "a")
    .get(4, "k", [5, 15], "a")
    .build();
  const r = reduceUnknowns(h);
  assert.equal(r.promoted, 1);
  assert.equal(r.dropped, 1);
  const put = r.history.find((op) => op.input.op === "put");
  assert.deepEqual({ ret: put?.ret, output: put?.output }, { ret: 15, output: { ok: true } });
  assert(!r.history.some((op) => op.input.op === "cas"), "the unseen cas is dropped");
});

Deno.test("known operations pass through unchanged", () => {
  const h = new HistoryBuilder()
    .put(1, "k", "a", [0, 5])
    .delete(2, "k", [6, 8], true)
    .get(3, "k", [9, 12], null)
    .build();
  assert.deepEqual(reduceUnknowns(h).history, h);
});

/** Flips one get's answer to another value written to that key: often not linearizable. */
function corrupt(history: Operation[], seed: number): Operation[] {
  const gets = history.filter((op) => op.input.op === "get" && op.ret !== null);
  const victim = gets[seed % Math.max(1, gets.length)];
  const other = history.find((op) =>
    op.input.op === "put" && victim?.input.op === "get" && op.input.key === victim.input.key &&
    op.call > victim.call
  );
  if (victim === undefined || other === undefined || other.input.op !== "put") return history;
  const value = other.input.value;
  return history.map((op) => op.id === victim.id ? { ...op, output: { value } } : op);
}

for (const txnRate of [0, 0.3]) {
  Deno.test(
    `a reduced history that passes means the full one passes (random and corrupted, ${
      txnRate > 0 ? "with" : "without"
    } transactions)`,
    () => {
      reducedPassImpliesFullPass(txnRate);
    },
  );
}

function reducedPassImpliesFullPass(txnRate: number): void {
  let reducedPasses = 0;
  let reducedFailsFullPasses = 0;
  for (let seed = 1; seed <= 150; seed++) {
    const base = randomHistory({
      seed,
      clients: 4,
      // Two keys a transaction joins make one bigger search; a failing one is costly.
      opsPerClient: txnRate > 0 ? 15 : 25,
      keys: 2,
      unknownRate: 0.2,
      values: "unique",
      txnRate,
    });
    for (const h of [base, corrupt(base, seed)]) {
      const reduced = checkHistory(reduceUnknowns(h).history, { timeoutMs: 5000 });
      const full = checkHistory(h, { timeoutMs: 5000 });
      if (reduced.ok === true) {
        reducedPasses++;
        assert.equal(full.ok, true, `seed ${seed}: reduced passed but the full history fails`);
      } else if (full.ok === true) reducedFailsFullPasses++;
    }
  }
  assert(reducedPasses > 100, `only ${reducedPasses} reduced passes`);
  console.log(
    `${reducedPasses} reduced passes; ${reducedFailsFullPasses} needed the full history`,
  );
}

Deno.test("an unknown transaction whose put was read completes with success at that read", () => {
  const txn = {
    compare: [],
    success: [{ op: "put" as const, key: "a", value: "a1" }, {
      op: "put" as const,
      key: "b",
      value: "b1",
    }],
    failure: [],
  };
  const h = new HistoryBuilder()
    .op(1, [0, null], { op: "txn", ...txn }, null)
    .get(2, "b", [5, 9], "b1")
    .get(3, "a", [10, 12], "a1")
    .build();
  const reduced = reduceUnknowns(h);
  assert.equal(reduced.promoted, 1);
  assert.deepEqual(reduced.history[0], {
    ...h[0],
    ret: 9,
    output: { succeeded: true, results: [{ ok: true }, { ok: true }] },
  });
});
