/**
 * Loads the Raft core under test. By default that is `src/raft/`; setting
 * `RAFTKV_SIM_CORE` to another directory (e.g. a deliberately broken copy) runs the
 * simulator against it instead. The shapes below are what the simulator needs from the
 * core, so the simulator type-checks without depending on the core's internals.
 *
 * @module
 */

import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  ReadState,
  Ready,
  Role,
  SnapshotMeta,
} from "../../src/raft/messages.ts";
import type { StableLog } from "../../src/raft/stable_log.ts";

/** Environment variable naming a directory that holds raft.ts, memory_log.ts, … */
export const CORE_DIR_ENV = "RAFTKV_SIM_CORE";

/** Construction options the simulator passes to the core. */
export interface SimRaftConfig {
  id: NodeId;
  log: StableLog;
  seed: number;
  electionTicks?: number;
  heartbeatTicks?: number;
  preVote?: boolean;
  checkQuorum?: boolean;
  applied?: number;
  maxAppendBytes?: number;
  maxInflightAppends?: number;
  maxUncommittedBytes?: number;
}

/** The result of a proposal. */
export type SimProposeResult =
  | { ok: true; index: number; term: number }
  | { ok: false; reason: string; leader: NodeId | null };

/** The core's status fields the simulator reads. */
export interface SimRaftStatus {
  id: NodeId;
  term: number;
  role: Role;
  leader: NodeId | null;
  commit: number;
  applied: number;
  lastIndex: number;
  conf: ConfState;
  leaseValid: boolean;
}

/** The core's state machine, as the simulator drives it. */
export interface SimRaft {
  tick(): void;
  step(m: Message): void;
  propose(data: Uint8Array): SimProposeResult;
  proposeBatch(items: Uint8Array[]): SimProposeResult;
  proposeConfChange(cc: ConfChange): SimProposeResult;
  readIndex(context: number, mode: "safe" | "lease"): void;
  transferLeader(to: NodeId): boolean;
  campaign(): void;
  reportUnreachable(id: NodeId): void;
  reportSnapshot(id: NodeId, ok: boolean): void;
  hasReady(): boolean;
  ready(): Ready;
  takeMessages(): Message[];
  takeApplicable(): { committedEntries: Entry[]; readStates: ReadState[] };
  appliedEntries(entries: readonly Entry[]): void;
  advance(rd: Ready): void;
  status(): SimRaftStatus;
}

/** The in-memory durable log the host writes and the core reads. */
export interface SimMemoryLog extends StableLog {
  append(entries: Entry[]): void;
  setHardState(hs: HardState): void;
  applySnapshot(meta: SnapshotMeta): void;
  compact(index: number, conf: ConfState): void;
}

/** Everything the simulator takes from the core. */
export interface Core {
  /** Where it was loaded from, for reports. */
  dir: string;
  newRaft(config: SimRaftConfig): SimRaft;
  /** A fresh durable log; `conf` is the bootstrap membership (empty for joiners). */
  newLog(conf: ConfState): SimMemoryLog;
  encodeConfChange(cc: ConfChange): Uint8Array;
  decodeConfChange(data: Uint8Array): ConfChange;
}

interface RaftModule {
  Raft: new (config: SimRaftConfig) => SimRaft;
}
interface MemoryLogModule {
  MemoryStableLog: new (init?: { conf?: ConfState }) => SimMemoryLog;
}
interface CodecModule {
  encodeConfChange(cc: ConfChange): Uint8Array;
  decodeConfChange(data: Uint8Array): ConfChange;
}

/** The directory the core is loaded from: `$RAFTKV_SIM_CORE` or `src/raft/`. */
export function coreDir(): string {
  let fromEnv: string | undefined;
  try {
    fromEnv = Deno.env.get(CORE_DIR_ENV);
  } catch {
    fromEnv = undefined; // no env permission: use the default core
  }
  if (fromEnv !== undefined && fromEnv !== "") {
    const abs = fromEnv.startsWith("/") ? fromEnv : `${Deno.cwd()}/${fromEnv}`;
    return abs.endsWith("/") ? abs : abs + "/";
  }
  return new URL("../../src/raft/", import.meta.url).pathname;
}

/** Imports the core from {@link coreDir}. */
export async function loadCore(dir: string = coreDir()): Promise<Core> {
  const base = new URL(`file://${dir}`);
  const raft = await import(new URL("raft.ts", base).href) as RaftModule;
  const mem = await import(new URL("memory_log.ts", base).href) as MemoryLogModule;
  const codec = await import(new URL("conf_change_codec.ts", base).href) as CodecModule;
  return {
    dir,
    newRaft: (config) => new raft.Raft(config),
    newLog: (conf) => new mem.MemoryStableLog({ conf }),
    encodeConfChange: codec.encodeConfChange,
    decodeConfChange: codec.decodeConfChange,
  };
}
