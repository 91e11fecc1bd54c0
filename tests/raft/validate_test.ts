import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { Prng } from "../../src/raft/prng.ts";
import { isValidMessage } from "../../src/raft/validate.ts";
import type { Message } from "../../src/raft/messages.ts";
import { bytes, Network } from "./network.ts";

const SEED = 20261123;
const ROUNDS = 2000;

function randomValue(rng: Prng): unknown {
  const pick = [
    () => rng.nextU32() % 5,
    () => -1,
    () => 1.5,
    () => Number.NaN,
    () => Number.MAX_SAFE_INTEGER + 2,
    () => "a",
    () => "",
    () => null,
    () => undefined,
    () => true,
    () => [],
    () => ({}),
    () => new Uint8Array(3),
    () => [{ index: 1, term: 1, type: 0, data: new Uint8Array() }],
    () => ({ index: 2, term: 1, conf: { voters: ["a"], learners: 5 } }),
  ];
  return (pick[rng.nextU32() % pick.length] as () => unknown)();
}

Deno.test("well-formed messages pass validation", () => {
  const m: Message = {
    type: 1,
    from: "a",
    to: "b",
    term: 2,
    prevIndex: 0,
    prevTerm: 0,
    commit: 0,
    entries: [{ index: 1, term: 2, type: 0, data: new Uint8Array() }],
  };
  ok(isValidMessage(m));
  ok(!isValidMessage({ ...m, entries: [{ index: 2, term: 2, type: 0, data: new Uint8Array() }] }));
  ok(!isValidMessage({ ...m, entries: [{ index: 1, term: 3, type: 0, data: new Uint8Array() }] }));
});

Deno.test(`random garbage never throws nor moves state backwards (seed ${SEED})`, () => {
  const rng = new Prng(SEED);
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  ok(net.raft("a").propose(bytes("x")).ok);
  net.tick(1);
  const fields = [
    "prevIndex",
    "prevTerm",
    "commit",
    "entries",
    "index",
    "reject",
    "hintIndex",
    "hintTerm",
    "lastIndex",
    "lastTerm",
    "transfer",
    "context",
    "snapshot",
  ];
  for (let i = 0; i < ROUNDS; i++) {
    for (const id of ["a", "b"]) {
      const before = net.raft(id).status();
      const m: Record<string, unknown> = {
        type: 1 + (rng.nextU32() % 13),
        from: ["a", "b", "c", 7, ""][rng.nextU32() % 5],
        to: id,
        term: randomValue(rng),
      };
      for (const f of fields) if (rng.nextU32() % 2 === 0) m[f] = randomValue(rng);
      try {
        net.raft(id).step(m as unknown as Message);
      } catch (e) {
        throw new Error(`seed ${SEED} round ${i}: ${JSON.stringify(m)} threw ${e}`);
      }
      const after = net.raft(id).status();
      ok(after.term >= before.term && after.commit >= before.commit, `seed ${SEED} round ${i}`);
    }
  }
  // The cluster still works afterwards.
  net.tick(30);
  const lead = net.leader();
  ok(net.raft(lead).propose(bytes("y")).ok);
  net.tick(2);
  assertEquals(net.appliedText("c").at(-1), "y");
});
