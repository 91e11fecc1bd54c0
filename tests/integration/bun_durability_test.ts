/**
 * Durability on Bun, proven rather than assumed: kill -9 of every node of an all-Bun
 * cluster under writes loses no acknowledged write, and strace shows a Bun node really
 * calls fdatasync(2) on its WAL segment for every acknowledged write.
 */

import assert from "node:assert/strict";
import { freePorts, TestCluster, waitFor } from "./harness.ts";
import { WriteLoad } from "./load.ts";
import { runArgs, runtimeExecutable } from "../../src/runtime/command.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

Deno.test(
  "kill -9 of every node of a Bun cluster under writes loses no acknowledged write",
  opts,
  async () => {
    const cluster = await TestCluster.start(3, [], { runtimes: ["bun"] });
    try {
      const load = new WriteLoad(cluster, "crash/");
      try {
        await waitFor("200 acknowledged writes", () => {
          return load.acked.size >= 200 ? true : undefined;
        }, 30_000);
        // All at once: no member survives to hand the data back, only the disks.
        await Promise.all(cluster.nodes.map((n) => cluster.kill(n)));
      } finally {
        await load.stop();
      }
      for (const node of cluster.nodes) cluster.spawn(node);
      await cluster.leader(20_000);
      console.log(`${load.acked.size} acknowledged writes before the kill; checking each node`);
      for (const node of cluster.nodes) await load.verify(node);
    } catch (e) {
      for (const n of cluster.nodes) console.error(`--- ${n.id}\n${cluster.logs(n)}`);
      throw e;
    } finally {
      await cluster.stop();
    }
  },
);

/** The children of `pid` (from /proc; strace's only child is the traced node). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
    const text = Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/children`).trim();
    if (text) out.push(...text.split(/\s+/).map(Number));
  }
  return out;
}

/** SIGKILLs the node strace runs, then waits for strace to write its trace and exit. */
async function stopTraced(strace: Deno.ChildProcess): Promise<void> {
  try {
    for (const pid of childrenOf(strace.pid)) Deno.kill(pid, "SIGKILL");
  } catch { /* already gone */ }
  await strace.status;
}

Deno.test(
  "strace: a Bun node calls fdatasync on its WAL segment for every acknowledged write",
  opts,
  async () => {
    const which = await new Deno.Command("sh", { args: ["-c", "command -v strace"] }).output();
    assert.ok(which.success, "strace is needed for this proof (apt-get install strace)");
    const dir = await Deno.makeTempDir({ prefix: "raftkv-strace-" });
    const [peerPort, httpPort] = freePorts(2);
    const url = `http://127.0.0.1:${httpPort}`;
    const trace = `${dir}/trace.txt`;
    const strace = new Deno.Command("strace", {
      args: [
        "-f",
        "-qq",
        "-y", // file descriptors with their paths: the sync must be on a .wal file
        "-e",
        "trace=fdatasync,fsync",
        "-o",
        trace,
        runtimeExecutable("bun"),
        ...runArgs("bun", MAIN),
        "--id",
        "n1",
        "--peer-addr",
        `127.0.0.1:${peerPort}`,
        "--http-addr",
        `127.0.0.1:${httpPort}`,
        "--data-dir",
        `${dir}/n1`,
        "--initial-cluster",
        `n1=127.0.0.1:${peerPort}@${url}`,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      await waitFor("the traced Bun node to lead", async () => {
        const res = await fetch(`${url}/v1/status`, { signal: AbortSignal.timeout(1000) });
        const s = await res.json();
        return s.role === "leader" && s.ready ? true : undefined;
      }, 30_000);
      const WRITES = 50;
      for (let i = 0; i < WRITES; i++) {
        // One at a time: each acknowledgement needs its own commit group, so its own sync.
        const res = await fetch(`${url}/v1/kv/synced/${i}`, { method: "PUT", body: `v${i}` });
        assert.equal(res.status, 200, await res.text());
      }
      // strace buffers its output file: count once the traced node is gone.
      await stopTraced(strace);
      const lines = Deno.readTextFileSync(trace).split("\n");
      const walSyncs = lines.filter((l) => /fdatasync\(\d+<[^>]*\.wal>\) = 0/.test(l)).length;
      const failed = lines.filter((l) => /sync\(.*= -1/.test(l));
      console.log(`${WRITES} acknowledged writes, ${walSyncs} fdatasync calls on .wal files`);
      assert.deepEqual(failed, [], "no sync call failed");
      assert.ok(
        walSyncs >= WRITES,
        `only ${walSyncs} WAL fdatasyncs for ${WRITES} acknowledged writes`,
      );
    } finally {
      await stopTraced(strace);
      await Deno.remove(dir, { recursive: true });
    }
  },
);
