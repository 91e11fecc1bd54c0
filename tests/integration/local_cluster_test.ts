/**
 * `deno task cluster` (src/cluster.ts): a data folder keeps the number of voters it was
 * started with, and another `--nodes` is refused before any node starts.
 */

import assert from "node:assert/strict";

const CLUSTER = new URL("../../src/cluster.ts", import.meta.url).pathname;

async function startCluster(dataDir: string, nodes: number) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLUSTER, "--data-dir", dataDir, "--nodes", String(nodes)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("a data folder of 3 voters refuses --nodes 5, recorded or inferred from its folders", async () => {
  const recorded = await Deno.makeTempDir({ prefix: "raftkv-cluster-" });
  const legacy = await Deno.makeTempDir({ prefix: "raftkv-cluster-" });
  try {
    await Deno.writeTextFile(`${recorded}/cluster.json`, JSON.stringify({ voters: 3 }));
    for (const id of ["n1", "n2", "n3"]) await Deno.mkdir(`${legacy}/${id}`);
    for (const dir of [recorded, legacy]) {
      const { code, stderr } = await startCluster(dir, 5);
      assert.equal(code, 2, stderr);
      assert.match(stderr, /holds a cluster of 3 voters, so it cannot start with --nodes 5/);
    }
  } finally {
    await Deno.remove(recorded, { recursive: true });
    await Deno.remove(legacy, { recursive: true });
  }
});
