/**
 * A steady stream of writes through random live voters, remembering every acknowledged
 * one, so tests can change the cluster under load and then check nothing was lost.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { TestCluster, TestNode } from "./harness.ts";

/** Background writer of unique keys. */
export class WriteLoad {
  readonly acked = new Map<string, string>();
  failures = 0;
  #running = true;
  #done: Promise<void>;

  /** Starts `workers` writers against the cluster's voters. */
  constructor(cluster: TestCluster, prefix = "load/", workers = 4) {
    let seq = 0;
    this.#done = Promise.all(Array.from({ length: workers }, async () => {
      while (this.#running) {
        const live = cluster.nodes.filter((n) => n.process && !n.flags.includes("--learner"));
        const node = live[Math.floor(Math.random() * live.length)];
        if (!node) break;
        const key = `${prefix}${seq++}`;
        const value = `v${seq}`;
        try {
          const res = await fetch(`${node.httpUrl}/v1/kv/${key}`, {
            method: "PUT",
            body: value,
            signal: AbortSignal.timeout(5000),
          });
          await res.body?.cancel();
          if (res.status === 200) this.acked.set(key, value);
          else this.failures++;
        } catch {
          this.failures++;
        }
      }
    })).then(() => {});
  }

  /** Stops writing and waits for in-flight writes. */
  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }

  /** Every acknowledged write reads back (linearizably) through `node`. */
  async verify(node: TestNode): Promise<void> {
    for (const [key, value] of this.acked) {
      const res = await fetch(`${node.httpUrl}/v1/kv/${key}`, {
        signal: AbortSignal.timeout(5000),
      });
      assert.equal(res.status, 200, `acknowledged ${key} is missing`);
      assert.equal(await res.text(), value, key);
    }
  }
}
