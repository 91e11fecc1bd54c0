/**
 * The runtime seam: everything raftkv needs from its JavaScript runtime (HTTP serving,
 * peer TCP/TLS, files, signals, process facts, timers), as one small interface with a
 * Deno and a Bun implementation. Only src/runtime/ may call `Deno.*` or `Bun.*`
 * (tests/runtime/seam_purity_test.ts enforces it); everything else imports
 * {@link runtime} from ./current.ts.
 *
 * @module
 */

/** Which runtime is executing. */
export type RuntimeName = "deno" | "bun";

/** A fetch handler: the Hono app and the direct lane are shared by both runtimes. */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/** A running HTTP server. */
export interface HttpServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** Stops accepting, waits for requests in flight, then closes. */
  shutdown(): Promise<void>;
}

/** Where and how to serve HTTP. */
export interface ServeOptions {
  hostname: string;
  port: number;
  /** PEM certificate and key: serve HTTPS. */
  tls?: { cert: string; key: string };
}

/** A byte-stream connection (TCP or TLS) between members. */
export interface Conn {
  /** Reads into `buf`; the byte count, or null at end of stream. Throws once closed. */
  read(buf: Uint8Array): Promise<number | null>;
  /** Writes some of `bytes` (the runtime may have kept none of them); the count written. */
  write(bytes: Uint8Array): Promise<number>;
  /** Closes the connection; pending reads and writes fail. */
  close(): void;
  /** Disables Nagle's algorithm (frames go out at once). */
  setNoDelay(on: boolean): void;
  /** The remote address, "host:port", for logs. */
  readonly remoteAddr: string;
}

/** A listening socket. */
export interface Listener {
  /** The next accepted connection; rejects once closed. */
  accept(): Promise<Conn>;
  /** Stops listening (accepted connections stay open). */
  close(): void;
  /** The bound address. */
  readonly addr: { hostname: string; port: number };
}

/** How {@link FileSystem.open} opens a file (the subset raftkv uses). */
export interface OpenOptions {
  read?: boolean;
  write?: boolean;
  /** Create when missing. */
  create?: boolean;
  /** Fail if it exists (a name clash must never truncate a segment). */
  createNew?: boolean;
  truncate?: boolean;
}

/** An open file. Positional calls leave the sequential position alone. */
export interface FileHandle {
  /** Writes all of `bytes` at byte `position`, on the calling thread. */
  writeAtSync(bytes: Uint8Array, position: number): void;
  /** Writes all of `bytes` at byte `position`. */
  writeAt(bytes: Uint8Array, position: number): Promise<void>;
  /** Appends all of `bytes` at the sequential position. */
  write(bytes: Uint8Array): Promise<void>;
  /** Reads into `buf` from `position`; bytes read (0 at end of file), on the calling thread. */
  readAtSync(buf: Uint8Array, position: number): number;
  /** Reads into `buf` from `position`; bytes read (0 at end of file). */
  readAt(buf: Uint8Array, position: number): Promise<number>;
  /** Reads into `buf` at the sequential position; null at end of file. */
  read(buf: Uint8Array): Promise<number | null>;
  /** fdatasync(2): the data (and the size, when it changed) are durable. */
  syncData(): Promise<void>;
  /** fsync(2): data and all metadata (used on directories). */
  sync(): Promise<void>;
  /** Cuts (or extends) the file to `length` bytes. */
  truncateSync(length: number): void;
  /** The current size in bytes. */
  size(): Promise<number>;
  /** Releases the descriptor. */
  close(): void;
}

/** One directory entry. */
export interface DirEntry {
  name: string;
  isFile: boolean;
  isDirectory: boolean;
}

/** Files and directories. Missing paths throw errors that {@link FileSystem.isNotFound} knows. */
export interface FileSystem {
  open(path: string, options: OpenOptions): Promise<FileHandle>;
  openSync(path: string, options: OpenOptions): FileHandle;
  readFile(path: string): Promise<Uint8Array>;
  readTextFile(path: string): Promise<string>;
  readTextFileSync(path: string): string;
  /** Creates or replaces `path` with `bytes` (not synced). */
  writeFile(path: string, bytes: Uint8Array): Promise<void>;
  writeTextFileSync(path: string, text: string): void;
  rename(from: string, to: string): Promise<void>;
  /** Removes a file (or, with `recursive`, a tree). */
  remove(path: string, options?: { recursive?: boolean }): Promise<void>;
  mkdir(path: string, options?: { recursive?: boolean }): Promise<void>;
  mkdirSync(path: string, options?: { recursive?: boolean }): void;
  readDir(path: string): Promise<DirEntry[]>;
  readDirSync(path: string): DirEntry[];
  truncate(path: string, length: number): Promise<void>;
  /** Whether `error` means the path does not exist. */
  isNotFound(error: unknown): boolean;
}

/** Counts of durability calls made through this seam (a proof they really happen). */
export interface SyncCounters {
  /** fdatasync calls on files. */
  fdatasync: number;
  /** fsync calls (directories). */
  fsync: number;
}

/** A timer handle as setTimeout/setInterval return it on this runtime. */
export type TimerHandle = ReturnType<typeof setTimeout>;

/** Everything raftkv asks of its runtime. */
export interface Runtime {
  readonly name: RuntimeName;
  /** Command-line arguments after the script. */
  readonly args: string[];
  /** An environment variable, or undefined. */
  env(name: string): string | undefined;
  /** The runtime's executable (to start more processes of the same kind). */
  readonly execPath: string;
  /** Ends the process at once. */
  exit(code: number): never;
  /** Runs `handler` on SIGINT/SIGTERM; returns a function removing it. */
  onSignal(signal: "SIGINT" | "SIGTERM", handler: () => void): () => void;
  /** Lets the process exit while `timer` is pending. */
  unrefTimer(timer: TimerHandle): void;
  /** Undoes {@link unrefTimer}. */
  refTimer(timer: TimerHandle): void;
  /** Whether stdout is a terminal. */
  stdoutIsTerminal(): boolean;
  /** Writes all of `bytes` to stdout (1) or stderr (2), synchronously. */
  writeSync(fd: 1 | 2, bytes: Uint8Array): void;
  /** Serves HTTP with `handler`; resolves once listening. */
  serve(options: ServeOptions, handler: FetchHandler): Promise<HttpServer>;
  /**
   * fetch for calls between members: never reuses a connection, and trusts `caCerts`
   * (PEM) besides the system CAs.
   */
  memberFetch(caCerts: string[]): typeof fetch;
  /** Listens on TCP, or TLS when `tls` is set; resolves once bound. */
  listen(
    options: { hostname: string; port: number; tls?: { cert: string; key: string } },
  ): Promise<Listener>;
  /** Connects over TCP, or TLS verified against `caCerts` when set. `signal` aborts it. */
  connect(options: {
    hostname: string;
    port: number;
    caCerts?: string[];
    signal?: AbortSignal;
  }): Promise<Conn>;
  readonly fs: FileSystem;
  /**
   * Takes an exclusive flock(2) on `path` (created when missing) without waiting: resolves
   * with the function that releases it, or null when another open file holds it. The
   * kernel drops the lock when the process ends, even on `kill -9`.
   */
  lockFile(path: string): Promise<(() => void) | null>;
  /** Durability calls made so far. */
  readonly syncs: SyncCounters;
}
