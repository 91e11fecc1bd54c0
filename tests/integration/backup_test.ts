/**
 * Backup from a live 3-node cluster, restore into a new node, every key equal.
 */

import assert from "node:assert/strict";
import { freePorts, TestCluster, waitFor } from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

Deno.test(
  "a backup streamed from a 3-node cluster restores into a new node with every key equal",
  opts,
  async () => {
    const cluster = await TestCluster.start(3, ["--snapshot-entries", "100"]);
    const dir = await Deno.makeTempDir({ prefix: "raftkv-backup-" });
    let restored: Deno.ChildProcess | null = null;
    try {
      const leader = await cluster.leader();
      const expected = new Map<string, string>();
      await Promise.all(Array.from({ length: 8 }, async (_, w) => {
        for (let i = w; i < 400; i += 8) {
          const value = `value-${i}-${"x".repeat(i % 50)}`;
          const res = await fetch(`${leader.httpUrl}/v1/kv/backup/${i}`, {
            method: "PUT",
            body: value,
          });
          assert.equal(res.status, 200);
          await res.body?.cancel();
          expected.set(`backup/${i}`, value);
        }
      }));
      const follower = cluster.nodes.find((n) => n !== leader)!;
      const res = await fetch(`${follower.httpUrl}/v1/cluster/snapshot`);
      assert.equal(res.status, 200);
      assert.ok(Number(res.headers.get("x-raftkv-snapshot-index")) > 400);
      const file = `${dir}/backup.snap`;
      await Deno.writeFile(file, res.body!);

      const [peerPort, httpPort] = freePorts(2);
      restored = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          MAIN,
          "--id",
          "r1",
          "--peer-addr",
          `127.0.0.1:${peerPort}`,
          "--http-addr",
          `127.0.0.1:${httpPort}`,
          "--data-dir",
          `${dir}/r1`,
          "--restore",
          file,
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      const url = `http://127.0.0.1:${httpPort}`;
      await waitFor("the restored node to lead", async () => {
        const s = await (await fetch(`${url}/v1/status`)).json();
        return s.role === "leader" ? true : undefined;
      });
      const page = await (await fetch(`${url}/v1/kv?prefix=backup/&limit=1000`)).json();
      const got = new Map<string, string>(
        page.items.map((i: { key: string; value: string }) => [i.key, i.value]),
      );
      assert.deepEqual(got, expected);
      const write = await fetch(`${url}/v1/kv/after-restore`, { method: "PUT", body: "ok" });
      assert.equal(
        write.status,
        200,
        `the restored cluster accepts writes: ${await write.clone().text()}`,
      );
      await write.body?.cancel();
      const readBack = await fetch(`${url}/v1/kv/after-restore`);
      assert.equal(await readBack.text(), "ok", "the write after the restore applied");
    } finally {
      if (restored) {
        restored.kill("SIGKILL");
        await restored.status;
      }
      await cluster.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
