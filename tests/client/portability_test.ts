/**
 * The client against a live 3-node cluster: the same bundled smoke test under Deno,
 * Node and Bun (both from npm), and a leader kill in the middle of a stream of client
 * writes that loses none and duplicates none.
 */

import assert from "node:assert/strict";
import { TestCluster, waitFor } from "../integration/harness.ts";
import { createClient } from "../../src/client/mod.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const SMOKE = new URL("./portable_smoke.ts", import.meta.url).pathname;

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `${cmd} ${args.join(" ")} failed:\n${text}`);
  return text;
}

Deno.test("the same bundled client smoke test passes under Deno, Node and Bun", opts, async () => {
  const cluster = await TestCluster.start(3);
  const dir = await Deno.makeTempDir({ prefix: "raftkv-portable-" });
  try {
    const leader = await cluster.leader();
    const follower = cluster.nodes.find((n) => n !== leader)!; // writes are forwarded
    const bundle = `${dir}/smoke.mjs`;
    await run("npx", [
      "-y",
      "esbuild@0.24",
      SMOKE,
      "--bundle",
      "--format=esm",
      "--platform=neutral",
      "--target=es2022",
      `--outfile=${bundle}`,
    ]);
    const runtimes: [string, string[]][] = [
      [Deno.execPath(), ["run", "-A", bundle, follower.httpUrl]],
      ["node", [bundle, follower.httpUrl]],
      ["npx", ["-y", "bun@1", bundle, follower.httpUrl]],
    ];
    for (const [cmd, args] of runtimes) {
      const output = await run(cmd, args);
      assert.match(output, /^ok$/m, `${cmd}: ${output}`);
    }
  } finally {
    await cluster.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  "a leader kill during a stream of client writes loses none and duplicates none",
  opts,
  async () => {
    const cluster = await TestCluster.start(3);
    try {
      const kv = createClient({
        endpoints: cluster.nodes.map((n) => n.httpUrl),
        timeoutMs: 3_000,
        retries: 20,
      });
      const WRITES = 200;
      let killed: Promise<void> | null = null;
      for (let i = 0; i < WRITES; i++) {
        if (i === WRITES / 2) killed = cluster.kill(await cluster.leader());
        const result = await kv.put(`failover/${i}`, `v${i}`);
        assert.equal(result.version, 1, `failover/${i} applied more than once`);
      }
      await killed;
      const keys: string[] = [];
      const reader = createClient({
        endpoints: cluster.nodes.filter((n) => n.process).map((n) => n.httpUrl),
      });
      for await (const item of reader.list("failover/")) keys.push(item.key);
      assert.equal(keys.length, WRITES);
      // Every write shows up exactly once in the change history.
      const puts = new Map<string, number>();
      const controller = new AbortController();
      const watching = (async () => {
        for await (
          const e of reader.watch("failover/", { fromRevision: 1, signal: controller.signal })
        ) {
          puts.set(e.key, (puts.get(e.key) ?? 0) + 1);
          if (puts.size === WRITES) controller.abort();
        }
      })();
      await waitFor(
        "every write in the watch history",
        () => puts.size === WRITES || undefined,
        10_000,
      );
      controller.abort();
      await watching;
      assert.ok([...puts.values()].every((n) => n === 1), "a write appears twice in the history");
    } finally {
      await cluster.stop();
    }
  },
);
