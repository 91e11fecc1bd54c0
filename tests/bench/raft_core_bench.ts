/**
 * Raft core throughput: three cores in one process exchanging messages in memory over
 * MemoryStableLogs. The leader proposes 100-byte entries in driver-sized batches; the
 * figure is committed (and applied on the leader) proposals per second.
 *
 * Run: deno run -A tests/bench/raft_core_bench.ts [--seconds 5] [--batch 512]
 */

import { parseArgs } from "node:util";
import { Raft } from "../../src/raft/raft.ts";
import { MemoryStableLog } from "../../src/raft/memory_log.ts";
import type { Message, NodeId } from "../../src/raft/messages.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    batch: { type: "string", default: "512" },
    size: { type: "string", default: "100" },
  },
});
const seconds = Number(values.seconds);
const batchSize = Number(values.batch);
const payload = new Uint8Array(Number(values.size)).fill(7);
/** Keep the logs bounded: compact applied entries beyond this many. */
const COMPACT_KEEP_ENTRIES = 200_000;

const ids = ["n1", "n2", "n3"];
const conf = { voters: ids, learners: [] };
const nodes = new Map<NodeId, { raft: Raft; log: MemoryStableLog; applied: number }>();
ids.forEach((id, i) => {
  const log = new MemoryStableLog({ conf });
  nodes.set(id, { raft: new Raft({ id, log, seed: i + 1 }), log, applied: 0 });
});

let inbox: Message[] = [];
function pumpAll(): void {
  for (;;) {
    let moved = false;
    for (const n of nodes.values()) {
      if (!n.raft.hasReady()) continue;
      moved = true;
      const rd = n.raft.ready();
      for (const m of rd.messages) inbox.push(m);
      n.log.append(rd.entries);
      if (rd.hardState) n.log.setHardState(rd.hardState);
      for (const m of rd.messagesAfterPersist) inbox.push(m);
      const last = rd.committedEntries.at(-1);
      if (last) n.applied = last.index;
      n.raft.advance(rd);
      if (n.applied - n.log.firstIndex() > 2 * COMPACT_KEEP_ENTRIES) {
        n.log.compact(n.applied - COMPACT_KEEP_ENTRIES, conf);
      }
    }
    if (inbox.length > 0) {
      const batch = inbox;
      inbox = [];
      for (const m of batch) nodes.get(m.to)?.raft.step(m);
      moved = true;
    }
    if (!moved) return;
  }
}

const leader = nodes.get("n1");
if (!leader) throw new Error("no n1");
leader.raft.campaign();
pumpAll();
if (leader.raft.status().role !== "leader") throw new Error("n1 did not become leader");

const items: Uint8Array[] = new Array(batchSize).fill(payload);
const startApplied = leader.applied;
const t0 = performance.now();
let proposed = 0;
let refused = 0;
while (performance.now() - t0 < seconds * 1000) {
  for (let k = 0; k < 4; k++) {
    const r = leader.raft.proposeBatch(items);
    if (r.ok) proposed += batchSize;
    else refused++;
  }
  pumpAll();
}
pumpAll();
const elapsedS = (performance.now() - t0) / 1000;
const committed = leader.applied - startApplied;
const minApplied = Math.min(...[...nodes.values()].map((n) => n.applied));
console.log(
  `raft core: ${Math.round(committed / elapsedS).toLocaleString("en-US")} committed proposals/s ` +
    `(${committed} in ${elapsedS.toFixed(2)} s, batch ${batchSize} x ${payload.byteLength} B, ` +
    `3 cores in memory; refused batches ${refused}; slowest node applied ${minApplied})`,
);
