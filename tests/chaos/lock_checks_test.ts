import assert from "node:assert/strict";
import { checkFencedCounter, countOf, type IncrementRecord } from "./lock_checks.ts";

/** An increment of holding `holding` from `basedOn` to count+1, tagged `tag`. */
function inc(
  tag: string,
  holding: string,
  basedOn: string | null,
  outcome: IncrementRecord["outcome"],
  revision: number | null = null,
): IncrementRecord {
  return { tag, holding, basedOn, value: `${countOf(basedOn) + 1}/${tag}`, outcome, revision };
}

Deno.test("a clean run of fenced increments passes and is counted", () => {
  const increments = [
    inc("a", "L1", null, "acked", 10),
    inc("b", "L1", "1/a", "acked", 11),
    inc("c", "L2", "2/b", "acked", 14),
    inc("d", "L3", "3/c", "fenced"),
  ];
  const { violations, summary } = checkFencedCounter(increments, [null, "1/a", "2/b"], "3/c");
  assert.deepEqual(violations, []);
  assert.deepEqual(summary, {
    acked: 3,
    fenced: 1,
    staleFenced: 0,
    unknown: 0,
    unknownApplied: 0,
    finalCount: 3,
    holdings: 3,
  });
});

Deno.test("an unknown increment counts when a later read saw it, not otherwise", () => {
  const increments = [
    inc("a", "L1", null, "acked", 10),
    inc("b", "L1", "1/a", "unknown"),
    inc("c", "L2", "2/b", "acked", 14),
    inc("d", "L3", "3/c", "unknown"),
  ];
  const result = checkFencedCounter(increments, [null, "1/a", "2/b"], "3/c");
  assert.deepEqual(result.violations, []);
  assert.equal(result.summary.unknownApplied, 1);
});

Deno.test("two holders incrementing from the same read lose an increment: rejected", () => {
  const increments = [
    inc("a", "L1", null, "acked", 10),
    inc("b", "L1", "1/a", "acked", 12),
    inc("c", "L2", "1/a", "acked", 13),
  ];
  const { violations } = checkFencedCounter(increments, [null, "1/a", "1/a"], "2/c");
  assert(violations.some((v) => v.includes("increments were lost")), violations.join("\n"));
  assert(violations.some((v) => v.includes("two holders at once")), violations.join("\n"));
});

Deno.test("another holder's write between two writes of one holding is rejected", () => {
  const increments = [
    inc("a", "L1", null, "acked", 10),
    inc("b", "L2", "1/a", "acked", 11),
    inc("c", "L1", "2/b", "acked", 12),
  ];
  const { violations } = checkFencedCounter(increments, [null, "1/a", "2/b"], "3/c");
  assert.equal(violations.length, 1, violations.join("\n"));
  assert.match(violations[0] ?? "", /holding L1 wrote again/);
});

Deno.test("a value from a fenced-out write, or from nowhere, is rejected", () => {
  const fenced = [inc("a", "L1", null, "fenced")];
  const one = checkFencedCounter(fenced, [], "1/a");
  assert(one.violations.some((v) => v.includes("answered fenced")), one.violations.join("\n"));
  const nowhere = checkFencedCounter([], [], "5/x");
  assert(nowhere.violations.some((v) => v.includes("no increment wrote")));
  assert(nowhere.violations.some((v) => v.includes("doubled")));
});

Deno.test("a write acknowledged after its holder's lease was revoked breaks the fence", () => {
  const stale = { ...inc("a", "L1", null, "acked", 10), stale: true };
  const { violations } = checkFencedCounter([stale], [null], "1/a");
  assert.equal(violations.length, 1, violations.join("\n"));
  assert.match(violations[0] ?? "", /the fence did not hold/);
  const fenced = { ...inc("b", "L2", null, "fenced"), stale: true };
  assert.equal(checkFencedCounter([fenced], [null], null).summary.staleFenced, 1);
});
