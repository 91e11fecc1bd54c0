/**
 * Garbage on the peer port of a running cluster: random bytes, oversized length
 * prefixes, truncated frames, half handshakes and forged hellos, in a loop on every
 * node, plus a burst holding more half-open handshakes than the transport accepts at
 * once. The transport's own fuzz tests cover the parser; this checks the whole node:
 * writes keep being served throughout, and every node stays up.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  encodeHello,
  HANDSHAKE_NONCE_BYTES,
  PROTOCOL_VERSION,
} from "../../src/transport/handshake.ts";
import { frameOf } from "../../src/transport/frame.ts";
import { MAX_INBOUND_CONNECTIONS } from "../../src/transport/tcp_transport.ts";
import { TestCluster, type TestNode, waitFor } from "../integration/harness.ts";
import { assertAllAlive, assertKnownKeysIntact, peerPort, writeKnownKeys } from "./live_checks.ts";
import { fuzzSeed, Prng } from "./prng.ts";
import { writeAll } from "./raw_http.ts";

/** How long the garbage loop runs. */
const GARBAGE_DURATION_MS = 8_000;
/** Garbage connections in flight at once. */
const GARBAGE_CONCURRENCY = 16;
/** Half-open handshakes held at once in the burst: past the transport's inbound cap, so
 * the oldest are dropped to make room while members keep getting in. */
const BURST_CONNECTIONS = MAX_INBOUND_CONNECTIONS + 44;
/** Longest a single write may take to succeed (retrying 503s) while garbage flows. */
const WRITE_DEADLINE_MS = 5_000;

type Attack = (r: Prng, conn: Deno.Conn, target: TestNode) => Promise<void>;

const ATTACKS: Record<string, Attack> = {
  junk: async (r, conn) => {
    const junk = new Uint8Array(1 + r.int(4096));
    for (let i = 0; i < junk.length; i++) junk[i] = r.int(256);
    await writeAll(conn, junk);
  },
  hugePrefix: async (r, conn) => {
    const prefix = new Uint8Array(4);
    new DataView(prefix.buffer).setUint32(
      0,
      r.pick([0xffffffff, 0x7fffffff, 16 * 1024 * 1024 + 1]),
    );
    await writeAll(conn, new Uint8Array([...prefix, 1, 2, 3]));
  },
  truncatedFrame: async (r, conn) => {
    const prefix = new Uint8Array(4);
    new DataView(prefix.buffer).setUint32(0, 1000);
    await writeAll(conn, new Uint8Array([...prefix, ...new Uint8Array(r.int(999))]));
  },
  halfHandshake: async (r, conn) => {
    await conn.read(new Uint8Array(1024)); // the challenge; then nothing
    await new Promise((resolve) => setTimeout(resolve, r.int(500)));
  },
  forgedHello: async (r, conn, target) => {
    await conn.read(new Uint8Array(1024));
    const hello = encodeHello({
      version: r.chance(0.8) ? PROTOCOL_VERSION : 99,
      clusterId: r.pick(["raftkv", "other"]),
      from: r.pick(["n9", "n1", "n2", target.id]),
      to: target.id,
      channel: r.pick(["raft", "snapshot"] as const),
      nonce: new Uint8Array(HANDSHAKE_NONCE_BYTES),
      mac: new Uint8Array(32),
    });
    await writeAll(conn, frameOf(hello));
    await conn.read(new Uint8Array(1024)).catch(() => null);
  },
  empty: async () => {},
};

async function attackOnce(r: Prng, target: TestNode, kind: string): Promise<void> {
  const attack = ATTACKS[kind];
  assert(attack !== undefined);
  let conn: Deno.Conn | null = null;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port: peerPort(target) });
    await attack(r, conn, target);
  } catch {
    /* the node hanging up on garbage is the expected outcome */
  } finally {
    try {
      conn?.close();
    } catch { /* closed */ }
  }
}

/** Writes `key` through the leader, retrying refusals, within WRITE_DEADLINE_MS. */
async function writeSoon(cluster: TestCluster, key: string): Promise<number> {
  const started = performance.now();
  await waitFor(`write ${key}`, async () => {
    const leader = await cluster.leader(WRITE_DEADLINE_MS);
    const res = await cluster.fetch(`${leader.httpUrl}/v1/kv/${key}`, {
      method: "PUT",
      body: key,
      signal: AbortSignal.timeout(WRITE_DEADLINE_MS),
    });
    await res.body?.cancel();
    return res.status === 200 ? true : undefined;
  }, WRITE_DEADLINE_MS);
  return performance.now() - started;
}

Deno.test("garbage and half handshakes on the peer port do not stop the cluster serving writes", async () => {
  const seed = fuzzSeed();
  console.log(`peer garbage: FUZZ_SEED=${seed}`);
  const cluster = await TestCluster.start(3, ["--fsync", "never"]);
  try {
    const known = await writeKnownKeys(cluster, "known/", 5);
    const kinds = Object.keys(ATTACKS);
    let attacks = 0;
    const until = Date.now() + GARBAGE_DURATION_MS;
    // One generator per attacker, so each one's sequence replays from the seed.
    const attacker = async (_: unknown, index: number) => {
      const r = new Prng(seed + index);
      while (Date.now() < until) {
        const target = r.pick(cluster.nodes);
        await attackOnce(r, target, r.pick(kinds));
        attacks++;
      }
    };
    const writer = async () => {
      const latencies: number[] = [];
      for (let i = 0; Date.now() < until; i++) latencies.push(await writeSoon(cluster, `pg/${i}`));
      return latencies;
    };
    const [latencies] = await Promise.all([
      writer(),
      ...Array.from({ length: GARBAGE_CONCURRENCY }, attacker),
    ]);
    const slowest = Math.max(...latencies);
    console.log(
      `peer garbage: ${attacks} hostile connections in ${GARBAGE_DURATION_MS} ms; ` +
        `${latencies.length} writes all served, slowest ${slowest.toFixed(0)} ms`,
    );

    // Burst: more half-open handshakes than the inbound cap, held on one follower.
    const leader = await cluster.leader();
    const follower = cluster.nodes.find((n) => n !== leader);
    assert(follower !== undefined);
    const held: Deno.Conn[] = [];
    try {
      for (let i = 0; i < BURST_CONNECTIONS; i++) {
        held.push(await Deno.connect({ hostname: "127.0.0.1", port: peerPort(follower) }));
      }
      await waitFor(
        "the follower to drop unproven connections past its cap",
        () => cluster.logs(follower).includes("evicted_in_handshake") ? true : undefined,
      );
      for (let i = 0; i < 20; i++) await writeSoon(cluster, `burst/${i}`);
    } finally {
      for (const conn of held) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
    }
    await assertAllAlive(cluster);
    await assertKnownKeysIntact(cluster, known);
  } finally {
    await cluster.stop();
  }
});
