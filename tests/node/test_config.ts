/**
 * A node configuration for in-process tests, benchmarks and the simulator: the flags'
 * defaults with no auth, no TLS, no join, quiet logs and no snapshot timer, plus the
 * fields a test names.
 *
 * @module
 */

import { DEFAULTS, type MemberAddress, type NodeConfig } from "../../src/node/config.ts";
import { bootstrapEntries } from "../../src/node/bootstrap.ts";
import type { Scheduler } from "../../src/node/clock.ts";
import { MemoryStorage } from "../../src/storage/memory_storage.ts";

/** What every in-process node shares unless a test says otherwise. */
const IN_PROCESS: Partial<NodeConfig> = {
  peerSecret: null,
  snapshotIntervalMs: 0,
  logLevel: "error",
  corsOrigins: [],
  join: null,
  learner: false,
  tokens: [],
  adminToken: null,
  tls: null,
  tlsCaFile: null,
  peerTls: false,
  allowUnauthenticated: false,
  restore: null,
};

/** The defaults, the in-process settings above, then `fields`. */
export function testNodeConfig(
  fields: Partial<NodeConfig> & Pick<NodeConfig, "id" | "dataDir" | "initialCluster">,
): NodeConfig {
  return { ...DEFAULTS, ...IN_PROCESS, ...fields } as NodeConfig;
}

/** The addresses of in-memory members `ids` (peer `mem:<id>`, HTTP `http://<id>`). */
export function memoryMembers(ids: string[]): Map<string, MemberAddress> {
  return new Map(ids.map((id) => [id, { peerAddr: `mem:${id}`, httpUrl: `http://${id}` }]));
}

/**
 * One founding member over in-memory storage, ticked by hand: its bootstrapped storage,
 * its configuration, and a scheduler that files its tick under `id` in `tickers`.
 */
export async function memoryFounder(
  id: string,
  initialCluster: Map<string, MemberAddress>,
  tickers: Map<string, () => void>,
  tickMs: number,
): Promise<{ storage: MemoryStorage; config: NodeConfig; scheduler: Scheduler }> {
  const storage = new MemoryStorage();
  const { hardState, entries } = bootstrapEntries(initialCluster);
  await storage.save(hardState, entries);
  const scheduler: Scheduler = {
    every: (_ms, fn) => {
      tickers.set(id, fn);
      return { cancel: () => tickers.delete(id) };
    },
  };
  const config = testNodeConfig({
    id,
    peerAddr: `mem:${id}`,
    advertiseHttpUrl: `http://${id}`,
    dataDir: `/nonexistent/${id}`,
    initialCluster,
    tickMs,
  });
  return { storage, config, scheduler };
}
