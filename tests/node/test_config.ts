/**
 * A node configuration for in-process tests, benchmarks and the simulator: the flags'
 * defaults with no auth, no TLS, no join, quiet logs and no snapshot timer, plus the
 * fields a test names.
 *
 * @module
 */

import { DEFAULTS, type NodeConfig } from "../../src/node/config.ts";

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
