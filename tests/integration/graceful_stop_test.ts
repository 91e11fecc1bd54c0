/**
 * Graceful stop with real processes: SIGTERM to the leader of a 3-node cluster while a
 * client writes through a follower. The leader hands off (no election timeout to wait
 * out) and exits 0, a survivor leads, writes resume, and every acknowledged write reads
 * back. The write gap is printed, and only bounded generously here: timing goals belong
 * to the benchmarks.
 */

import assert from "node:assert/strict";
import { TestCluster, type TestNode, waitFor } from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** Acknowledged writes before the SIGTERM, to be sure the stream is steady. */
const WRITES_BEFORE = 30;
/** Acknowledged writes after the stopped leader exited, to be sure writes resumed for good. */
const WRITES_AFTER = 30;
/** Hard caps of the write loop. */
const MAX_WRITES = 5_000;
const MAX_LOOP_MS = 30_000;
/** Generous bound on the gap between the last write acknowledged before and the first after. */
const MAX_GAP_MS = 5_000;
/** The stopped leader must have exited within this long of its SIGTERM. */
const MAX_EXIT_MS = 10_000;

interface Ack {
  key: string;
  value: string;
  /** performance.now() when the answer arrived. */
  at: number;
}

Deno.test(
  "SIGTERM to the leader: it exits 0, a survivor leads, writes through a follower resume, none lost",
  opts,
  async () => {
    const cluster = await TestCluster.start(3);
    try {
      const leader = await cluster.leader();
      const via = cluster.nodes.find((n) => n !== leader)!;
      const acks: Ack[] = [];
      let failures = 0;
      let sigtermAt: number | null = null;
      let exit: Promise<{ code: number; at: number }> | null = null;
      let exited: { code: number; at: number } | null = null;
      let acksAtExit = 0;
      const started = performance.now();
      for (let i = 0; i < MAX_WRITES && performance.now() - started < MAX_LOOP_MS; i++) {
        if (sigtermAt === null && acks.length >= WRITES_BEFORE) {
          sigtermAt = performance.now();
          exit = stopGracefully(leader);
          exit.then((e) => {
            exited = e;
            acksAtExit = acks.length;
          });
        } else if (exited !== null && acks.length - acksAtExit >= WRITES_AFTER) {
          break;
        }
        const key = `gs/${i}`;
        const value = `v${i}`;
        if (await putOnce(via, key, value)) acks.push({ key, value, at: performance.now() });
        else failures++;
      }
      assert.ok(sigtermAt !== null && exit !== null, "the leader was never stopped");
      const { code, at: exitedAt } = await exit;
      assert.equal(code, 0, `the stopped leader exited ${code}:\n${cluster.logs(leader)}`);
      assert.ok(exitedAt - sigtermAt < MAX_EXIT_MS, `exit took ${exitedAt - sigtermAt} ms`);

      const lastBefore = acks.findLastIndex((a) => a.at < sigtermAt!);
      const after = acks.filter((a) => a.at > exitedAt).length;
      assert.ok(lastBefore >= 0, "no write acknowledged before the SIGTERM");
      assert.ok(after >= WRITES_AFTER, `only ${after} writes acknowledged after the leader exited`);
      // The signal is handled a moment after it is sent, so the outage is the longest
      // pause between two acknowledged writes from the last one before the SIGTERM on.
      let gapMs = 0;
      let gapEndsAt = 0;
      for (let i = lastBefore + 1; i < acks.length; i++) {
        const gap = acks[i]!.at - acks[i - 1]!.at;
        if (gap > gapMs) [gapMs, gapEndsAt] = [gap, acks[i]!.at];
      }
      const medianMs = median(acks.slice(1, lastBefore + 1).map((a, i) => a.at - acks[i]!.at));
      console.log(
        `graceful stop of ${leader.id}: longest write gap ${gapMs.toFixed(1)} ms, ending ` +
          `${(gapEndsAt - sigtermAt).toFixed(1)} ms after the SIGTERM (steady median ` +
          `${medianMs.toFixed(1)} ms per write); exit ${(exitedAt - sigtermAt).toFixed(1)} ms ` +
          `after the SIGTERM; ${failures} writes failed, ${acks.length} acknowledged`,
      );
      assert.ok(gapMs < MAX_GAP_MS, `writes stopped for ${gapMs.toFixed(0)} ms`);
      // Without the hand-off the survivors wait out an election timeout (≈1 s here).
      await waitFor(
        `${leader.id} to log its hand-off`,
        () => cluster.logs(leader).includes("leadership handed off") ? true : undefined,
        5_000,
      );

      const survivors = cluster.nodes.filter((n) => n !== leader);
      const next = await cluster.leader();
      assert.ok(survivors.includes(next), `${next.id} leads`);
      for (const node of survivors) {
        await waitFor(`${node.id} to follow ${next.id}`, async () => {
          return (await cluster.status(node)).leader === next.id ? true : undefined;
        });
      }
      for (const node of survivors) {
        for (const { key, value } of acks) {
          const res = await fetch(`${node.httpUrl}/v1/kv/${key}?consistency=linearizable`, {
            signal: AbortSignal.timeout(10_000),
          });
          assert.equal(res.status, 200, `acknowledged ${key} missing on ${node.id}`);
          assert.equal(await res.text(), value, `${key} on ${node.id}`);
        }
      }
    } finally {
      await cluster.stop();
    }
  },
);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** One PUT; true when acknowledged. Failures (503 while the leader moves) are expected. */
async function putOnce(node: TestNode, key: string, value: string): Promise<boolean> {
  try {
    const res = await fetch(`${node.httpUrl}/v1/kv/${key}`, {
      method: "PUT",
      body: value,
      signal: AbortSignal.timeout(5_000),
    });
    await res.body?.cancel();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** Sends SIGTERM; resolves with the exit code and when the process ended. */
async function stopGracefully(node: TestNode): Promise<{ code: number; at: number }> {
  const child = node.process!;
  child.kill("SIGTERM");
  const status = await child.status;
  const at = performance.now();
  node.process = null;
  return { code: status.code, at };
}
