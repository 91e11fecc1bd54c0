/**
 * Checks shared by the tests that attack a live cluster: a set of known keys written
 * before and verified after, every node still alive and healthy, writes still served.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type TestCluster, type TestNode, waitFor } from "../integration/harness.ts";

/** A bearer token with read-write scope for the attacked cluster. */
export const RW_TOKEN = "fuzz-rw-token-0123456789";
/** The admin token: the attackers never send it, so membership cannot change. */
export const ADMIN_TOKEN = "fuzz-admin-token-0123456789";
/** Node flags: client and admin tokens, so membership changes need a token nobody fuzzes. */
export const AUTH_FLAGS = ["--token", RW_TOKEN, "--admin-token", ADMIN_TOKEN, "--fsync", "never"];

/** A known key: its name, value and the modRevision its write answered. */
export interface KnownKey {
  key: string;
  value: string;
  modRevision: number;
}

/** The HTTP port of a node. */
export function httpPort(node: TestNode): number {
  return Number(new URL(node.httpUrl).port);
}

/** The peer port of a node. */
export function peerPort(node: TestNode): number {
  return Number(node.peerAddr.split(":")[1]);
}

/** Writes `count` keys under `prefix` through the leader and remembers their revisions. */
export async function writeKnownKeys(
  cluster: TestCluster,
  prefix: string,
  count: number,
): Promise<KnownKey[]> {
  const leader = await cluster.leader();
  const known: KnownKey[] = [];
  for (let i = 0; i < count; i++) {
    const key = `${prefix}${i}`;
    const value = `value-${i}-${"x".repeat(i)}`;
    const res = await cluster.fetch(`${leader.httpUrl}/v1/kv/${key}`, {
      method: "PUT",
      body: value,
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    assert.equal(res.status, 200, `writing ${key}: ${text}`);
    const { modRevision } = JSON.parse(text) as { modRevision: number };
    known.push({ key, value, modRevision });
  }
  return known;
}

/** Asserts every known key still holds its value at its revision, read linearizably. */
export async function assertKnownKeysIntact(cluster: TestCluster, known: KnownKey[]) {
  const leader = await cluster.leader();
  for (const { key, value, modRevision } of known) {
    const res = await cluster.fetch(`${leader.httpUrl}/v1/kv/${key}`, {
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    assert.equal(res.status, 200, `${key} is gone: ${text}`);
    assert.equal(text, value, `${key} changed`);
    assert.equal(res.headers.get("ETag"), `"${modRevision}"`, `${key} was rewritten`);
  }
}

/** Asserts each node's process is still running and its /health answers 200. */
export async function assertAllAlive(cluster: TestCluster): Promise<void> {
  for (const node of cluster.nodes) {
    assert(node.process !== null, `${node.id} was stopped`);
    const exited = await Promise.race([
      node.process.status.then((s) => s.code),
      new Promise<null>((r) => setTimeout(() => r(null), 10)),
    ]);
    assert.equal(exited, null, `${node.id} exited with ${exited}:\n${cluster.logs(node)}`);
    const res = await cluster.fetch(`${node.httpUrl}/health`, {
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(res.status, 200, `${node.id} /health`);
    await res.body?.cancel();
  }
}

/** Asserts the cluster still takes a write and reads it back (retrying while a leader settles). */
export async function assertServesWrites(cluster: TestCluster, key: string): Promise<void> {
  await waitFor(`a write of ${key}`, async () => {
    const leader = await cluster.leader();
    const res = await cluster.fetch(`${leader.httpUrl}/v1/kv/${key}`, {
      method: "PUT",
      body: "ok",
      signal: AbortSignal.timeout(5000),
    });
    await res.body?.cancel();
    return res.status === 200 ? true : undefined;
  }, 15_000);
}

/** Log lines in which the HTTP layer reported an unexpected failure (a would-be 500). */
export function unexpectedHttpErrors(cluster: TestCluster): string[] {
  return cluster.nodes.flatMap((node) =>
    cluster.logs(node).split("\n").filter((line) => line.includes("raftkv http:"))
  );
}
