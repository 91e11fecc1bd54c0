/**
 * `--join`: an empty node asks a member of an existing cluster to add it, retrying
 * until the cluster answers. The member forwards the request to the leader.
 *
 * @module
 */

import type { NodeId } from "../raft/messages.ts";
import type { MemberAddress, NodeConfig } from "./config.ts";
import type { Logger } from "./log.ts";

/** How long a join keeps trying before the node gives up and exits. */
export const JOIN_TIMEOUT_MS = 120_000;
const RETRY_MS = 1_000;

/** Where a joiner records the addresses it learns from the cluster. */
export type RememberMembers = (members: Iterable<[NodeId, MemberAddress]>) => void;

/**
 * Asks `config.join` to add this node; resolves once added (or already a member).
 * Before and after asking, it reads the member list so that this node can answer the
 * leader, whose address it could not otherwise know yet.
 */
export async function joinCluster(
  config: NodeConfig,
  log: Logger,
  remember: RememberMembers,
  adminToken?: string,
  fetchFn: typeof fetch = fetch,
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
  const headers: Record<string, string> = adminToken
    ? { authorization: `Bearer ${adminToken}` }
    : {};
  while (Date.now() < deadline) {
    try {
      await learnMembers(config.join, headers, remember, fetchFn);
      const res = await fetchFn(`${config.join}/v1/cluster/members`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      if (res.ok || (res.status === 409 && text.includes("already a member"))) {
        await learnMembers(config.join, headers, remember, fetchFn);
        log.log("info", "joined the cluster", { via: config.join, learner: config.learner });
        // The leader promotes a caught-up joiner by itself, but that intent lives in its
        // memory only: a leadership change forgets it. So the joiner asks too.
        if (!config.learner) void askForPromotion(config, log, headers, fetchFn);
        return;
      }
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

/** Reads `GET /v1/cluster` and remembers every member's addresses. */
async function learnMembers(
  url: string,
  headers: Record<string, string>,
  remember: RememberMembers,
  fetchFn: typeof fetch,
): Promise<void> {
  const res = await fetchFn(`${url}/v1/cluster`, { headers, signal: AbortSignal.timeout(10_000) });
  if (!res.ok) {
    await res.body?.cancel();
    return;
  }
  const info = await res.json() as {
    members: { id: string; peerAddr: string | null; httpUrl: string | null }[];
  };
  remember(
    info.members.filter((m) => m.peerAddr !== null).map((m) => [
      m.id,
      { peerAddr: m.peerAddr!, httpUrl: m.httpUrl },
    ]),
  );
}

/** How long a joiner keeps asking to become a voter. */
export const PROMOTION_TIMEOUT_MS = 30 * 60_000;

/** Asks for promotion until it happens (409 while still catching up is expected). */
async function askForPromotion(
  config: NodeConfig,
  log: Logger,
  headers: Record<string, string>,
  fetchFn: typeof fetch,
): Promise<void> {
  const deadline = Date.now() + PROMOTION_TIMEOUT_MS;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, RETRY_MS));
    try {
      const res = await fetchFn(`${config.join}/v1/cluster/members/${config.id}/promote`, {
        method: "POST",
        headers,
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      if (res.ok || text.includes("already a voter")) {
        log.log("info", "this node is a voter now");
        return;
      }
      if (res.status === 404) return; // removed meanwhile: nothing to promote
    } catch {
      // the member we ask may be restarting; ask again
    }
  }
  log.log("warn", "gave up asking to be promoted to voter", { afterMs: PROMOTION_TIMEOUT_MS });
}
