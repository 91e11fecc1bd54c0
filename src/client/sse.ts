/**
 * A Server-Sent Events parser (the WHATWG `text/event-stream` rules): lines end in
 * CR, LF or CRLF (even split across chunks), `data:` lines join with LF, `:` lines are
 * comments, a blank line dispatches. Pure and incremental, so it is tested without
 * sockets and works on any runtime's ReadableStream.
 *
 * @module
 */

import { RaftkvClientError } from "./errors.ts";
import { MAX_SSE_EVENT_CHARS } from "./limits.ts";

/** One dispatched event. */
export interface SseMessage {
  /** The `event:` field, or "message" when absent. */
  event: string;
  /** The `data:` lines joined with LF. */
  data: string;
  /** The last `id:` seen so far in the stream, or undefined. */
  id: string | undefined;
}

/** Incremental parser: feed it decoded text, get back whole events. */
export class SseParser {
  #buffer = "";
  #event = "";
  #data: string[] = [];
  #dataChars = 0;
  #lastId: string | undefined = undefined;
  readonly #maxEventChars: number;

  /** A parser that fails once one event grows past `maxEventChars`. */
  constructor(maxEventChars: number = MAX_SSE_EVENT_CHARS) {
    this.#maxEventChars = maxEventChars;
  }

  /** Parses `text` (the next decoded piece of the stream) into whole events. */
  feed(text: string): SseMessage[] {
    this.#buffer += text;
    const out: SseMessage[] = [];
    let start = 0;
    for (;;) {
      const end = nextLineEnd(this.#buffer, start);
      if (end === -1) break;
      // A CR at the very end may be the first half of a CRLF: wait for more text.
      if (this.#buffer[end] === "\r" && end === this.#buffer.length - 1) break;
      this.#line(this.#buffer.slice(start, end), out);
      start = end + (this.#buffer[end] === "\r" && this.#buffer[end + 1] === "\n" ? 2 : 1);
    }
    this.#buffer = this.#buffer.slice(start);
    if (this.#buffer.length + this.#dataChars > this.#maxEventChars) {
      throw new RaftkvClientError(
        "too_large",
        `a watch event is longer than ${this.#maxEventChars} characters`,
        { status: 0 },
      );
    }
    return out;
  }

  #line(line: string, out: SseMessage[]): void {
    if (line === "") return this.#dispatch(out);
    if (line.startsWith(":")) return; // comment: heartbeats
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") {
      this.#data.push(value);
      this.#dataChars += value.length + 1;
    } else if (field === "event") {
      this.#event = value;
    } else if (field === "id" && !value.includes("\0")) {
      this.#lastId = value;
    }
    // "retry" and unknown fields are ignored: the client keeps its own backoff.
  }

  #dispatch(out: SseMessage[]): void {
    if (this.#data.length > 0) {
      out.push({ event: this.#event || "message", data: this.#data.join("\n"), id: this.#lastId });
    }
    this.#event = "";
    this.#data = [];
    this.#dataChars = 0;
  }
}

function nextLineEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || c === 13) return i;
  }
  return -1;
}
