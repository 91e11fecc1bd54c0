/**
 * A founding voter that starts with an empty data directory asks the other founders,
 * before it writes the bootstrap entries, whether the cluster it names already runs and
 * counts it as holding entries beyond the bootstrap (etcd's `isMemberBootstrapped`).
 * If so, its data directory was wiped: started as a fresh founder it could vote for a
 * candidate lacking entries it had acknowledged, so it refuses to start instead.
 *
 * The evidence is the leader's match index for this node (`GET /v1/cluster`, which a
 * follower forwards to its leader). A founder started late for the first time has
 * acknowledged nothing (match ≤ the bootstrap entries), so it starts as before; a
 * cluster that merely exists is not evidence. The leader forgets match indexes when
 * leadership changes; a wipe not caught here is caught by the lost-log check at the
 * leader's first heartbeat when that leader still credits the node.
 *
 * @module
 */

import type { NodeId } from "../raft/messages.ts";
import { DeadlineQueue } from "../http/deadlines.ts";
import type { NodeConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import type { NodeClock } from "./clock.ts";

/**
 * How long the founders' answers are awaited. At a real founding nobody answers (the
 * others are starting too, so connections are refused at once) or an answer comes fast;
 * past this, the node starts as it always did.
 */
export const FOUNDER_CHECK_TIMEOUT_MS = 3_000;

/** What the check runs on: fetch for member calls and the node's clock. */
export interface FounderCheckDeps {
  /** fetch for member-to-member calls (trusts --tls-ca; see main.ts). */
  fetch: typeof fetch;
  /** The node's clock: the answers' deadline runs on its timers. */
  clock: Pick<NodeClock, "monotonicMs" | "timers">;
}

/** What one founder's answer says about this node. */
export type FounderAnswer =
  /** No answer in time, an error, or another cluster on that address. */
  | { kind: "silent"; from: NodeId; problem: string }
  /** The cluster runs and lists this node, but credits it with nothing beyond bootstrap. */
  | { kind: "listed"; from: NodeId; leader: string | null; commitIndex: number }
  /** The cluster's leader counts this node as holding entries up to `matchIndex`. */
  | { kind: "acknowledged"; from: NodeId; leader: string; commitIndex: number; matchIndex: number };

/** The part of `GET /v1/cluster`'s answer the check reads. */
interface ClusterAnswer {
  clusterId?: unknown;
  leader?: unknown;
  commitIndex?: unknown;
  members?: { id?: unknown; matchIndex?: unknown }[];
}

/**
 * Throws {@link wipedFounderError} when any other founder answers that the cluster's
 * leader counts this node as holding entries beyond the bootstrap; resolves otherwise
 * (including when nobody answers within {@link FOUNDER_CHECK_TIMEOUT_MS}). Call it only
 * for a founding member (`--initial-cluster`, no `--join`, no `--restore`) whose data
 * directory is empty, before the bootstrap entries are written.
 */
export async function refuseWipedFounder(
  config: NodeConfig,
  log: Logger,
  deps: FounderCheckDeps,
): Promise<void> {
  const others = [...config.initialCluster].filter(([id]) => id !== config.id);
  const askable = others.filter(([, addr]) => addr.httpUrl !== null);
  if (askable.length < others.length) {
    log.log("info", "founder check: some members have no HTTP URL in --initial-cluster", {
      unasked: others.filter(([, addr]) => addr.httpUrl === null).map(([id]) => id),
    });
  }
  if (askable.length === 0) return;
  const token = config.tokens[0]?.token ?? config.adminToken;
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const deadlines = new DeadlineQueue(
    FOUNDER_CHECK_TIMEOUT_MS,
    deps.clock.monotonicMs,
    deps.clock.timers,
  );
  const answers = await Promise.all(
    askable.map(([id, addr]) => askFounder(config, id, addr.httpUrl!, headers, deps, deadlines)),
  );
  const lost = answers.find((a) => a.kind === "acknowledged");
  if (lost !== undefined) throw wipedFounderError(config.id, lost);
  const listed = answers.find((a) => a.kind === "listed");
  if (listed !== undefined && listed.commitIndex > config.initialCluster.size) {
    // Running, but nothing says this node ever held its log: a first start after the
    // others founded the cluster, or a wipe after a leadership change (then unprovable).
    log.log("warn", "founder check: the cluster already runs; starting as a founding member", {
      via: listed.from,
      leader: listed.leader,
      commitIndex: listed.commitIndex,
    });
  }
}

/** Asks one founder for the cluster's view, within the check's deadline. */
async function askFounder(
  config: NodeConfig,
  id: NodeId,
  httpUrl: string,
  headers: Record<string, string>,
  deps: FounderCheckDeps,
  deadlines: DeadlineQueue,
): Promise<FounderAnswer> {
  const { signal, deadline } = deadlines.signal();
  try {
    const res = await deps.fetch(`${httpUrl}/v1/cluster`, { headers, signal });
    const text = await res.text();
    if (!res.ok) return { kind: "silent", from: id, problem: `${res.status} ${text}` };
    return readAnswer(config, id, JSON.parse(text) as ClusterAnswer);
  } catch (e) {
    return { kind: "silent", from: id, problem: String(e) };
  } finally {
    deadline.cancel();
  }
}

/** Classifies a `GET /v1/cluster` answer from founder `from` (exported for tests). */
export function readAnswer(config: NodeConfig, from: NodeId, info: ClusterAnswer): FounderAnswer {
  if (info.clusterId !== config.clusterId) {
    return { kind: "silent", from, problem: `another cluster (${String(info.clusterId)})` };
  }
  const me = info.members?.find((m) => m.id === config.id);
  if (me === undefined) return { kind: "silent", from, problem: `does not list ${config.id}` };
  const leader = typeof info.leader === "string" ? info.leader : null;
  const commitIndex = typeof info.commitIndex === "number" ? info.commitIndex : 0;
  const match = typeof me.matchIndex === "number" ? me.matchIndex : 0;
  // Indexes 1..n are the bootstrap entries every founder writes for itself.
  if (leader !== null && leader !== config.id && match > config.initialCluster.size) {
    return { kind: "acknowledged", from, leader, commitIndex, matchIndex: match };
  }
  return { kind: "listed", from, leader, commitIndex };
}

/** Why a founding voter whose data directory was wiped refuses to start. */
export function wipedFounderError(
  id: NodeId,
  answer: Extract<FounderAnswer, { kind: "acknowledged" }>,
): Error {
  return new Error(
    `node ${id} has an empty data directory, but its cluster already runs and leader ` +
      `${answer.leader} counts it as holding index ${answer.matchIndex} (commit index ` +
      `${answer.commitIndex}; asked ${answer.from}): its data was lost (data directory ` +
      `wiped or truncated), and as a fresh founding member it could vote away entries it ` +
      `had acknowledged. Remove it (DELETE /v1/cluster/members/${id}) and add it again ` +
      `with an empty data directory and --join`,
  );
}
