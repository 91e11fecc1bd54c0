/**
 * Two nodes on one data directory: the second refuses to start (on Deno and on Bun,
 * whichever runtime holds it), the first keeps serving, and after a `kill -9` of the
 * holder the directory starts again (the kernel dropped the lock).
 */

import assert from "node:assert/strict";
import { freePorts, TEST_RUNTIME, TestCluster, waitFor } from "./harness.ts";
import { runArgs, runtimeExecutable } from "../../src/runtime/command.ts";
import type { RuntimeName } from "../../src/runtime/runtime.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;
/** How long a refused start may take (runtime start-up included). */
const REFUSAL_TIMEOUT_MS = 30_000;

/** Starts `id` on `dataDir` with fresh ports; resolves with its exit code and output. */
async function secondNode(
  runtime: RuntimeName,
  id: string,
  dataDir: string,
): Promise<{ code: number; output: string }> {
  const [peerPort, httpPort] = freePorts(2);
  const child = new Deno.Command(runtimeExecutable(runtime), {
    args: [
      ...runArgs(runtime, MAIN),
      "--id",
      id,
      "--peer-addr",
      `127.0.0.1:${peerPort}`,
      "--http-addr",
      `127.0.0.1:${httpPort}`,
      "--data-dir",
      dataDir,
    ],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), REFUSAL_TIMEOUT_MS);
  try {
    const { code, stdout, stderr } = await child.output();
    const text = new TextDecoder();
    return { code, output: text.decode(stdout) + text.decode(stderr) };
  } finally {
    clearTimeout(timer);
  }
}

Deno.test(
  "a second node on a data directory in use refuses to start; the first keeps serving",
  opts,
  async () => {
    const cluster = await TestCluster.start(1);
    try {
      const n1 = cluster.nodes[0]!;
      const put = await cluster.fetch(`${n1.httpUrl}/v1/kv/before`, { method: "PUT", body: "1" });
      assert.equal(put.status, 200, await put.text());
      for (const runtime of new Set<RuntimeName>([TEST_RUNTIME, "deno", "bun"])) {
        const second = await secondNode(runtime, n1.id, n1.dataDir);
        assert.notEqual(second.code, 0, `${runtime}: ${second.output}`);
        assert.match(second.output, /is in use by another process/, `${runtime}`);
      }
      const after = await cluster.fetch(`${n1.httpUrl}/v1/kv/after`, { method: "PUT", body: "2" });
      assert.equal(after.status, 200, await after.text());

      // kill -9 leaves the LOCK file behind but not the lock: the node starts again.
      await cluster.kill(n1);
      cluster.spawn(n1);
      await cluster.leader();
      const read = await waitFor("n1 serves again", async () => {
        const res = await cluster.fetch(`${n1.httpUrl}/v1/kv/after`);
        if (res.status === 200) return await res.text();
        await res.body?.cancel();
        return undefined;
      });
      assert.equal(read, "2", cluster.logs(n1));
    } finally {
      await cluster.stop();
    }
  },
);
