/**
 * Delivering a node's watch to a client: as a Server-Sent Events stream, or as one
 * long-poll JSON answer holding the first event(s).
 *
 * @module
 */

import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { WatchEvent } from "../kv/types.ts";
import { toRaftkvError } from "./errors.ts";
import { renderWatchEvent, type WatchEventJson } from "./render.ts";

/** Most events one long-poll answer carries. */
export const MAX_LONG_POLL_EVENTS = 1000;

/**
 * Where a watch (re)starts: at `revision`, past the first `skip` of that revision's
 * events. One change can emit many events at one revision (a prefix delete), so a
 * revision alone cannot say where inside it a cut stream stopped.
 */
export interface ResumePoint {
  revision: number;
  skip: number;
}

/**
 * The SSE id of the event at `position` (0-based) among its revision's events: the
 * revision alone for the first, `revision.position` for the others.
 */
export function sseEventId(revision: number, position: number): string {
  return position === 0 ? String(revision) : `${revision}.${position}`;
}

/** Reads an SSE id back: the point just after that event; null when malformed. */
export function parseSseEventId(id: string): ResumePoint | null {
  const match = /^(\d{1,15})(?:\.(\d{1,9}))?$/.exec(id.trim());
  if (match === null) return null;
  return { revision: Number(match[1]), skip: Number(match[2] ?? "0") + 1 };
}

/** Drops the first `skip` events of `revision` from a watch that starts there. */
export async function* skipWithin(
  events: AsyncIterable<WatchEvent>,
  start: ResumePoint,
): AsyncIterable<WatchEvent> {
  let skipped = 0;
  for await (const event of events) {
    if (skipped < start.skip && event.revision === start.revision) {
      skipped++;
      continue;
    }
    skipped = start.skip; // past that revision: nothing more to skip
    yield event;
  }
}

/** An open watch: its iterator, its first pending step, and how to end it. */
export interface OpenWatch {
  iterator: AsyncIterator<WatchEvent>;
  /** The first `next()`, already started (it is how a compacted start is detected). */
  first: Promise<IteratorResult<WatchEvent>>;
  /** Aborting ends the node's watch. */
  controller: AbortController;
  /** Called exactly once when delivery ends, however it ends. */
  onClose: () => void;
  /** Where it started, so event positions within that revision continue from `skip`. */
  start: ResumePoint;
}

/**
 * The long-poll answer. `next` is the `fromRevision` to ask for next time, with `skip`
 * (present only when not 0) when the answer was cut inside revision `next`.
 */
export interface LongPollBody {
  events: WatchEventJson[];
  next: number;
  skip?: number;
}

const PENDING: unique symbol = Symbol("pending");

/**
 * Resolves with `promise`'s value if it settles within the current macrotask turn,
 * else with PENDING; rejects if it rejects within the turn. Used to tell an
 * immediately failing watch (410) from one that is simply waiting for events.
 */
export async function settledThisTurn<T>(promise: Promise<T>): Promise<T | typeof PENDING> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const pending = new Promise<typeof PENDING>((resolve) => {
    timer = setTimeout(() => resolve(PENDING), 0);
  });
  try {
    return await Promise.race([promise, pending]);
  } finally {
    clearTimeout(timer);
  }
}

/** True if `value` is the PENDING marker of {@link settledThisTurn}. */
export function isPending(value: unknown): value is typeof PENDING {
  return value === PENDING;
}

/** Resolves with `promise`'s value, or with PENDING once `signal` aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | typeof PENDING> {
  if (signal.aborted) return Promise.resolve(PENDING);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(PENDING);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** Ends the node's watch without waiting for it: a blocked generator must not hold us. */
function endWatch(watch: OpenWatch): void {
  watch.controller.abort();
  watch.iterator.return?.().catch(() => {});
  watch.onClose();
}

/**
 * Streams the watch as SSE: `event: put|delete`, JSON data, and an id that resumes
 * exactly after the event ({@link sseEventId}), as `Last-Event-ID` on reconnect.
 */
export function sseResponse(c: Context, watch: OpenWatch, heartbeatMs: number): Response {
  return streamSSE(c, async (stream) => {
    const { signal } = watch.controller;
    stream.onAbort(() => watch.controller.abort());
    // A comment line keeps proxies and load balancers from closing an idle stream.
    const heartbeat = setInterval(() => void stream.write(": heartbeat\n\n"), heartbeatMs);
    try {
      let step = watch.first;
      let revision = watch.start.revision;
      let position = watch.start.skip - 1; // of the last event sent, within `revision`
      for (;;) {
        const result = await untilAborted(step, signal);
        if (isPending(result) || result.done === true) break;
        const event = result.value;
        position = event.revision === revision ? position + 1 : 0;
        revision = event.revision;
        await stream.writeSSE({
          event: event.type,
          id: sseEventId(revision, position),
          data: JSON.stringify(renderWatchEvent(event)),
        });
        step = watch.iterator.next();
      }
    } catch (thrown) {
      if (!signal.aborted) {
        const { error, unexpected } = toRaftkvError(thrown);
        if (unexpected) console.error("raftkv http: watch stream failed:", thrown);
        const data = JSON.stringify({ error: { code: error.code, message: error.message } });
        await stream.writeSSE({ event: "error", data });
      }
    } finally {
      clearInterval(heartbeat);
      endWatch(watch);
    }
  });
}

/**
 * Waits up to `timeoutMs` for the first event, then takes whatever else is ready
 * within the same turn (up to MAX_LONG_POLL_EVENTS) and answers JSON.
 */
export async function longPollBody(
  watch: OpenWatch,
  timeoutMs: number,
  clientSignal: AbortSignal,
): Promise<LongPollBody> {
  const waitSignal = AbortSignal.any([AbortSignal.timeout(timeoutMs), clientSignal]);
  const events: WatchEvent[] = [];
  try {
    let step: Promise<IteratorResult<WatchEvent> | typeof PENDING> = untilAborted(
      watch.first,
      waitSignal,
    );
    while (events.length < MAX_LONG_POLL_EVENTS) {
      const result = await step;
      if (isPending(result) || result.done === true) break;
      events.push(result.value);
      step = settledThisTurn(watch.iterator.next());
    }
  } finally {
    endWatch(watch);
  }
  const last = events.at(-1);
  const body = { events: events.map(renderWatchEvent) };
  if (last === undefined) {
    const { revision, skip } = watch.start;
    return skip === 0 ? { ...body, next: revision } : { ...body, next: revision, skip };
  }
  // A batch cut by the cap may end inside a revision: resume inside it, past what was
  // sent, since one revision can hold more events than any one answer.
  if (events.length < MAX_LONG_POLL_EVENTS) return { ...body, next: last.revision + 1 };
  let skip = events.filter((e) => e.revision === last.revision).length;
  if (last.revision === watch.start.revision) skip += watch.start.skip;
  return { ...body, next: last.revision, skip };
}
