/**
 * `GET /v1/watch?prefix=&fromRevision=` (or `?key=` for one exact key): changes as
 * Server-Sent Events, or with `wait=true` one long-poll JSON answer. Mounted under `/v1`.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import { RaftkvError } from "../../errors.ts";
import { methodNotAllowed } from "../errors.ts";
import type { NodeApi } from "../node_api.ts";
import type { WatchEvent } from "../../kv/types.ts";
import { readWithDeadline } from "../node_calls.ts";
import { DEFAULT_HEARTBEAT_MS, type HttpOptions } from "../options.ts";
import {
  checkKey,
  parseInteger,
  parseRevision,
  queryParam,
  refuseUnknownParams,
} from "../validate.ts";
import { WatcherSlots } from "../watcher_slots.ts";
import {
  isPending,
  longPollBody,
  type OpenWatch,
  parseSseEventId,
  type ResumePoint,
  settledThisTurn,
  skipWithin,
  sseResponse,
} from "../watch_stream.ts";

/** Default long-poll wait when `?timeout=` is absent, in seconds. */
export const DEFAULT_LONG_POLL_SECONDS = 30;
/** Longest long-poll wait a client may ask for, in seconds. */
export const MAX_LONG_POLL_SECONDS = 300;

/** Query parameters a watch takes; any other answers 400. */
const WATCH_PARAMS = ["prefix", "key", "fromRevision", "wait", "timeout", "skip"] as const;

/** The router for watches; mount with `app.route("/v1", watchRoutes(node, options))`. */
export function watchRoutes(node: NodeApi, options: HttpOptions): Hono {
  const slots = new WatcherSlots(options.maxWatchers);
  return new Hono()
    .get("/watch", (c) => watch(c, node, options, slots))
    .all("/watch", methodNotAllowed(["GET", "HEAD"]));
}

async function watch(
  c: Context,
  node: NodeApi,
  options: HttpOptions,
  slots: WatcherSlots,
): Promise<Response> {
  refuseUnknownParams(c.req.url, WATCH_PARAMS);
  const prefixText = queryParam(c.req.url, "prefix");
  const keyText = queryParam(c.req.url, "key");
  if (prefixText !== undefined && keyText !== undefined) {
    throw new RaftkvError("bad_request", "give key (one exact key) or prefix, not both");
  }
  const exactKey = keyText === undefined ? null : checkKey(keyText, "key", options.maxKeyBytes);
  // An exact key watches its own prefix, with the other keys under it filtered out.
  const prefix = exactKey ?? checkKey(prefixText ?? "", "prefix", options.maxKeyBytes);
  const wait = parseWait(queryParam(c.req.url, "wait"));
  const timeoutMs = parseLongPollSeconds(queryParam(c.req.url, "timeout")) * 1000;
  // Hono serves HEAD through the GET handler and drops the body unread: a stream
  // opened here would never be cancelled and would hold its slot forever.
  if (c.req.method === "HEAD") return c.body(null, 200, { "Content-Type": "text/event-stream" });
  const start = await startPoint(c, node, prefix, options);
  if (!slots.tryAcquire()) {
    throw new RaftkvError(
      "too_many_requests",
      `this node already serves ${slots.max} watches; retry later or on another node`,
    );
  }
  const open = await openWatch(node, prefix, exactKey, start, () => slots.release());
  if (!wait) return sseResponse(c, open, options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
  return c.json(await longPollBody(open, timeoutMs, c.req.raw.signal));
}

/**
 * Starts the node's watch and its first step. A start the node refuses at once (e.g.
 * revision_compacted) is thrown here, before any stream opens, so it answers 410.
 */
async function openWatch(
  node: NodeApi,
  prefix: string,
  exactKey: string | null,
  start: ResumePoint,
  onClose: () => void,
): Promise<OpenWatch> {
  const controller = new AbortController();
  try {
    const all = node.watch(prefix, start.revision, controller.signal);
    const events = exactKey === null ? all : onlyKey(all, exactKey);
    const iterator = (start.skip === 0 ? events : skipWithin(events, start))[
      Symbol.asyncIterator
    ]();
    const first = iterator.next();
    const settled = await settledThisTurn(first);
    return {
      iterator,
      first: isPending(settled) ? first : Promise.resolve(settled),
      controller,
      onClose,
      start,
    };
  } catch (thrown) {
    controller.abort();
    onClose();
    throw thrown;
  }
}

/**
 * Just after the SSE `Last-Event-ID` (an EventSource reconnecting, which resends the
 * URL of its first request: the header is the newer position), else `?fromRevision=`
 * (with `&skip=`, the events of that revision already seen), else one past this node's
 * current revision: only new changes.
 */
async function startPoint(
  c: Context,
  node: NodeApi,
  prefix: string,
  options: HttpOptions,
): Promise<ResumePoint> {
  const lastEventId = c.req.header("Last-Event-ID");
  if (lastEventId !== undefined) {
    const point = parseSseEventId(lastEventId);
    if (point === null) {
      throw new RaftkvError(
        "bad_request",
        "Last-Event-ID must be an event id of this stream (<revision> or <revision>.<n>)",
      );
    }
    return point;
  }
  const skip = parseInteger(queryParam(c.req.url, "skip") ?? "0", "skip");
  const explicit = parseRevision(queryParam(c.req.url, "fromRevision"), "fromRevision");
  if (explicit !== null) return { revision: explicit, skip };
  if (skip !== 0) throw new RaftkvError("bad_request", "skip needs fromRevision");
  const { revision } = await readWithDeadline(
    options.requestTimeoutMs,
    (signal) => node.list(prefix, null, 1, "stale", signal),
  );
  return { revision: revision + 1, skip: 0 };
}

/** The events of one exact key (a prefix watch also sees longer keys). */
async function* onlyKey(events: AsyncIterable<WatchEvent>, key: string): AsyncIterable<WatchEvent> {
  for await (const event of events) if (event.key === key) yield event;
}

function parseWait(text: string | undefined): boolean {
  if (text === undefined || text === "false") return false;
  if (text === "true") return true;
  throw new RaftkvError("bad_request", "wait must be true or false");
}

function parseLongPollSeconds(text: string | undefined): number {
  if (text === undefined) return DEFAULT_LONG_POLL_SECONDS;
  return parseInteger(text, "timeout", 1, MAX_LONG_POLL_SECONDS, "seconds");
}
