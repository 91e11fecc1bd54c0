/**
 * Raft core throughput: three cores in one process exchanging messages in memory over
 * MemoryStableLogs (no I/O). The leader proposes 100-byte entries with proposeBatch in
 * driver-sized batches; the figure is proposals committed and applied on every node per
 * second. Prints one line per batch size.
 *
 * Run: deno run -A tests/bench/raft_core_bench.ts [--seconds 4] [--batches 256,1024]
 */

import { cpuUsage } from "node:process";
import { parseArgs } from "node:util";
import { Raft } from "../../src/raft/raft.ts";
import { MemoryStableLog } from "../../src/raft/memory_log.ts";
import type { Message, NodeId } from "../../src/raft/messages.ts";

/** Keep the in-memory logs bounded: compact applied entries beyond this many. */
const COMPACT_KEEP_ENTRIES = 200_000;
/** Batches proposed between two pumps of the cluster (a driver's tick worth). */
const BATCHES_PER_PUMP = 4;

interface BenchNode {
  raft: Raft;
  log: MemoryStableLog;
  applied: number;
}

function makeCluster(): Map<NodeId, BenchNode> {
  const ids = ["n1", "n2", "n3"];
  const conf = { voters: ids, learners: [] };
  const nodes = new Map<NodeId, BenchNode>();
  ids.forEach((id, i) => {
    const log = new MemoryStableLog({ conf });
    nodes.set(id, { raft: new Raft({ id, log, seed: i + 1 }), log, applied: 0 });
  });
  return nodes;
}

/** Plays host for every node until no core has anything left to do. */
function pumpAll(nodes: Map<NodeId, BenchNode>): void {
  let inbox: Message[] = [];
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
        n.log.compact(n.applied - COMPACT_KEEP_ENTRIES, n.raft.status().conf);
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

function runOnce(batchSize: number, seconds: number, payload: Uint8Array): void {
  const nodes = makeCluster();
  const leader = nodes.get("n1") as BenchNode;
  leader.raft.campaign();
  pumpAll(nodes);
  if (leader.raft.status().role !== "leader") throw new Error("n1 did not become leader");
  const items: Uint8Array[] = new Array(batchSize).fill(payload);
  const start = Math.min(...[...nodes.values()].map((n) => n.applied));
  let refused = 0;
  const cpu0 = cpuUsage();
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    for (let k = 0; k < BATCHES_PER_PUMP; k++) {
      if (!leader.raft.proposeBatch(items).ok) refused++;
    }
    pumpAll(nodes);
  }
  const elapsedS = (performance.now() - t0) / 1000;
  const cpu = cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  const committed = Math.min(...[...nodes.values()].map((n) => n.applied)) - start;
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  // Per CPU-second as well: wall-clock figures drop when other processes share the CPU.
  console.log(
    `raft core: ${fmt(committed / elapsedS)} proposals/s committed and applied on all 3 ` +
      `nodes; ${fmt(committed / cpuS)} per CPU-second (batch ${batchSize} x ` +
      `${payload.byteLength} B, ${committed} in ${elapsedS.toFixed(2)} s wall, ` +
      `${cpuS.toFixed(2)} s CPU, refused batches ${refused})`,
  );
}

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "4" },
    batches: { type: "string", default: "256,1024" },
    size: { type: "string", default: "100" },
  },
});
const payload = new Uint8Array(Number(values.size)).fill(7);
for (const b of values.batches.split(",")) runOnce(Number(b), Number(values.seconds), payload);
