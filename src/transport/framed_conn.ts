/**
 * A TCP connection speaking frames: one reusable {@link FrameReader} for input, whole-
 * buffer writes for output, and a close that is safe to call twice.
 *
 * @module
 */

import { FrameReader, ProtocolError } from "./frame.ts";
import type { Conn } from "../runtime/runtime.ts";

/** Counts bytes crossing a connection. */
export interface ByteCounter {
  bytesSent: number;
  bytesReceived: number;
}

/** A connection plus its frame reader. */
export class FramedConn {
  /** Splits input into frames; its limit starts at the handshake limit. */
  readonly reader: FrameReader;
  #closed = false;

  /** Wraps `conn`; frames longer than `maxFrameBytes` are refused until the limit is raised. */
  constructor(
    readonly conn: Conn,
    maxFrameBytes: number,
    private readonly counter: ByteCounter,
  ) {
    this.reader = new FrameReader(maxFrameBytes);
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Reads more bytes into the frame buffer. Returns false at end of stream; throws
   * {@link ProtocolError} `truncated_frame` when the stream ends inside a frame.
   */
  async fill(): Promise<boolean> {
    const n = await this.conn.read(this.reader.space());
    if (n === null) {
      if (this.reader.buffered > 0) {
        throw new ProtocolError("truncated_frame", `stream ended inside a frame`);
      }
      return false;
    }
    this.reader.commit(n);
    this.counter.bytesReceived += n;
    return true;
  }

  /** The next frame's payload, or null at a clean end of stream. */
  async readFrame(): Promise<Uint8Array | null> {
    for (;;) {
      const frame = this.reader.next();
      if (frame !== null) return frame;
      if (!(await this.fill())) return null;
    }
  }

  /** Writes all of `bytes`. */
  async write(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      offset += await this.conn.write(bytes.subarray(offset));
    }
    this.counter.bytesSent += bytes.length;
  }

  /** Closes the socket; pending reads and writes fail. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // Already closed by the runtime after an error: nothing left to release.
    }
  }
}

/** Parses "host:port" or "[v6]:port". Throws on anything else. */
export function parseHostPort(addr: string): { hostname: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(addr);
  const port = m ? Number(m[3]) : NaN;
  const hostname = m ? (m[1] ?? m[2]) : undefined;
  if (hostname === undefined || !(port >= 0 && port <= 65535)) {
    throw new Error(`invalid address "${addr}": expected host:port`);
  }
  return { hostname, port };
}

/** Runs `fn` with a timer that closes `fc` after `ms`; reports whether the timer fired. */
export async function withDeadline<T>(
  fc: FramedConn,
  ms: number,
  fn: () => Promise<T>,
): Promise<{ value: T } | { timedOut: true }> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    fc.close();
  }, ms);
  try {
    return { value: await fn() };
  } catch (e) {
    if (timedOut) return { timedOut: true };
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
