import assert from "node:assert/strict";
import { type Entry, EntryType, MessageType, type Ready } from "../../src/raft/messages.ts";
import type { Raft } from "../../src/raft/raft.ts";
import { type Core, loadCore } from "./core.ts";
import { decodeEnvelope, encodeEnvelope } from "../../src/kv/codec.ts";
import { type RunResult, runSimulation } from "./run.ts";

/** Seeds per size in the quick sweep (CI's `deno task sim` runs the long one). */
const SWEEP_SEEDS = 30;
const SWEEP_STEPS = 2000;

function explain(r: RunResult): string {
  const f = r.failure;
  if (f === null) return "";
  return `seed ${r.seed} failed at step ${f.step}: ${f.message}\n  ${r.config}\n` +
    `  replay: deno task sim --seed ${r.seed} --steps ${r.stepsRequested} --trace\n` +
    f.trace.slice(-30).map((l) => `    ${l}`).join("\n");
}

Deno.test("the shipped node keeps every invariant over 30 seeds × 2000 steps on 3, 5 and 7 voters", async () => {
  const core = await loadCore();
  let acked = 0;
  for (let seed = 1; seed <= SWEEP_SEEDS; seed++) {
    const voters = [3, 5, 7][seed % 3] as number;
    const r = await runSimulation({ seed, steps: SWEEP_STEPS, core, shape: { voters } });
    assert.equal(r.failure, null, explain(r));
    acked += r.stats.writesAcked;
  }
  assert.ok(acked > SWEEP_SEEDS * 10, `only ${acked} writes acknowledged in the sweep`);
});

Deno.test("a run replays identically from its seed", async () => {
  const core = await loadCore();
  const a = await runSimulation({ seed: 77, steps: 1500, core });
  const b = await runSimulation({ seed: 77, steps: 1500, core });
  assert.deepEqual(a, b);
});

/** Wraps `core` so that `wrap` may tamper with the Raft instance of node `id`. */
function tampered(core: Core, wrap: (id: string, raft: Raft) => Raft): Core {
  return { ...core, newRaft: (config) => wrap(config.id, core.newRaft(config)) };
}

Deno.test("the simulator reports a node that applies a different entry than its peers", async () => {
  const core = await loadCore();
  let forged = false;
  const forge = (entries: Entry[]) =>
    entries.forEach((e, i) => {
      if (!forged && e.index >= 10 && e.type === EntryType.Normal && e.data.length > 0) {
        forged = true;
        entries[i] = { ...e, data: new TextEncoder().encode("forged") };
      }
    });
  const lying = tampered(core, (id, raft) => {
    if (id !== "n2") return raft;
    // Committed entries reach the node through a Ready or while one persists.
    const ready = raft.ready.bind(raft);
    raft.ready = (): Ready => {
      const rd = ready();
      forge(rd.committedEntries);
      return rd;
    };
    const takeApplicable = raft.takeApplicable.bind(raft);
    raft.takeApplicable = () => {
      const taken = takeApplicable();
      forge(taken.committedEntries);
      return taken;
    };
    return raft;
  });
  const r = await runSimulation({ seed: 5, steps: 3000, core: lying, shape: { voters: 3 } });
  assert.notEqual(r.failure, null, "a forged committed entry went unnoticed");
  assert.equal(r.failure?.invariant, "state-machine-safety", explain(r));
});

Deno.test("the simulator reports lost liveness when no node ever times out", async () => {
  const core = await loadCore();
  const frozen = tampered(core, (_id, raft) => {
    raft.tick = () => {};
    return raft;
  });
  const r = await runSimulation({ seed: 6, steps: 200, core: frozen, shape: { voters: 3 } });
  assert.equal(r.failure?.invariant, "liveness", explain(r));
});

Deno.test("the simulator reports two leaders claiming one term", async () => {
  const core = await loadCore();
  // A follower n3 impersonates its leader: it sends a heartbeat as leader of that term.
  const impostor = tampered(core, (id, raft) => {
    if (id !== "n3") return raft;
    const ready = raft.ready.bind(raft);
    raft.ready = (): Ready => {
      const rd = ready();
      const st = raft.status();
      if (st.role === "follower" && st.leader !== null && st.leader !== id) {
        const to = st.leader === "n1" ? "n2" : "n1";
        rd.messages.push({
          type: MessageType.Heartbeat,
          from: id,
          to,
          term: st.term,
          commit: 0,
          context: 0,
        });
      }
      return rd;
    };
    return raft;
  });
  const r = await runSimulation({ seed: 8, steps: 3000, core: impostor, shape: { voters: 3 } });
  assert.equal(r.failure?.invariant, "election-safety", explain(r));
});

Deno.test("the simulator reports a lease expiring early when the leader's clock runs ahead", async () => {
  const core = await loadCore();
  // Every expiry entry is stamped 150 ms ahead of the (virtual) clock, as a leader whose
  // clock jumped would stamp it: leases due within those 150 ms go early.
  const skewed = tampered(core, (_id, raft) => {
    const propose = raft.propose.bind(raft);
    raft.propose = (data) => {
      const envelope = decodeEnvelope(data);
      if (envelope.command.op !== "expire") return propose(data);
      return propose(encodeEnvelope({ ...envelope, nowMs: envelope.nowMs + 150 }));
    };
    return raft;
  });
  let caught: RunResult | null = null;
  for (let seed = 1; seed <= 10 && caught === null; seed++) {
    const r = await runSimulation({ seed, steps: 3000, core: skewed, shape: { voters: 3 } });
    if (r.failure !== null) caught = r;
  }
  assert.notEqual(caught, null, "leases expiring 150 ms early went unnoticed in 10 seeds");
  assert.equal(caught?.failure?.invariant, "lease-early-expiry", explain(caught!));
});

Deno.test("the simulator's workload grants, renews and expires leases and runs transactions", async () => {
  const core = await loadCore();
  const r = await runSimulation({ seed: 3, steps: 3000, core, shape: { voters: 3 } });
  assert.equal(r.failure, null, explain(r));
  assert.ok(r.stats.leasesGranted > 0 && r.stats.keepalivesAcked > 0, JSON.stringify(r.stats));
  assert.ok(r.stats.leasesExpired > 0, JSON.stringify(r.stats));
});
