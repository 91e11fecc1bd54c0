/**
 * The two headers every answer carries so a client always knows where the leader is.
 *
 * @module
 */

import type { NodeApi } from "./node_api.ts";

/** Header naming the leader this node knows of (empty when none), on every answer. */
export const LEADER_HEADER = "X-Raftkv-Leader";
/** The leader's HTTP base URL (empty when unknown), so clients can write to it directly. */
export const LEADER_URL_HEADER = "X-Raftkv-Leader-Url";

/** The leader as `node` knows it now, as header values (empty strings when unknown). */
export function leaderHeaders(node: NodeApi): { leader: string; url: string } {
  try {
    const status = node.status();
    return { leader: status.leader ?? "", url: status.leaderHttpUrl ?? "" };
  } catch (thrown) {
    console.error("raftkv http: node.status() failed:", thrown);
    return { leader: "", url: "" };
  }
}

/** Adds the leader headers to `headers` (a plain record, as handlers build them). */
export function withLeaderHeaders(
  node: NodeApi,
  headers: Record<string, string>,
): Record<string, string> {
  const { leader, url } = leaderHeaders(node);
  headers[LEADER_HEADER] = leader;
  headers[LEADER_URL_HEADER] = url;
  return headers;
}
