import assert from "node:assert/strict";
import {
  FAULT_KINDS,
  type FaultKind,
  FaultPlan,
  type PlannedFault,
  type ResolvedFault,
  resolveFault,
} from "./nemesis.ts";
import type { Cut } from "./netns.ts";

const VOTERS = ["n1", "n2", "n3", "n4", "n5"];
const LEARNERS = ["n6"];

function plan(seed: number, count: number, kinds: readonly FaultKind[] = FAULT_KINDS) {
  const p = new FaultPlan(seed, kinds);
  return Array.from({ length: count }, () => p.next());
}

/** The first item (asserted present). */
function first<T>(items: readonly T[]): T {
  assert(items.length > 0, "expected at least one item");
  return items[0] as T;
}

/** The victims of a kill or pause. */
function victims(r: ResolvedFault): string[] {
  if (r.kind === "partition") throw new Error("expected a kill or pause");
  return r.victims;
}

/** Whether packets can go from `a` to `b` under `cuts`. */
function reaches(cuts: readonly Cut[], a: string, b: string): boolean {
  return !cuts.some((c) => c.from === a && c.to === b);
}

function partitionOf(variant: string, seed: number, leader: string | null = "n3") {
  const fault: PlannedFault = { ...first(plan(seed, 1, ["partition"])), variant };
  const resolved = resolveFault(fault, VOTERS, LEARNERS, leader);
  assert.equal(resolved.kind, "partition");
  return resolved.kind === "partition" ? resolved.cuts : [];
}

Deno.test("the same seed plans the same faults, another seed different ones", () => {
  assert.deepEqual(plan(7, 50), plan(7, 50));
  assert.notDeepEqual(plan(7, 50), plan(8, 50));
});

Deno.test("a plan draws only the requested kinds, with holds and gaps in range", () => {
  for (const f of plan(11, 200, ["pause"])) {
    assert.equal(f.kind, "pause");
    assert(f.holdMs >= 1500 && f.holdMs < 6000 && f.gapMs >= 1000 && f.gapMs < 4000);
  }
  const kinds = new Set(plan(12, 200).map((f) => f.kind));
  assert.deepEqual([...kinds].sort(), ["kill", "partition", "pause"]);
});

Deno.test("kill and pause variants pick the leader, a minority or a majority of voters", () => {
  for (let seed = 0; seed < 50; seed++) {
    for (const kind of ["kill", "pause"] as const) {
      const base = first(plan(seed, 1, [kind]));
      const at = (variant: string) =>
        victims(resolveFault({ ...base, variant }, VOTERS, LEARNERS, "n4"));
      assert.deepEqual(at("leader"), ["n4"]);
      assert.equal(new Set(at("minority")).size, 2);
      assert.equal(new Set(at("majority")).size, 3);
      assert.deepEqual(at("learner"), ["n6"]);
      assert(at("majority").every((v) => VOTERS.includes(v)));
    }
  }
});

Deno.test("halves splits the voters 2|3 and cuts every pair across, both ways", () => {
  for (let seed = 0; seed < 50; seed++) {
    const cuts = partitionOf("halves", seed);
    const cutOff = VOTERS.filter((v) => VOTERS.some((w) => !reaches(cuts, v, w)));
    assert.equal(cutOff.length, 5);
    const side = VOTERS.filter((v) => reaches(cuts, "n1", v));
    assert(side.length === 2 || side.length === 3, `side ${side}`);
    for (const c of cuts) assert(!reaches(cuts, c.to, c.from), "cuts are symmetric");
  }
});

Deno.test("isolate-leader cuts the leader off from everyone, learner included", () => {
  const cuts = partitionOf("isolate-leader", 1, "n2");
  for (const other of ["n1", "n3", "n4", "n5", "n6"]) {
    assert(!reaches(cuts, "n2", other) && !reaches(cuts, other, "n2"));
  }
  assert(reaches(cuts, "n1", "n5") && reaches(cuts, "n6", "n3"));
});

Deno.test("bridge: one voter sees both sides, which do not see each other", () => {
  for (let seed = 0; seed < 50; seed++) {
    const cuts = partitionOf("bridge", seed);
    const bridges = VOTERS.filter((v) => VOTERS.every((w) => reaches(cuts, v, w)));
    assert.equal(bridges.length, 1, `seed ${seed}: exactly one bridge`);
    const rest = VOTERS.filter((v) => v !== bridges[0]);
    const sideA = rest.filter((v) => reaches(cuts, first(rest), v));
    assert.equal(sideA.length, 2, `seed ${seed}: sides of two`);
    for (const a of sideA) {
      for (const b of rest.filter((v) => !sideA.includes(v))) {
        assert(!reaches(cuts, a, b) && !reaches(cuts, b, a));
      }
    }
  }
});

Deno.test("one-way partitions cut only the leader's sending or only its hearing", () => {
  const send = partitionOf("leader-cannot-send", 1, "n5");
  assert(send.every((c) => c.from === "n5") && send.length === 5);
  const hear = partitionOf("leader-cannot-hear", 1, "n5");
  assert(hear.every((c) => c.to === "n5") && hear.length === 5);
});

Deno.test("with no known leader a random voter stands in", () => {
  const base = first(plan(3, 1, ["kill"]));
  const r = resolveFault({ ...base, variant: "leader" }, VOTERS, LEARNERS, null);
  assert.equal(r.kind, "kill");
  assert(VOTERS.includes(first(victims(r))));
});
