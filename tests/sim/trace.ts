/**
 * Readable trace lines for simulator runs. With tracing on, every line is printed as it
 * happens; otherwise the last {@link TRACE_RING_LINES} events are kept unformatted (cheap)
 * and formatted only when a run fails, so a failure report always shows what led to it.
 *
 * @module
 */

import type { Entry, Message } from "../../src/raft/messages.ts";
import { MessageType } from "../../src/raft/messages.ts";
import { describeData } from "./fingerprint.ts";

/** Events kept for the failure excerpt when tracing is off. */
export const TRACE_RING_LINES = 80;

/** One trace record; `what` is text, a message or a thunk, formatted lazily. */
export interface TraceRecord {
  step: number;
  atMs: number;
  node: string;
  what: string | Message | (() => string);
  note?: string;
}

/** Collects trace records; prints them at once in verbose mode. */
export class Trace {
  #verbose: boolean;
  #write: (line: string) => void;
  #ring: (TraceRecord | undefined)[] = new Array(TRACE_RING_LINES);
  #next = 0;

  /** `verbose` prints every line through `write` (default: console.log). */
  constructor(verbose: boolean, write: (line: string) => void = console.log) {
    this.#verbose = verbose;
    this.#write = write;
  }

  /** True when every line is printed. */
  get verbose(): boolean {
    return this.#verbose;
  }

  /** Records one event. */
  add(record: TraceRecord): void {
    if (this.#verbose) this.#write(formatRecord(record));
    this.#ring[this.#next] = record;
    this.#next = (this.#next + 1) % TRACE_RING_LINES;
  }

  /** The last records, oldest first, formatted. */
  tail(): string[] {
    const out: string[] = [];
    for (let i = 0; i < TRACE_RING_LINES; i++) {
      const r = this.#ring[(this.#next + i) % TRACE_RING_LINES];
      if (r !== undefined) out.push(formatRecord(r));
    }
    return out;
  }
}

/** `#step  t=time  node  what`, e.g. `#1042 t=2310ms n2 recv n1→n2 Append t3 prev=5@2 [6@3] c5`. */
export function formatRecord(r: TraceRecord): string {
  const what = typeof r.what === "string"
    ? r.what
    : typeof r.what === "function"
    ? r.what()
    : formatMessage(r.what);
  const note = r.note === undefined ? "" : ` (${r.note})`;
  return `#${r.step} t=${r.atMs}ms ${r.node.padEnd(3)} ${what}${note}`;
}

const TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(MessageType).map(([name, code]) => [code, name]),
);

/** One message on one line, showing only the fields that matter for its type. */
export function formatMessage(m: Message): string {
  const head = `${m.from}→${m.to} ${TYPE_NAMES[m.type] ?? `type${m.type}`} t${m.term}`;
  switch (m.type) {
    case MessageType.Append:
      return `${head} prev=${m.prevIndex}@${m.prevTerm} ${formatEntries(m.entries)} c${m.commit}`;
    case MessageType.AppendResponse:
      return m.reject
        ? `${head} REJECT idx=${m.index} hint=${m.hintIndex}@${m.hintTerm}`
        : `${head} ok idx=${m.index}`;
    case MessageType.Vote:
    case MessageType.PreVote:
      return `${head} last=${m.lastIndex}@${m.lastTerm}${m.transfer ? " transfer" : ""}`;
    case MessageType.VoteResponse:
    case MessageType.PreVoteResponse:
      return `${head} ${m.reject ? "REJECT" : "grant"}`;
    case MessageType.Heartbeat:
      return `${head} c${m.commit} ctx=${m.context}`;
    case MessageType.HeartbeatResponse:
      return `${head} ctx=${m.context}`;
    case MessageType.Snapshot:
      return `${head} snap=${m.snapshot.index}@${m.snapshot.term} voters=${
        m.snapshot.conf.voters.join(",")
      } learners=${m.snapshot.conf.learners.join(",")}`;
    case MessageType.TimeoutNow:
      return head;
    case MessageType.ReadIndex:
      return `${head} ctx=${m.context}`;
    case MessageType.ReadIndexResponse:
      return `${head} ctx=${m.context} idx=${m.index}${m.reject ? " REJECT" : ""}`;
  }
}

/** Entries as `[6@3 w1.2, 7@3 noop]`, eliding the middle of long runs. */
export function formatEntries(entries: readonly Entry[]): string {
  const one = (e: Entry) => `${e.index}@${e.term} ${describeData(e)}`;
  if (entries.length <= 4) return `[${entries.map(one).join(", ")}]`;
  const first = entries[0] as Entry;
  const last = entries[entries.length - 1] as Entry;
  return `[${one(first)}, …${entries.length - 2} more…, ${one(last)}]`;
}
