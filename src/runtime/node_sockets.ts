/**
 * Peer TCP/TLS through `node:net` / `node:tls` (as Bun implements them), shaped like
 * Deno's pull-style connections: `read` copies from chunks the socket pushed, pausing
 * the socket past {@link READ_BUFFER_LIMIT_BYTES} so a fast sender cannot grow memory;
 * `write` resolves once the runtime has taken the bytes (its callback), so a caller may
 * reuse its buffer afterwards exactly as on Deno.
 *
 * @module
 */

import * as net from "node:net";
import * as tls from "node:tls";
import type { Conn, Listener } from "./runtime.ts";

/** Bytes received but not yet read past which the socket stops reading. */
export const READ_BUFFER_LIMIT_BYTES = 4 * 1024 * 1024;
/** Connections accepted but not yet taken by `accept()` (more are closed at once). */
export const ACCEPT_QUEUE_LIMIT = 1024;

class NodeConn implements Conn {
  readonly #socket: net.Socket;
  readonly #chunks: Uint8Array[] = [];
  #head = 0;
  #buffered = 0;
  #ended = false;
  #closed = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;
  readonly #pendingWrites = new Set<(e: Error) => void>();
  readonly remoteAddr: string;

  constructor(socket: net.Socket) {
    this.#socket = socket;
    this.remoteAddr = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      if (this.#buffered > READ_BUFFER_LIMIT_BYTES) socket.pause();
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (e: Error) => {
      this.#error ??= e;
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#failWrites(this.#error ?? new Error("connection closed"));
      this.#notify();
    });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  #failWrites(e: Error): void {
    for (const reject of this.#pendingWrites) reject(e);
    this.#pendingWrites.clear();
  }

  async read(buf: Uint8Array): Promise<number | null> {
    for (;;) {
      if (this.#closed) throw new Error("connection closed");
      if (this.#head < this.#chunks.length) return this.#copyOut(buf);
      if (this.#error !== null) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  #copyOut(buf: Uint8Array): number {
    let n = 0;
    while (n < buf.length && this.#head < this.#chunks.length) {
      const chunk = this.#chunks[this.#head] as Uint8Array;
      const take = Math.min(chunk.length, buf.length - n);
      buf.set(take === chunk.length ? chunk : chunk.subarray(0, take), n);
      n += take;
      if (take === chunk.length) {
        this.#chunks[this.#head++] = EMPTY;
      } else {
        this.#chunks[this.#head] = chunk.subarray(take);
      }
    }
    if (this.#head === this.#chunks.length) {
      this.#chunks.length = 0;
      this.#head = 0;
    }
    this.#buffered -= n;
    if (this.#socket.isPaused() && this.#buffered <= READ_BUFFER_LIMIT_BYTES / 2) {
      this.#socket.resume();
    }
    return n;
  }

  write(bytes: Uint8Array): Promise<number> {
    if (this.#closed || this.#ended) return Promise.reject(new Error("connection closed"));
    return new Promise((resolve, reject) => {
      this.#pendingWrites.add(reject);
      this.#socket.write(bytes, (error) => {
        this.#pendingWrites.delete(reject);
        if (error) reject(error);
        else resolve(bytes.length);
      });
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
    this.#failWrites(new Error("connection closed"));
    this.#notify();
  }

  setNoDelay(on: boolean): void {
    this.#socket.setNoDelay(on);
  }
}

const EMPTY = new Uint8Array(0);

/** Listens on TCP (or TLS); resolves once bound. */
export function nodeListen(options: {
  hostname: string;
  port: number;
  tls?: { cert: string; key: string };
}): Promise<Listener> {
  const queue: Conn[] = [];
  const waiters: { resolve: (c: Conn) => void; reject: (e: Error) => void }[] = [];
  let closed = false;
  const onSocket = (socket: net.Socket) => {
    // Wrapped at once: the wrapper's error listener keeps a reset from crashing the process.
    const conn = new NodeConn(socket);
    const waiter = waiters.shift();
    if (waiter !== undefined) return waiter.resolve(conn);
    if (queue.length >= ACCEPT_QUEUE_LIMIT) return conn.close();
    queue.push(conn);
  };
  const server = options.tls
    ? tls.createServer({ cert: options.tls.cert, key: options.tls.key }, onSocket)
    : net.createServer(onSocket);
  // A failed TLS handshake is that client's problem, not the listener's.
  server.on("tlsClientError", () => {});
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      const bound = server.address() as net.AddressInfo;
      resolve({
        accept() {
          const conn = queue.shift();
          if (conn !== undefined) return Promise.resolve(conn);
          if (closed) return Promise.reject(new Error("listener closed"));
          return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
        },
        close() {
          if (closed) return;
          closed = true;
          server.close();
          for (const w of waiters.splice(0)) w.reject(new Error("listener closed"));
          for (const c of queue.splice(0)) c.close();
        },
        addr: { hostname: bound.address, port: bound.port },
      });
    });
  });
}

/** Connects over TCP, or TLS verified against `caCerts`; `signal` abandons it. */
export function nodeConnect(options: {
  hostname: string;
  port: number;
  caCerts?: string[];
  signal?: AbortSignal;
}): Promise<Conn> {
  const { hostname, port, caCerts, signal } = options;
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const socket = caCerts
      ? tls.connect({ host: hostname, port, ca: caCerts })
      : net.connect({ host: hostname, port });
    const onAbort = () => {
      socket.destroy();
      reject(signal?.reason ?? new Error("aborted"));
    };
    const done = () => {
      signal?.removeEventListener("abort", onAbort);
      socket.off("error", onError);
    };
    const onError = (e: Error) => {
      done();
      socket.destroy();
      reject(e);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.once("error", onError);
    socket.once(caCerts ? "secureConnect" : "connect", () => {
      done();
      resolve(new NodeConn(socket));
    });
  });
}
