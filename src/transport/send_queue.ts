/**
 * A bounded FIFO of outbound messages for one peer. When full, pushing drops the OLDEST
 * message: Raft retransmits, and the newest state (terms, commit indexes) matters most.
 *
 * @module
 */

import { assert } from "../assert.ts";
import type { Message } from "../raft/messages.ts";

/** Default most messages waiting for one peer. */
export const MAX_SEND_QUEUE = 8_192;

/** A ring buffer of messages with a fixed capacity. */
export class SendQueue {
  #items: (Message | undefined)[];
  #head = 0;
  #size = 0;

  /** Creates an empty queue holding at most `capacity` messages. */
  constructor(readonly capacity: number = MAX_SEND_QUEUE) {
    assert(Number.isSafeInteger(capacity) && capacity > 0, "queue capacity must be positive");
    this.#items = new Array<Message | undefined>(capacity);
  }

  /** Messages waiting. */
  get size(): number {
    return this.#size;
  }

  /** Appends `m`; returns true when the oldest message was dropped to make room. */
  push(m: Message): boolean {
    let dropped = false;
    if (this.#size === this.capacity) {
      this.shift();
      dropped = true;
    }
    this.#items[(this.#head + this.#size) % this.capacity] = m;
    this.#size++;
    return dropped;
  }

  /** Removes and returns the oldest message, or undefined when empty. */
  shift(): Message | undefined {
    if (this.#size === 0) return undefined;
    const m = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.capacity;
    this.#size--;
    return m;
  }

  /** Removes everything; returns how many messages were discarded. */
  clear(): number {
    const n = this.#size;
    while (this.#size > 0) this.shift();
    return n;
  }
}
