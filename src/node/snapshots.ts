/**
 * Snapshots as the node drives them: the policy (every N applied entries at a per-member
 * phase, and/or every T seconds), taking one and compacting the log behind it, streaming
 * one to a follower the core says needs it, storing one received, and installing it
 * when the core's Ready says so.
 *
 * @module
 */

import type { Raft } from "../raft/raft.ts";
import type { NodeId, SnapshotMessage, SnapshotMeta } from "../raft/messages.ts";
import type { RaftStorage } from "../storage/raft_storage.ts";
import type { Transport } from "../transport/transport.ts";
import { KvStore } from "../kv/store.ts";
import { RaftkvError } from "../errors.ts";
import { kvLimitsOf, type NodeConfig } from "./config.ts";
import type { NodeClock } from "./clock.ts";
import type { Applier } from "./apply.ts";
import type { Membership } from "./membership.ts";
import type { Logger } from "./log.ts";
import { decodeNodeSnapshot, encodeNodeSnapshot } from "./snapshot_format.ts";
import { withProgress } from "./progress.ts";

/** What the snapshot module needs from the rest of the node. */
export interface SnapshotDeps {
  config: NodeConfig;
  raft: Raft;
  storage: RaftStorage;
  transport: Transport;
  log: Logger;
  clock: NodeClock;
  /** The applied index and term (moved on when a snapshot is installed). */
  applier: Applier;
  /** Addresses written into each snapshot and taken from an installed one. */
  members: Membership;
  /** The current state machine. */
  kv(): KvStore;
  /** Replaces the state machine (a snapshot was installed). */
  replaceKv(kv: KvStore): void;
  /** Steps a message into the core through the loop (a received snapshot, once stored). */
  step(m: SnapshotMessage): void;
  /** Wakes the Ready loop (a send finished). */
  kick(): void;
  /** Stops the node through onFatal when `e` is a broken assertion (true then). */
  failOnAssertion(e: unknown): boolean;
  /** Records how long a snapshot took, in seconds. */
  observeSnapshot(seconds: number): void;
}

/** Snapshot policy, send, receive and install. */
export class Snapshots {
  readonly #d: SnapshotDeps;
  #lastIndex: number;
  #lastAtMs: number;
  #taking = false;
  readonly #sending = new Set<NodeId>();

  /** Starts from the snapshot storage holds at `index`. */
  constructor(deps: SnapshotDeps, index: number) {
    this.#d = deps;
    this.#lastIndex = index;
    this.#lastAtMs = deps.clock.now();
  }

  /** Snapshot policy: every N applied entries, and/or every T seconds with a change. */
  maybeTake(): void {
    const applied = this.#d.applier.applied;
    if (this.#taking || applied <= this.#lastIndex) return;
    const { snapshotEntries, snapshotIntervalMs } = this.#d.config;
    const byCount = snapshotEntries > 0 && applied >= this.#nextPoint();
    const byTime = snapshotIntervalMs > 0 &&
      this.#d.clock.now() - this.#lastAtMs >= snapshotIntervalMs;
    if (!byCount && !byTime) return;
    this.take().catch((e) =>
      this.#d.log.log("warn", "snapshot failed", {
        error: e instanceof Error ? e.message : String(e),
      })
    );
  }

  /**
   * The applied index at which the next snapshot by count is due: every
   * `--snapshot-entries` entries, at a phase set by this node's place among the members.
   * Members apply the same entries at nearly the same moment; at the same points they
   * would all spend a snapshot's CPU at once, and a majority stall together (measured
   * on one machine: most of the write tail latency).
   */
  #nextPoint(): number {
    const every = this.#d.config.snapshotEntries;
    const ids = this.#d.members.sortedIds();
    const offset = Math.floor(
      every * Math.max(0, ids.indexOf(this.#d.config.id)) / Math.max(1, ids.length),
    );
    return offset + (Math.floor((this.#lastIndex - offset) / every) + 1) * every;
  }

  /** Snapshots the applied state now and compacts the log behind it. */
  async take(): Promise<{ index: number; term: number }> {
    if (this.#taking) throw new RaftkvError("conflict", "a snapshot is already being taken");
    this.#taking = true;
    const startedMs = this.#d.clock.monotonicMs();
    try {
      const conf = this.#d.raft.status().conf;
      const kvSnapshot = this.#d.kv().snapshot(); // copy-on-write: applies continue meanwhile
      const meta = { index: kvSnapshot.index, term: this.#termAt(kvSnapshot.index), conf };
      if (meta.index <= this.#lastIndex) return meta;
      const header = { version: 1 as const, members: this.#d.members.entries() };
      await this.#d.storage.writeSnapshot(meta, encodeNodeSnapshot(header, kvSnapshot.chunks));
      await this.#d.storage.compact(meta.index);
      this.#lastIndex = meta.index;
      this.#lastAtMs = this.#d.clock.now();
      this.#d.observeSnapshot((this.#d.clock.monotonicMs() - startedMs) / 1000);
      this.#d.log.log("info", "snapshot taken", { index: meta.index, term: meta.term });
      return meta;
    } finally {
      this.#taking = false;
    }
  }

  #termAt(index: number): number {
    const { applied, appliedTerm } = this.#d.applier;
    if (index === applied) return appliedTerm;
    const term = this.#d.storage.term(index);
    if (term === undefined) throw new Error(`no term known for applied index ${index}`);
    return term;
  }

  /** Streams the current snapshot to `m.to` and reports the outcome to the core. */
  send(m: SnapshotMessage): void {
    if (this.#sending.has(m.to)) return;
    const opened = this.#d.storage.openSnapshot();
    if (!opened) {
      this.#report(m.to, false);
      return;
    }
    this.#sending.add(m.to);
    const message: SnapshotMessage = { ...m, snapshot: opened.meta };
    const fields = { to: m.to, index: opened.meta.index };
    this.#d.log.log("info", "sending snapshot", fields);
    const chunks = withProgress(
      opened.chunks(),
      this.#d.log,
      "snapshot transfer out",
      fields,
      this.#d.clock.now,
    );
    this.#d.transport.sendSnapshot(message, chunks).then(
      () => this.#report(m.to, true),
      (e) => {
        this.#d.log.log("warn", "snapshot send failed", { to: m.to, error: String(e) });
        this.#report(m.to, false);
      },
    ).finally(() => {
      this.#sending.delete(m.to);
      this.#d.kick();
    });
  }

  /** Tells the core how a snapshot send went; a broken assertion in it is fatal. */
  #report(to: NodeId, ok: boolean): void {
    try {
      this.#d.raft.reportSnapshot(to, ok);
    } catch (e) {
      if (!this.#d.failOnAssertion(e)) throw e;
    }
  }

  /** Stores a received snapshot's bytes, then steps its message into the core. */
  async receive(m: SnapshotMessage, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    if (m.snapshot.index <= this.#d.applier.applied) {
      for await (const _ of chunks) { /* already have it: drain */ }
    } else {
      const fields = { from: m.from, index: m.snapshot.index };
      await this.#d.storage.writeSnapshot(
        m.snapshot,
        withProgress(chunks, this.#d.log, "snapshot transfer in", fields, this.#d.clock.now),
      );
    }
    // Stepped after the sender is acked, once the bytes are durable here.
    queueMicrotask(() => this.#d.step(m));
  }

  /** Makes a received snapshot current and replaces the state machine with it. */
  async install(meta: SnapshotMeta): Promise<void> {
    // Storage makes a received snapshot current (and readable) once it is applied.
    await this.#d.storage.applySnapshot(meta);
    const opened = this.#d.storage.openSnapshot();
    if (!opened || opened.meta.index !== meta.index) {
      throw new Error(`snapshot ${meta.index} was applied but cannot be read back`);
    }
    const decoded = await decodeNodeSnapshot(opened.chunks());
    const kv = await KvStore.restore(decoded.kvChunks, kvLimitsOf(this.#d.config));
    this.#d.members.adoptSnapshotMembers(decoded.header.members);
    this.#d.replaceKv(kv);
    this.#d.applier.jumpTo(opened.meta.index, opened.meta.term);
    this.#lastIndex = opened.meta.index;
    this.#d.log.log("info", "snapshot installed", { index: meta.index });
  }
}
