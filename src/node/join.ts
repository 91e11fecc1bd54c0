/**
 * `--join`: an empty node asks a member of an existing cluster to add it, retrying
 * until the cluster answers. The member forwards the request to the leader.
 *
 * @module
 */

import type { NodeConfig } from "./config.ts";
import type { Logger } from "./log.ts";

/** How long a join keeps trying before the node gives up and exits. */
export const JOIN_TIMEOUT_MS = 120_000;
const RETRY_MS = 1_000;

/** Asks `config.join` to add this node; resolves once added (or already a member). */
export async function joinCluster(
  config: NodeConfig,
  log: Logger,
  adminToken?: string,
): Promise<void> {
  if (config.join === null) return;
  const body = JSON.stringify({
    id: config.id,
    peerAddr: config.peerAddr,
    httpUrl: config.advertiseHttpUrl,
    role: config.learner ? "learner" : "voter",
  });
  const deadline = Date.now() + JOIN_TIMEOUT_MS;
  let lastProblem = "";
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${config.join}/v1/cluster/members`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(adminToken ? { authorization: `Bearer ${adminToken}` } : {}),
        },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      if (res.ok) {
        log.log("info", "joined the cluster", { via: config.join, learner: config.learner });
        return;
      }
      if (res.status === 409 && text.includes("already a member")) return;
      lastProblem = `${res.status} ${text}`;
      if (res.status >= 400 && res.status < 500 && res.status !== 409 && res.status !== 429) {
        throw new Error(`join refused by ${config.join}: ${lastProblem}`);
      }
    } catch (e) {
      if (e instanceof Error && e.message.startsWith("join refused")) throw e;
      lastProblem = String(e);
    }
    log.log("info", "join: cluster not ready yet, retrying", { problem: lastProblem });
    await new Promise((r) => setTimeout(r, RETRY_MS));
  }
  throw new Error(`could not join via ${config.join} within ${JOIN_TIMEOUT_MS} ms: ${lastProblem}`);
}
