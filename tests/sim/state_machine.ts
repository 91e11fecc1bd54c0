/**
 * The simulator's replicated state machine: it keeps no data, only what the checker
 * needs to compare replicas (last applied index and term, a digest chaining every applied
 * entry, the membership those entries produced and a write count). Its snapshot is a
 * plain object that the simulated network "ships" between hosts.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { ConfChange, ConfState, Entry } from "../../src/raft/messages.ts";
import { EntryType } from "../../src/raft/messages.ts";
import { chainDigest, entryFingerprint } from "./fingerprint.ts";

/** The state machine's whole state: what a snapshot's bytes would hold. */
export interface SmSnapshot {
  readonly index: number;
  readonly term: number;
  readonly digest: number;
  readonly conf: ConfState;
  readonly writes: number;
}

/** The state of an empty replica with bootstrap membership `conf`. */
export function emptySnapshot(conf: ConfState): SmSnapshot {
  return { index: 0, term: 0, digest: 0, conf: copyConf(conf), writes: 0 };
}

/** What applying one entry produced. */
export interface Applied {
  fp: number;
  digest: number;
  confChange: ConfChange | null;
}

/** A replica's applied state. */
export class StateMachine {
  #index: number;
  #term: number;
  #digest: number;
  #conf: ConfState;
  #writes: number;
  #decode: (data: Uint8Array) => ConfChange;

  /** Restores from `snap`; `decode` reads ConfChange entries. */
  constructor(snap: SmSnapshot, decode: (data: Uint8Array) => ConfChange) {
    this.#index = snap.index;
    this.#term = snap.term;
    this.#digest = snap.digest;
    this.#conf = copyConf(snap.conf);
    this.#writes = snap.writes;
    this.#decode = decode;
  }

  /** Last applied index. */
  get index(): number {
    return this.#index;
  }

  /** Digest of everything applied so far. */
  get digest(): number {
    return this.#digest;
  }

  /** Membership after the last applied entry. */
  get conf(): ConfState {
    return this.#conf;
  }

  /** Applies the next entry; the caller guarantees it is `index + 1`. */
  apply(e: Entry): Applied {
    assert(e.index === this.#index + 1, `apply ${e.index} after ${this.#index}`);
    const fp = entryFingerprint(e);
    let confChange: ConfChange | null = null;
    if (e.type === EntryType.ConfChange) {
      confChange = this.#decode(e.data);
      this.#conf = applyConfChange(this.#conf, confChange);
    } else if (e.data.length > 0) {
      this.#writes++;
    }
    this.#index = e.index;
    this.#term = e.term;
    this.#digest = chainDigest(this.#digest, e.index, e.term, fp);
    return { fp, digest: this.#digest, confChange };
  }

  /** Replaces the whole state with a snapshot's. */
  restore(snap: SmSnapshot): void {
    this.#index = snap.index;
    this.#term = snap.term;
    this.#digest = snap.digest;
    this.#conf = copyConf(snap.conf);
    this.#writes = snap.writes;
  }

  /** The current state as a snapshot. */
  snapshot(): SmSnapshot {
    return {
      index: this.#index,
      term: this.#term,
      digest: this.#digest,
      conf: copyConf(this.#conf),
      writes: this.#writes,
    };
  }
}

/** Membership after `cc`; changes that do not apply (e.g. promoting a voter) are no-ops. */
export function applyConfChange(conf: ConfState, cc: ConfChange): ConfState {
  const voters = conf.voters.filter((v) => v !== cc.nodeId);
  const learners = conf.learners.filter((l) => l !== cc.nodeId);
  const isVoter = voters.length !== conf.voters.length;
  const isLearner = learners.length !== conf.learners.length;
  switch (cc.type) {
    case "addVoter":
      return { voters: [...voters, cc.nodeId], learners };
    case "addLearner":
      return isVoter ? copyConf(conf) : { voters, learners: [...learners, cc.nodeId] };
    case "promote":
      return isLearner ? { voters: [...voters, cc.nodeId], learners } : copyConf(conf);
    case "remove":
      return { voters, learners };
  }
}

/** A deep copy, so snapshots never alias live state. */
export function copyConf(conf: ConfState): ConfState {
  return { voters: conf.voters.slice(), learners: conf.learners.slice() };
}

/** True when both list the same members in the same roles (order ignored). */
export function sameConf(a: ConfState, b: ConfState): boolean {
  const key = (c: ConfState) =>
    [...c.voters].sort().join(",") + "|" + [...c.learners].sort().join(",");
  return key(a) === key(b);
}
