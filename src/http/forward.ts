/**
 * Forwarding writes from a follower to the leader: the original request (method,
 * path, query, headers, body) is replayed against the leader's HTTP API and its answer
 * relayed. A request already forwarded once is never forwarded again, so two nodes
 * with stale views of the leader cannot bounce a write between them.
 *
 * @module
 */

import { RaftkvError, removedMemberError } from "../errors.ts";
import type { NodeApi } from "./node_api.ts";

/** Header marking a request forwarded by a follower. */
export const FORWARDED_HEADER = "X-Raftkv-Forwarded";

/** Headers that describe one hop only and must not be copied to the next. */
const HOP_BY_HOP_HEADERS: readonly string[] = [
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
];

/** Error texts of failures that happen before a request could reach the server. */
const NOT_SENT_PATTERN = /\(Connect\)|connection refused|dns error|ECONNREFUSED|ENOTFOUND/i;

/** What forwarding needs besides the request. */
export interface ForwardOptions {
  /** Deadline of the whole forwarded exchange, in milliseconds. */
  requestTimeoutMs: number;
  /**
   * The fetch to use; defaults to the global one. It should not reuse connections
   * (see `fetchForMembers` in main.ts): only then does a connect error prove that the
   * write never reached the leader, which is what lets a failure answer 503.
   */
  fetch?: typeof fetch;
}

/**
 * Answers a write by forwarding it when this node is not the leader; returns null when
 * this node is the leader and should apply the write itself. `body` is the request
 * body already read (and size-checked), or null for bodiless methods.
 */
export async function forwardIfNotLeader(
  request: Request,
  node: NodeApi,
  body: Uint8Array | null,
  options: ForwardOptions,
): Promise<Response | null> {
  const status = node.status();
  if (status.role === "leader") return null;
  // Its view of the leader froze at its removal: it must not pass writes on either.
  if (status.removed) throw removedMemberError(status.id);
  if (request.headers.has(FORWARDED_HEADER)) {
    throw new RaftkvError(
      "unavailable",
      `node ${status.id} is not the leader and will not forward an already forwarded request`,
    );
  }
  if (status.leader === null) {
    throw new RaftkvError("unavailable", `node ${status.id} knows no leader; retry shortly`);
  }
  if (status.leaderHttpUrl === null) {
    // Members announce their URLs when they connect; a leader that never did (it
    // advertises a wildcard host, or speaks an older protocol) needs one configured.
    throw new RaftkvError(
      "unavailable",
      `leader ${status.leader}'s HTTP URL is unknown to node ${status.id}; start members ` +
        `with --initial-cluster id=host:port@http://host:port (or give the leader an ` +
        `--advertise-http this node can reach); retry shortly`,
    );
  }
  return await proxy(request, leaderUrl(status.leaderHttpUrl, request.url), body, options);
}

/** The leader URL for the same path and query as `requestUrl`. */
export function leaderUrl(leaderHttpUrl: string, requestUrl: string): URL {
  const source = new URL(requestUrl);
  return new URL(leaderHttpUrl.replace(/\/+$/, "") + source.pathname + source.search);
}

async function proxy(
  request: Request,
  target: URL,
  body: Uint8Array | null,
  options: ForwardOptions,
): Promise<Response> {
  const headers = new Headers(request.headers);
  for (const name of HOP_BY_HOP_HEADERS) headers.delete(name);
  headers.set(FORWARDED_HEADER, "1");
  // Track whether the transport pulled the body: if it never did, the leader cannot
  // have received the write and a retry is safe.
  let bodyPulled = false;
  const stream = body === null ? null : new ReadableStream<Uint8Array>({
    pull(controller) {
      bodyPulled = true;
      if (body.byteLength > 0) controller.enqueue(body);
      controller.close();
    },
  }, { highWaterMark: 0 }); // pulled only by the transport, never pre-filled
  // Only the deadline: once forwarded, a write goes on even if the client hangs up.
  const signal = AbortSignal.timeout(options.requestTimeoutMs);
  const init: RequestInit & { duplex?: "half" } = {
    method: request.method,
    headers,
    body: stream,
    signal,
    redirect: "manual",
  };
  if (stream !== null) init.duplex = "half";
  let answer: Response;
  try {
    answer = await (options.fetch ?? fetch)(target, init);
  } catch (thrown) {
    throw proxyFailure(target, thrown, stream !== null && !bodyPulled);
  }
  return relay(answer);
}

function proxyFailure(target: URL, thrown: unknown, bodyNeverSent: boolean): RaftkvError {
  const detail = describe(thrown);
  if (bodyNeverSent || NOT_SENT_PATTERN.test(detail)) {
    return new RaftkvError(
      "unavailable",
      `could not reach the leader at ${target.origin} (${detail}); the write was never sent, retry is safe`,
    );
  }
  return new RaftkvError(
    "outcome_unknown",
    `the write was sent to the leader at ${target.origin} but no answer came back (${detail}); it may or may not have been applied`,
  );
}

/** The error's message and its causes', since fetch hides the socket error in `cause`. */
function describe(thrown: unknown): string {
  const parts: string[] = [];
  let current: unknown = thrown;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    parts.push(current.message);
    current = current.cause;
  }
  return parts.length > 0 ? parts.join(": ") : String(thrown);
}

function relay(answer: Response): Response {
  const headers = new Headers(answer.headers);
  for (const name of HOP_BY_HOP_HEADERS) headers.delete(name);
  // fetch already decoded the body, so the original encoding no longer applies.
  headers.delete("content-encoding");
  return new Response(answer.body, {
    status: answer.status,
    statusText: answer.statusText,
    headers,
  });
}
