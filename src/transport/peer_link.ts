/**
 * The outbound Raft channel to one peer: a bounded send queue drained by a write pump
 * that coalesces everything queued (up to {@link MAX_BATCH_BYTES}) into a single socket
 * write, and redials with jittered exponential backoff whenever the connection is lost.
 *
 * The pump starts a write synchronously from `enqueue` when the socket is idle, so a
 * lone message (a heartbeat, a vote) leaves at once instead of after the caller's next
 * I/O; while that write is in flight, later messages pile up and go out together.
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
  /** Holds the batch being written; reused only once that write settled. */
  readonly #writer = new MessageFrameEncoder();
  #closed = false;
  #fc: FramedConn | null = null;
  /** The write in flight (at most one, across connections), or null. */
  #inflight: Promise<void> | null = null;
  /** Ends the current connection's wait in {@link #serve}. */
  #endConnection: (() => void) | null = null;
  #connectionError: unknown = null;
  #sleepTimer: ReturnType<typeof setTimeout> | undefined;
  #sleepDone: (() => void) | null = null;
  /** Aborts a dial in progress when the link closes. */
  readonly #abort = new AbortController();
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
      bump(this.host.stats.droppedByPeer, this.peer);
    }
    this.#pump();
  }

  /** Stops the link: closes its connection and discards what is queued. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#abort.abort();
    clearTimeout(this.#sleepTimer);
    this.#sleepDone?.();
    if (this.#fc !== null) this.#end(this.#fc, null);
    await this.#done;
    await this.#inflight;
    this.host.stats.dropped += this.#queue.clear();
  }

  async #run(): Promise<void> {
    let attempt = 0;
    while (!this.#closed) {
      try {
        const fc = await dial(this.host, this.peer, this.addr, "raft", this.#abort.signal);
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

  /** Lets the pump use `fc` until it breaks or the link closes; throws the write error, if any. */
  async #serve(fc: FramedConn): Promise<void> {
    const ended = new Promise<void>((resolve) => (this.#endConnection = resolve));
    this.#fc = fc;
    this.#connectionError = null;
    this.#watchForClose(fc);
    this.#pump();
    await ended;
    if (this.#connectionError !== null) throw this.#connectionError;
  }

  /** Detaches `fc` (if still current), closes it and wakes {@link #serve}. */
  #end(fc: FramedConn, error: unknown): void {
    if (this.#fc !== fc) return;
    this.#fc = null;
    this.#connectionError = error;
    fc.close();
    const end = this.#endConnection;
    this.#endConnection = null;
    end?.();
  }

  /**
   * The peer never writes after the handshake, so a read completing means it closed (or
   * broke the protocol): either way the link must redial. One pending read per connection.
   */
  #watchForClose(fc: FramedConn): void {
    const closed = () => this.#end(fc, new Error("peer closed the connection"));
    fc.conn.read(new Uint8Array(1)).then(closed, closed);
  }

  /** Starts one coalesced write when connected, idle, and something is queued. */
  #pump(): void {
    const fc = this.#fc;
    if (fc === null || this.#inflight !== null || this.#queue.size === 0) return;
    const count = this.#encodeBatch();
    if (count === 0) return;
    this.#inflight = fc.write(this.#writer.bytes()).then(
      () => {
        this.#inflight = null;
        this.host.stats.sent += count;
        this.#pump();
      },
      (e) => {
        this.#inflight = null;
        this.host.stats.dropped += count; // lost with the connection; Raft retransmits
        this.#end(fc, e);
        this.#pump(); // a newer connection may already be waiting for this write to settle
      },
    );
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
