/**
 * Members started with `--initial-cluster id=host:port` only (no `@http://…`, which
 * `--help` calls optional) learn each other's HTTP URLs from the peer handshake, so a
 * follower forwards writes and serves linearizable reads, also after a leader change.
 */

import assert from "node:assert/strict";
import { TestCluster, type TestNode, waitFor } from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function status(
  cluster: TestCluster,
  node: TestNode,
): Promise<{ leader: string | null; leaderHttpUrl: string | null }> {
  return await cluster.status(node) as unknown as {
    leader: string | null;
    leaderHttpUrl: string | null;
  };
}

/** Waits until `node` names `leader` and knows its HTTP URL. */
async function knowsLeaderUrl(cluster: TestCluster, node: TestNode, leader: TestNode) {
  await waitFor(`${node.id} to know ${leader.id}'s HTTP URL`, async () => {
    const s = await status(cluster, node);
    return s.leader === leader.id && s.leaderHttpUrl === leader.httpUrl ? true : undefined;
  });
}

async function putThrough(node: TestNode, key: string, value: string): Promise<void> {
  const res = await fetch(`${node.httpUrl}/v1/kv/${key}`, {
    method: "PUT",
    body: value,
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 200, `PUT ${key} through ${node.id}: ${await res.text()}`);
}

async function readThrough(node: TestNode, key: string): Promise<string> {
  const res = await fetch(`${node.httpUrl}/v1/kv/${key}?consistency=linearizable`, {
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  assert.equal(res.status, 200, `GET ${key} through ${node.id}: ${text}`);
  return text;
}

Deno.test(
  "without @http in --initial-cluster, followers learn HTTP URLs and forward writes and reads",
  opts,
  async () => {
    const cluster = await TestCluster.start(3, [], { httpUrlsInInitialCluster: false });
    try {
      const leader = await cluster.leader();
      const followers = cluster.nodes.filter((n) => n !== leader);
      for (const follower of followers) {
        await knowsLeaderUrl(cluster, follower, leader);
        await putThrough(follower, `via-${follower.id}`, follower.id);
        assert.equal(await readThrough(follower, `via-${follower.id}`), follower.id);
      }
      // Every member knows every member's URL, and keeps it in its address book.
      for (const node of cluster.nodes) {
        const info = await (await cluster.fetch(`${node.httpUrl}/v1/cluster`)).json() as {
          members: { id: string; httpUrl: string | null }[];
        };
        for (const member of info.members) {
          assert.equal(member.httpUrl, cluster.node(member.id).httpUrl, `${member.id} via leader`);
        }
        await waitFor(`${node.id}'s members.json to hold every URL`, async () => {
          const book = JSON.parse(await Deno.readTextFile(`${node.dataDir}/members.json`)) as {
            members: [string, { httpUrl: string | null }][];
          };
          const urls = book.members.map(([id, addr]) => [id, addr.httpUrl]);
          const want = cluster.nodes.map((n) => [n.id, n.httpUrl]);
          return JSON.stringify(urls.sort()) === JSON.stringify(want.sort()) ? true : undefined;
        });
      }
      // After a leader change the survivors forward to the new leader as well.
      await cluster.kill(leader);
      const next = await cluster.leader();
      const survivor = followers.find((n) => n !== next)!;
      await knowsLeaderUrl(cluster, survivor, next);
      await putThrough(survivor, "after-change", "1");
      assert.equal(await readThrough(survivor, "after-change"), "1");
    } catch (error) {
      for (const node of cluster.nodes) console.error(`--- ${node.id}\n${cluster.logs(node)}`);
      throw error;
    } finally {
      await cluster.stop();
    }
  },
);
