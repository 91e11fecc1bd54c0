/**
 * One cluster, two runtimes: two nodes on Deno and one on Bun replicate, forward, fail
 * over when the leader is killed -9 (once on each runtime) and lose no acknowledged
 * write; a data directory written on one runtime is opened by the other.
 */

import assert from "node:assert/strict";
import { TestCluster, type TestNode, waitFor } from "./harness.ts";
import { WriteLoad } from "./load.ts";
import { makeCertificates } from "./certs.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** PUT through `node`; a 503 (it has not heard from the leader yet) is retried. */
async function putVia(node: TestNode, key: string, value: string): Promise<void> {
  let last = "";
  await waitFor(
    `PUT ${key} via ${node.id} (${node.runtime})`,
    async () => {
      const res = await fetch(`${node.httpUrl}/v1/kv/${encodeURIComponent(key)}`, {
        method: "PUT",
        body: value,
        signal: AbortSignal.timeout(10_000),
      });
      last = `${res.status} ${await res.text()}`;
      if (res.status === 503) return undefined;
      assert.equal(res.status, 200, `PUT ${key} via ${node.id} (${node.runtime}): ${last}`);
      return true;
    },
    10_000,
    50,
  ).catch((e) => {
    throw new Error(`${(e as Error).message}; last answer ${last}`);
  });
}

async function read(node: TestNode, key: string, consistency: string): Promise<string | null> {
  const res = await fetch(
    `${node.httpUrl}/v1/kv/${encodeURIComponent(key)}?consistency=${consistency}`,
    { signal: AbortSignal.timeout(10_000) },
  );
  if (res.status === 404) {
    await res.body?.cancel();
    return null;
  }
  assert.equal(res.status, 200, `GET ${key} via ${node.id}`);
  return await res.text();
}

/** Makes `target` the leader (retrying while an election settles). */
async function moveLeaderTo(cluster: TestCluster, target: TestNode): Promise<void> {
  await waitFor(
    `${target.id} (${target.runtime}) to lead`,
    async () => {
      if ((await cluster.leader()) === target) return true;
      await cluster.admin("POST", "/v1/cluster/leader", { to: target.id }, 5_000);
      return (await cluster.leader()) === target ? true : undefined;
    },
    30_000,
    200,
  );
}

/** Waits until `node` has applied everything the leader has committed. */
async function caughtUp(cluster: TestCluster, node: TestNode): Promise<void> {
  const leader = await cluster.leader(15_000);
  const commit = (await cluster.status(leader)).commitIndex;
  await waitFor(`${node.id} to catch up to ${commit}`, async () => {
    const s = await cluster.status(node);
    return s.appliedIndex >= commit ? true : undefined;
  }, 20_000);
}

/** Waits until the background load has `more` acknowledged writes than now. */
async function progress(load: WriteLoad, more: number, what: string): Promise<void> {
  const target = load.acked.size + more;
  await waitFor(`${more} acknowledged writes ${what}`, () => {
    return load.acked.size >= target ? true : undefined;
  }, 20_000);
}

Deno.test(
  "2 Deno nodes and 1 Bun node replicate, forward, survive kill -9 of a Bun and of a Deno leader, and lose nothing",
  opts,
  async () => {
    const cluster = await TestCluster.start(3, [], { runtimes: ["deno", "deno", "bun"] });
    try {
      const bun = cluster.nodes.find((n) => n.runtime === "bun")!;
      const deno = cluster.nodes.find((n) => n.runtime === "deno")!;
      // Writes through every node (the followers forward), read linearizably on every node.
      for (const node of cluster.nodes) await putVia(node, `via/${node.id}`, node.runtime);
      for (const reader of cluster.nodes) {
        for (const writer of cluster.nodes) {
          assert.equal(await read(reader, `via/${writer.id}`, "linearizable"), writer.runtime);
        }
      }
      const load = new WriteLoad(cluster, "mixed/");
      try {
        for (const victim of [bun, deno]) {
          await moveLeaderTo(cluster, victim);
          await progress(load, 30, `with ${victim.id} (${victim.runtime}) leading`);
          await cluster.kill(victim); // SIGKILL
          const next = await cluster.leader(15_000);
          assert.notEqual(next, victim);
          await progress(load, 30, `after killing the ${victim.runtime} leader`);
          cluster.spawn(victim);
          await caughtUp(cluster, victim);
          console.log(
            `killed ${victim.runtime} leader ${victim.id}; ${next.id} (${next.runtime}) took over`,
          );
        }
      } finally {
        await load.stop();
      }
      console.log(`${load.acked.size} acknowledged writes, ${load.failures} failed attempts`);
      for (const node of cluster.nodes) await load.verify(node);
    } catch (e) {
      for (const n of cluster.nodes) {
        console.error(`--- ${n.id} (${n.runtime})\n${cluster.logs(n)}`);
      }
      throw e;
    } finally {
      await cluster.stop();
    }
  },
);

Deno.test(
  "a data directory (log and snapshots) written on Deno opens on Bun, and one written on Bun opens on Deno",
  opts,
  async () => {
    const cluster = await TestCluster.start(3, ["--snapshot-entries", "40"], {
      runtimes: ["deno", "deno", "bun"],
    });
    try {
      const written = new Map<string, string>();
      const write = async (prefix: string, count: number) => {
        for (let i = 0; i < count; i++) {
          const node = cluster.nodes[i % cluster.nodes.length]!;
          await putVia(node, `${prefix}/${i}`, `${prefix}-${i}`);
          written.set(`${prefix}/${i}`, `${prefix}-${i}`);
        }
      };
      await write("before", 150);
      const switched = [cluster.node("n1"), cluster.node("n3")];
      for (const node of switched) {
        await caughtUp(cluster, node);
        const snaps = [...Deno.readDirSync(node.dataDir)].filter((e) => e.name.endsWith(".snap"));
        assert.ok(snaps.length > 0, `${node.id} wrote a snapshot on ${node.runtime}`);
      }
      for (const node of switched) {
        const from = node.runtime;
        await cluster.kill(node, "SIGTERM");
        node.runtime = from === "deno" ? "bun" : "deno";
        cluster.spawn(node);
        await waitFor(`${node.id} back on ${node.runtime}`, async () => {
          const s = await cluster.status(node);
          return s.appliedIndex > 0 ? true : undefined;
        }, 20_000);
        console.log(`${node.id}: data directory written on ${from} reopened on ${node.runtime}`);
      }
      await write("after", 30);
      for (const node of switched) {
        await caughtUp(cluster, node);
        for (const [key, value] of written) {
          assert.equal(await read(node, key, "stale"), value, key);
        }
      }
    } catch (e) {
      for (const n of cluster.nodes) {
        console.error(`--- ${n.id} (${n.runtime})\n${cluster.logs(n)}`);
      }
      throw e;
    } finally {
      await cluster.stop();
    }
  },
);

Deno.test(
  "a mixed cluster speaks TLS between its runtimes: peer TLS, HTTPS and forwarding with tokens",
  opts,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "raftkv-mixed-tls-" });
    await makeCertificates(dir);
    const ca = await Deno.readTextFile(`${dir}/ca.pem`);
    const token = "mixed-token-0123456789abcdef";
    const adminToken = "mixed-admin-token-0123456789abcdef";
    const cluster = await TestCluster.start(3, [
      "--tls-cert",
      `${dir}/node.pem`,
      "--tls-key",
      `${dir}/node.key`,
      "--tls-ca",
      `${dir}/ca.pem`,
      "--peer-tls",
      "--token",
      token,
      "--admin-token",
      adminToken,
    ], { scheme: "https", caCert: ca, token: adminToken, runtimes: ["deno", "bun", "deno"] });
    try {
      // With a Deno and then a Bun leader: every node takes a write (followers forward over
      // HTTPS to the other runtime) and reads every write linearizably (ReadIndex over
      // peer TLS).
      for (const leader of [cluster.node("n1"), cluster.node("n2")]) {
        await moveLeaderTo(cluster, leader);
        for (const node of cluster.nodes) {
          await waitFor(`a write through ${node.id} (${node.runtime})`, async () => {
            const res = await cluster.fetch(`${node.httpUrl}/v1/kv/tls/${leader.id}/${node.id}`, {
              method: "PUT",
              body: node.runtime,
              headers: { authorization: `Bearer ${token}` },
              signal: AbortSignal.timeout(10_000),
            });
            const text = await res.text();
            if (res.status === 503) return undefined;
            assert.equal(res.status, 200, text);
            return true;
          }, 15_000);
        }
        for (const reader of cluster.nodes) {
          for (const writer of cluster.nodes) {
            const key = `tls/${leader.id}/${writer.id}`;
            const res = await cluster.fetch(`${reader.httpUrl}/v1/kv/${key}`, {
              headers: { authorization: `Bearer ${token}` },
              signal: AbortSignal.timeout(10_000),
            });
            assert.equal(await res.text(), writer.runtime, `${key} read on ${reader.id}`);
          }
        }
      }
    } catch (e) {
      for (const n of cluster.nodes) {
        console.error(`--- ${n.id} (${n.runtime})\n${cluster.logs(n)}`);
      }
      throw e;
    } finally {
      await cluster.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
