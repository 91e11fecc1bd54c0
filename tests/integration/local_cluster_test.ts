/**
 * `deno task cluster` (src/cluster.ts): a data folder keeps the number of voters it was
 * started with, and another `--nodes` is refused before any node starts.
 */

import assert from "node:assert/strict";

const CLUSTER = new URL("../../src/cluster.ts", import.meta.url).pathname;

async function startCluster(dataDir: string, nodes: number | string, extra: string[] = []) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLUSTER, "--data-dir", dataDir, "--nodes", String(nodes), ...extra],
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

Deno.test("--nodes and --learners take decimal digits only", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftkv-cluster-" });
  try {
    for (const nodes of ["0x3", "", "3e0", "0"]) {
      const { code, stderr } = await startCluster(dir, nodes);
      assert.equal(code, 2, stderr);
      assert.match(stderr, /--nodes must be 1 to 9/);
    }
    const { code, stderr } = await startCluster(dir, 3, ["--learners", "1e0"]);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /--learners must be 0 or more/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
