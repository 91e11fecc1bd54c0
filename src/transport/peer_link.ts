/**
 * The outbound Raft channel to one peer: a bounded send queue drained by one writer that
 * coalesces everything queued (up to {@link MAX_BATCH_BYTES}) into a single socket write,
 * and redials with jittered exponential backoff whenever the connection is lost.
 *
 * @module
 */

import type { Message, NodeId } from "../raft/messages.ts";
import { backoffDelayMs } from "./backoff.ts";
import { dial, type DialIdentity, HandshakeFailed } from "./dial.ts";
import type { FramedConn } from "./framed_conn.ts";
import { SendQueue } from "./send_queue.ts";
import { bump, type TransportLog, type TransportStats } from "./transport.ts";
import { MessageFrameEncoder } from "./wire_encoder.ts";

/** Most bytes encoded into one coalesced write (a batch ends after the frame crossing it). */
export const MAX_BATCH_BYTES = 1024 * 1024;

/** What a link needs from its transport. */
export interface LinkHost extends DialIdentity {
  maxSendQueue: number;
  stats: TransportStats;
  log: TransportLog;
}

/** One peer's outbound connection, queue and writer. */
export class PeerLink {
  readonly #queue: SendQueue;
  readonly #writer = new MessageFrameEncoder();
  #closed = false;
  #fc: FramedConn | null = null;
  #broken = false;
  #wake: (() => void) | null = null;
  #sleepTimer: ReturnType<typeof setTimeout> | undefined;
  #sleepDone: (() => void) | null = null;
  readonly #done: Promise<void>;

  /** Starts dialing `addr` at once. */
  constructor(
    private readonly host: LinkHost,
    readonly peer: NodeId,
    readonly addr: string,
  ) {
    this.#queue = new SendQueue(host.maxSendQueue);
    this.#done = this.#run();
  }

  /** Messages waiting to be written. */
  get queued(): number {
    return this.#queue.size;
  }

  /** Queues `m`; drops (and counts) the oldest queued message when full. */
  enqueue(m: Message): void {
    if (this.#queue.push(m)) {
      this.host.stats.droppedQueueFull++;
      this.host.stats.dropped++;
    }
    this.#signal();
  }

  /** Stops the link: closes its connection and discards what is queued. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#sleepTimer);
    this.#sleepDone?.();
    this.#fc?.close();
    this.#signal();
    await this.#done;
    this.host.stats.dropped += this.#queue.clear();
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  async #run(): Promise<void> {
    let attempt = 0;
    while (!this.#closed) {
      try {
        const fc = await dial(this.host, this.peer, this.addr, "raft");
        if (this.#closed) {
          fc.close();
          break;
        }
        if (attempt > 0) {
          this.host.log("info", "peer connected", { peer: this.peer, addr: this.addr });
        }
        attempt = 0;
        await this.#serve(fc);
      } catch (e) {
        this.#noteFailure(e, attempt);
      }
      if (this.#closed) break;
      await this.#sleep(backoffDelayMs(attempt++));
    }
  }

  #noteFailure(e: unknown, attempt: number): void {
    if (e instanceof HandshakeFailed) bump(this.host.stats.handshakeFailures, e.reason);
    // Log the first failure of a streak loudly, the rest quietly: a down peer is normal.
    const level = attempt === 0 || e instanceof HandshakeFailed ? "warn" : "info";
    if (!this.#closed) {
      this.host.log(level, "peer connection failed", {
        peer: this.peer,
        addr: this.addr,
        error: String(e),
      });
    }
  }

  /** Writes batches until the connection breaks or the link closes. */
  async #serve(fc: FramedConn): Promise<void> {
    this.#fc = fc;
    this.#broken = false;
    this.#watchForClose(fc);
    try {
      while (!this.#closed && !this.#broken) {
        if (this.#queue.size === 0) {
          await new Promise<void>((resolve) => (this.#wake = resolve));
          continue;
        }
        const count = this.#encodeBatch();
        try {
          await fc.write(this.#writer.bytes());
        } catch (e) {
          this.host.stats.dropped += count; // lost with the connection; Raft retransmits
          throw e;
        }
        this.host.stats.sent += count;
      }
    } finally {
      this.#fc = null;
      fc.close();
    }
  }

  /**
   * The peer never writes after the handshake, so a read completing means it closed (or
   * broke the protocol): either way the link must redial. One pending read per connection.
   */
  #watchForClose(fc: FramedConn): void {
    fc.conn.read(new Uint8Array(1)).then(
      () => this.#markBroken(fc),
      () => this.#markBroken(fc),
    );
  }

  #markBroken(fc: FramedConn): void {
    if (this.#fc !== fc) return;
    this.#broken = true;
    fc.close();
    this.#signal();
  }

  /** Moves queued messages into the writer; returns how many. */
  #encodeBatch(): number {
    const w = this.#writer;
    w.reset();
    let count = 0;
    while (w.length < MAX_BATCH_BYTES) {
      const m = this.#queue.shift();
      if (m === undefined) break;
      const mark = w.length;
      const size = w.append(m);
      if (size > this.host.maxFrameBytes) {
        w.truncate(mark);
        this.host.stats.dropped++;
        this.host.log("error", "message exceeds the frame limit; dropped", {
          peer: this.peer,
          type: m.type,
          sizeBytes: size,
        });
        continue;
      }
      count++;
    }
    return count;
  }

  /** Waits out a backoff delay; new messages do not cut it short, closing does. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#sleepDone = resolve;
      this.#sleepTimer = setTimeout(resolve, ms);
    });
  }
}
