/**
 * `--join`: an empty node asks a member of an existing cluster to add it, retrying
 * until the cluster answers. The member forwards the request to the leader.
 *
 * @module
 */

import type { NodeId } from "../raft/messages.ts";
import { DeadlineQueue } from "../http/deadlines.ts";
import type { MemberAddress, NodeConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import { type NodeClock, sleep } from "./clock.ts";

/** How long a join keeps trying before the node gives up and exits. */
export const JOIN_TIMEOUT_MS = 120_000;
/** The pause between two attempts to join (or to be promoted). */
export const JOIN_RETRY_MS = 1_000;
/** How long one request to the member we join through may take. */
export const JOIN_REQUEST_TIMEOUT_MS = 10_000;

/**
 * What a join runs on: fetch for calls to members, and the node's clock (`monotonicMs`
 * for its deadlines, `timers` for the pauses and request timeouts). `main.ts` passes the
 * real ones; tests pass a virtual clock.
 */
export interface JoinDeps {
  /** fetch for member-to-member calls (see `fetchForMembers` in main.ts). */
  fetch: typeof fetch;
  /** The same clock the node runs on. */
  clock: Pick<NodeClock, "monotonicMs" | "timers">;
}

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
  adminToken: string | undefined,
  deps: JoinDeps,
): Promise<void> {
  if (config.join === null) return;
  const { clock } = deps;
  const requests = new DeadlineQueue(JOIN_REQUEST_TIMEOUT_MS, clock.monotonicMs, clock.timers);
  const body = JSON.stringify({
    id: config.id,
    peerAddr: config.peerAddr,
    httpUrl: config.advertiseHttpUrl,
    role: config.learner ? "learner" : "voter",
  });
  const deadline = clock.monotonicMs() + JOIN_TIMEOUT_MS;
  let lastProblem = "";
  const headers: Record<string, string> = adminToken
    ? { authorization: `Bearer ${adminToken}` }
    : {};
  while (clock.monotonicMs() < deadline) {
    try {
      await learnMembers(config.join, headers, remember, deps.fetch, requests);
      const { status, ok, text } = await call(
        deps.fetch,
        requests,
        `${config.join}/v1/cluster/members`,
        {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body,
        },
      );
      if (ok || (status === 409 && text.includes("already a member"))) {
        await learnMembers(config.join, headers, remember, deps.fetch, requests);
        log.log("info", "joined the cluster", { via: config.join, learner: config.learner });
        // The leader promotes a caught-up joiner by itself, but that intent lives in its
        // memory only: a leadership change forgets it. So the joiner asks too.
        if (!config.learner) void askForPromotion(config, log, headers, deps, requests);
        return;
      }
      lastProblem = `${status} ${text}`;
      if (status >= 400 && status < 500 && status !== 409 && status !== 429) {
        throw new Error(`join refused by ${config.join}: ${lastProblem}`);
      }
    } catch (e) {
      if (e instanceof Error && e.message.startsWith("join refused")) throw e;
      lastProblem = String(e);
    }
    log.log("info", "join: cluster not ready yet, retrying", { problem: lastProblem });
    await sleep(clock.timers, JOIN_RETRY_MS);
  }
  throw new Error(`could not join via ${config.join} within ${JOIN_TIMEOUT_MS} ms: ${lastProblem}`);
}

/** One request whose answer is read in full before its deadline (then cancelled). */
async function call(
  fetchFn: typeof fetch,
  requests: DeadlineQueue,
  url: string,
  init: RequestInit,
): Promise<{ status: number; ok: boolean; text: string }> {
  const { signal, deadline } = requests.signal();
  try {
    const res = await fetchFn(url, { ...init, signal });
    return { status: res.status, ok: res.ok, text: await res.text() };
  } finally {
    deadline.cancel();
  }
}

/** Reads `GET /v1/cluster` and remembers every member's addresses. */
async function learnMembers(
  url: string,
  headers: Record<string, string>,
  remember: RememberMembers,
  fetchFn: typeof fetch,
  requests: DeadlineQueue,
): Promise<void> {
  const { ok, text } = await call(fetchFn, requests, `${url}/v1/cluster`, { headers });
  if (!ok) return;
  const info = JSON.parse(text) as {
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
  deps: JoinDeps,
  requests: DeadlineQueue,
): Promise<void> {
  const { clock } = deps;
  const deadline = clock.monotonicMs() + PROMOTION_TIMEOUT_MS;
  while (clock.monotonicMs() < deadline) {
    await sleep(clock.timers, JOIN_RETRY_MS);
    try {
      const url = `${config.join}/v1/cluster/members/${config.id}/promote`;
      const { status, ok, text } = await call(deps.fetch, requests, url, {
        method: "POST",
        headers,
      });
      if (ok || text.includes("already a voter")) {
        log.log("info", "this node is a voter now");
        return;
      }
      if (status === 404) return; // removed meanwhile: nothing to promote
    } catch {
      // the member we ask may be restarting; ask again
    }
  }
  log.log("warn", "gave up asking to be promoted to voter", { afterMs: PROMOTION_TIMEOUT_MS });
}
