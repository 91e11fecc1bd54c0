/**
 * The Ready loop: the one place that follows the persistence contract in
 * `raft/messages.ts`. It feeds the core its inputs (messages, ticks), takes one `Ready`
 * at a time and handles it: send `messages`, install a snapshot, apply what committed,
 * make the Ready durable when the core says it must sync, send `messagesAfterPersist`,
 * `advance()`. While that fsync runs, new proposals and messages accumulate in the core
 * and leave together in the next `Ready`: that is the group commit; meanwhile messages
 * that need no fsync leave at once and entries that commit are applied
 * (`takeMessages`/`takeApplicable`, the contract's steps 6–8).
 *
 * @module
 */

import type { Raft } from "../raft/raft.ts";
import type {
  Entry,
  HardState,
  Message,
  ReadState,
  Ready,
  SnapshotMeta,
} from "../raft/messages.ts";
import type { RaftStorage } from "../storage/raft_storage.ts";
import { isAssertionFailure } from "../assert.ts";

/** What the loop does with a Ready's parts; the node wires these to its modules. */
export interface ReadyLoopHost {
  /** Sends messages (snapshot messages stream the snapshot's bytes). */
  send(messages: Message[]): void;
  /** Replaces the state machine with a received snapshot the core told us to install. */
  installSnapshot(meta: SnapshotMeta): Promise<void>;
  /** Applies committed entries, in order, and answers their writers. */
  apply(entries: Entry[]): void;
  /** Serves reads confirmed at these indexes (once applied). */
  confirmReads(readStates: ReadState[]): void;
  /** After each `advance()`: soft state may have changed. */
  afterAdvance(rd: Ready): void;
  /** A heartbeat showed this node's log was lost (see `BasicStatus.lostLog`). */
  lostLog(from: string, lastIndex: number, acknowledged: number): void;
  /** The node cannot go on safely (a failed fsync, a broken assertion): stop. */
  fatal(error: unknown): void;
  /** One Ready persisted: `entries` entries in `ms` milliseconds. */
  observePersist(entries: number, ms: number): void;
}

/** Drives one Raft core over its storage; see the module comment. */
export class ReadyLoop {
  readonly #raft: Raft;
  readonly #storage: RaftStorage;
  readonly #host: ReadyLoopHost;
  readonly #monotonicMs: () => number;
  #wake: (() => void) | null = null;
  #stopped = false;
  #fatalReported = false;
  #done: Promise<void> = Promise.resolve();
  /** The newest hard state not yet handed to storage (only its commit index moved). */
  #unsavedHardState: HardState | null = null;
  /** True while a Ready is being persisted (between ready() and advance()). */
  #persisting = false;
  /** True while that Ready installs a received snapshot. */
  #installingSnapshot = false;

  /** A loop over `raft` and `storage`; call {@link start} to run it. */
  constructor(raft: Raft, storage: RaftStorage, host: ReadyLoopHost, monotonicMs: () => number) {
    this.#raft = raft;
    this.#storage = storage;
    this.#host = host;
    this.#monotonicMs = monotonicMs;
  }

  /** True once stopped (by {@link stop} or a fatal error). */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** True while a Ready's persistence is in flight. */
  get persisting(): boolean {
    return this.#persisting;
  }

  /** Starts handling Readies. */
  start(): void {
    this.#done = this.#run();
    this.kick();
  }

  /** Wakes the loop: the core may have a Ready. */
  kick(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /**
   * Runs `fn` against the core outside the loop (a proposal, a transfer): an
   * {@link AssertionFailure} from it is a bug, so the node stops and reports it as
   * fatal, as it would inside the loop; the error is rethrown to the caller.
   */
  guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      this.failOnAssertion(e);
      throw e;
    }
  }

  /**
   * Stops the node and reports `e` as fatal when it is an {@link AssertionFailure}
   * (true then); other errors are left to the caller (false).
   */
  failOnAssertion(e: unknown): boolean {
    if (!isAssertionFailure(e)) return false;
    this.#stopped = true;
    this.#reportFatal(e);
    this.kick();
    return true;
  }

  /** Steps one message into the core, then lets the loop move. */
  step(m: Message): void {
    if (this.#stopped) return;
    try {
      this.#raft.step(m);
    } catch (e) {
      // Inbound traffic arrives on the transport's callback, which would only log it.
      if (this.failOnAssertion(e)) return;
      throw e;
    }
    const lost = this.#raft.basicStatus().lostLog;
    if (lost !== null) {
      this.#stopped = true;
      this.#host.lostLog(m.from, lost.lastIndex, lost.acknowledged);
      this.kick();
      return;
    }
    this.progress();
  }

  /** Advances the core's clock by one tick, then lets the loop move. */
  tick(): void {
    if (this.#stopped) return;
    this.guard(() => this.#raft.tick());
    this.progress();
  }

  /**
   * Lets work that need not wait for an in-flight fsync go on (called on each input):
   * messages that may leave before persistence (heartbeats, read-index acks, commit
   * updates, appends of what was proposed meanwhile, as one batch), and the applying of
   * entries that commit meanwhile. Then wakes the loop.
   */
  progress(): void {
    if (this.#persisting) this.#progressWhilePersisting();
    this.kick();
  }

  #progressWhilePersisting(): void {
    this.#host.send(this.#raft.takeMessages());
    // Writes committed and reads confirmed meanwhile are answered now, not after the
    // fsync (unless a snapshot is being installed: the store is being replaced).
    if (this.#installingSnapshot) return;
    const { committedEntries, readStates } = this.#raft.takeApplicable();
    if (committedEntries.length > 0) {
      this.#host.apply(committedEntries);
      this.#raft.appliedEntries(committedEntries);
    }
    if (committedEntries.length > 0 || readStates.length > 0) this.#host.confirmReads(readStates);
  }

  /** Stops after the Ready in flight (if any) and waits for it. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.kick();
    await this.#done;
  }

  /** Saves a held commit index (at shutdown), so a restart replays what was committed. */
  async saveHeldHardState(): Promise<void> {
    const hs = this.#unsavedHardState;
    if (hs === null) return;
    await this.#storage.save(hs, []);
    this.#unsavedHardState = null;
  }

  /** Reports the first fatal error only: the node is already stopping after it. */
  #reportFatal(e: unknown): void {
    if (this.#fatalReported) return;
    this.#fatalReported = true;
    this.#host.fatal(e);
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      if (!this.#raft.hasReady()) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        continue;
      }
      const rd = this.#raft.ready();
      this.#persisting = true;
      this.#installingSnapshot = rd.snapshot !== null;
      try {
        await this.#handle(rd);
        this.#persisting = false;
        this.#installingSnapshot = false;
        this.#raft.advance(rd);
        this.#host.afterAdvance(rd);
      } catch (e) {
        // A failed fsync or a broken invariant: going on could lose or corrupt data.
        this.#stopped = true;
        this.#persisting = false;
        this.#installingSnapshot = false;
        this.#reportFatal(e);
        return;
      }
    }
  }

  async #handle(rd: Ready): Promise<void> {
    this.#host.send(rd.messages);
    if (rd.snapshot) await this.#host.installSnapshot(rd.snapshot);
    // Committed entries are already durable here (the core only hands out persisted
    // ones), so they are applied, and their writers answered, without waiting for the
    // fsync of this Ready's new entries.
    this.#host.apply(rd.committedEntries);
    this.#host.confirmReads(rd.readStates);
    if (rd.hardState) this.#unsavedHardState = rd.hardState;
    // A commit-only change rides along with the next write instead of costing an fsync
    // of its own (the contract's step 2): under load that was every other fsync.
    if (rd.mustSync) {
      const hs = this.#unsavedHardState;
      const startedMs = this.#monotonicMs();
      await this.#storage.save(hs, rd.entries);
      this.#host.observePersist(rd.entries.length, this.#monotonicMs() - startedMs);
      this.#unsavedHardState = null;
    }
    this.#host.send(rd.messagesAfterPersist);
  }
}
