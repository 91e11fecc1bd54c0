/**
 * A linearizability checker for KV histories, in the style of Porcupine: the
 * Wing–Gong algorithm with Lowe's memoization, run per group of keys
 * (P-compositionality): a single-key operation touches one key and a transaction
 * several, so keys that some transaction joins (directly or through a chain of
 * transactions) form one group, searched with one state holding all its keys' values;
 * the history is linearizable iff every group's is. Without transactions every key is
 * its own group, as before.
 *
 * Per group, calls and returns become one time-ordered list of entries. The search walks
 * it: at a call it tries to linearize that operation now (the model must accept its
 * output); at a return of an operation not yet linearized it backtracks. Every
 * configuration (set of linearized operations, state) it fails from is remembered, and
 * a configuration that a failed one covers is not explored again (Lowe's memoization,
 * extended to unknown-outcome operations, see {@link FailedConfigs}). Read-only
 * operations that fit are taken without branching (see {@link isReadOnly}).
 *
 * Unknown outcomes (`ret === null`) have no return entry: the search may linearize the
 * operation anywhere after its call, or never, and success only requires every
 * *returned* operation to be linearized. "Never" is no extra power: an operation that
 * never took effect is indistinguishable from one placed after everything else.
 *
 * @module
 */

import assert from "node:assert/strict";
import { keysOf, type Operation, validateHistory } from "./history.ts";
import {
  applyOp,
  applyTxn,
  describeInput,
  describeOutput,
  type KvState,
  showSlots,
  type Slots,
  stepSlots,
} from "./kv_model.ts";

/** Default time budget for a whole history. */
export const DEFAULT_CHECK_TIMEOUT_MS = 60_000;
/** Failed configurations remembered per key before giving up (each holds a bitset window). */
export const MAX_CACHE_ENTRIES = 5_000_000;
/** Search steps between two looks at the clock. */
const DEADLINE_CHECK_STEPS = 4096;
/** Operations {@link formatFailure} prints at most; the rest are summarized. */
export const MAX_FORMAT_OPS = 160;

/** Options of {@link checkHistory}. */
export interface CheckOptions {
  /** Give up (result `ok: "unknown"`) after this long; default {@link DEFAULT_CHECK_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/** Every key's history is linearizable. */
export interface CheckSuccess {
  ok: true;
  keys: number;
  ops: number;
  elapsedMs: number;
}

/** Some group's history is not linearizable: the smallest such group is reported. */
export interface CheckFailure {
  ok: false;
  /** The group's name: its key, or its keys joined with "+". */
  key: string;
  /** The group's keys, in slot order. */
  keys: string[];
  /** That group's whole history, in call order. */
  ops: Operation[];
  /** The longest linearizable prefix found, in linearization order. */
  longestPrefix: Operation[];
  /** The operation that could not be placed after {@link CheckFailure.longestPrefix}. */
  blocking: Operation;
  /** The group's values after {@link CheckFailure.longestPrefix}, one per key of `keys`. */
  stateAfterPrefix: Slots;
  /** A readable account of why. */
  explanation: string;
  elapsedMs: number;
}

/** The checker ran out of time (or memory) before deciding. */
export interface CheckUnknown {
  ok: "unknown";
  reason: "timeout" | "memory";
  /** The group (its name, see {@link CheckFailure.key}) searched when the budget ran out. */
  key: string;
  elapsedMs: number;
}

/** The verdict of {@link checkHistory}. */
export type CheckResult = CheckSuccess | CheckFailure | CheckUnknown;

/**
 * Checks a history for linearizability against the KV model. Groups of keys are
 * checked smallest history first, so a failure is reported on the smallest failing
 * group; a definite failure on any group wins over running out of budget on another.
 */
export function checkHistory(
  history: readonly Operation[],
  options: CheckOptions = {},
): CheckResult {
  validateHistory(history);
  const started = performance.now();
  const deadline = started + (options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS);
  const groups = partitionByGroup(history).sort((a, b) => a.ops.length - b.ops.length);
  let undecided: { key: string; reason: "timeout" | "memory" } | null = null;
  let keyCount = 0;
  for (const { keys, ops } of groups) {
    keyCount += keys.length;
    const key = keys.join("+");
    // Past the deadline each remaining group still gets a short probe
    // (DEADLINE_CHECK_STEPS), enough to catch small definite violations.
    const outcome = new KeySearch(keys, ops).run(deadline);
    if (outcome.kind === "linearizable") continue;
    if (outcome.kind === "undecided") {
      undecided ??= { key, reason: outcome.reason };
      continue;
    }
    const { longestPrefix, blocking, stateAfterPrefix } = outcome;
    const elapsedMs = performance.now() - started;
    const failure = { key, keys, ops, longestPrefix, blocking, stateAfterPrefix, elapsedMs };
    return { ok: false, ...failure, explanation: explain(failure) };
  }
  const elapsedMs = performance.now() - started;
  if (undecided !== null) return { ok: "unknown", ...undecided, elapsedMs };
  return { ok: true, keys: keyCount, ops: history.length, elapsedMs };
}

/** The keys some operations connect, and those operations in call order. */
export interface Group {
  keys: string[];
  ops: Operation[];
}

/**
 * Splits a history into groups of keys: two keys share a group when some operation
 * (a transaction) touches both, directly or through a chain (union-find).
 */
export function partitionByGroup(history: readonly Operation[]): Group[] {
  const parent = new Map<string, string>();
  const find = (key: string): string => {
    let root = key;
    while (parent.get(root) !== root) root = parent.get(root) ?? root;
    // Path compression keeps later finds short.
    for (let at = key; at !== root;) {
      const next = parent.get(at) ?? root;
      parent.set(at, root);
      at = next;
    }
    return root;
  };
  for (const op of history) {
    const keys = keysOf(op.input);
    for (const key of keys) if (!parent.has(key)) parent.set(key, key);
    const first = keys[0];
    if (first === undefined) continue;
    for (const key of keys.slice(1)) parent.set(find(key), find(first));
  }
  const groups = new Map<string, Group>();
  for (const key of [...parent.keys()].sort()) {
    const root = find(key);
    const group = groups.get(root);
    if (group === undefined) groups.set(root, { keys: [key], ops: [] });
    else group.keys.push(key);
  }
  for (const op of history) {
    const first = keysOf(op.input)[0];
    if (first !== undefined) groups.get(find(first))?.ops.push(op);
  }
  for (const { ops } of groups.values()) ops.sort((a, b) => a.call - b.call || a.id - b.id);
  return [...groups.values()];
}

type KeyOutcome =
  | { kind: "linearizable" }
  | { kind: "undecided"; reason: "timeout" | "memory" }
  | {
    kind: "violation";
    longestPrefix: Operation[];
    blocking: Operation;
    stateAfterPrefix: Slots;
  };

/**
 * The time-ordered entry list of one key, as a doubly linked list over arrays so that
 * linearizing an operation (lifting its call and return out) and undoing it are O(1).
 * Entry 0 is the head sentinel; -1 ends the list.
 */
class EntryList {
  readonly next: Int32Array;
  readonly prev: Int32Array;
  /** Index into the operation array of each entry. */
  readonly op: Int32Array;
  /** For a call entry, its return entry (-1 when the outcome is unknown); -2 for returns. */
  readonly match: Int32Array;

  constructor(ops: readonly Operation[]) {
    const events: { time: number; isReturn: boolean; op: number }[] = [];
    ops.forEach((op, i) => {
      events.push({ time: op.call, isReturn: false, op: i });
      if (op.ret !== null) events.push({ time: op.ret, isReturn: true, op: i });
    });
    // Calls before returns at equal times: touching intervals count as concurrent,
    // so clock granularity can never manufacture a violation.
    events.sort((a, b) =>
      a.time - b.time || Number(a.isReturn) - Number(b.isReturn) || a.op - b.op
    );
    const size = events.length + 1;
    this.next = new Int32Array(size);
    this.prev = new Int32Array(size);
    this.op = new Int32Array(size).fill(-1);
    this.match = new Int32Array(size).fill(-2);
    const callEntry = new Int32Array(ops.length);
    events.forEach((event, i) => {
      const entry = i + 1;
      this.op[entry] = event.op;
      if (event.isReturn) this.match[callEntry[event.op] ?? 0] = entry;
      else {
        callEntry[event.op] = entry;
        this.match[entry] = -1;
      }
    });
    for (let entry = 0; entry < size; entry++) {
      this.next[entry] = entry + 1 < size ? entry + 1 : -1;
      this.prev[entry] = entry - 1;
    }
  }

  isCall(entry: number): boolean {
    return this.match[entry] !== -2;
  }

  /** Unlinks a call entry and its return entry. */
  lift(entry: number): void {
    this.#unlink(entry);
    const ret = this.match[entry] ?? -1;
    if (ret >= 0) this.#unlink(ret);
  }

  /** Relinks what {@link lift} removed; lifts must be undone in reverse order. */
  unlift(entry: number): void {
    const ret = this.match[entry] ?? -1;
    if (ret >= 0) this.#relink(ret);
    this.#relink(entry);
  }

  #unlink(entry: number): void {
    const prev = this.prev[entry] ?? -1;
    const next = this.next[entry] ?? -1;
    this.next[prev] = next;
    if (next >= 0) this.prev[next] = prev;
  }

  #relink(entry: number): void {
    const prev = this.prev[entry] ?? -1;
    const next = this.next[entry] ?? -1;
    this.next[prev] = entry;
    if (next >= 0) this.prev[next] = entry;
  }
}

/**
 * The set of linearized operations, with a Zobrist hash kept up to date on every
 * toggle, so hashing a configuration costs nothing.
 *
 * Returned ("known") operations take bits 0..K-1 in call order; unknown-outcome ones
 * take the words after. Only a window of concurrent operations is ever partly
 * linearized, so the known section is "all ones below word `lo`, all zeros above word
 * `hi`", and a cache key stores just words lo..hi, not the whole bitset.
 */
class Bitset {
  readonly words: Uint32Array;
  /**
   * Hash of the known section only: configurations that differ just in unknown-outcome
   * operations must meet in one cache bucket to be compared.
   */
  hashKnown = 0;
  readonly #keys: Uint32Array;
  readonly #knownWords: number;
  /** Every known word below `#lo` is full (a hint; {@link Bitset.normalize} makes it exact). */
  #lo = 0;
  /** Every known word above `#hi` is empty (a hint, likewise). */
  #hi = -1;

  constructor(knownBits: number, unknownBits: number, seed: number) {
    this.#knownWords = Math.ceil(knownBits / 32);
    this.words = new Uint32Array(this.#knownWords + Math.ceil(unknownBits / 32));
    this.#keys = new Uint32Array(this.#knownWords * 32);
    let x = seed >>> 0 || 1;
    for (let i = 0; i < this.#keys.length; i++) {
      // xorshift32: fixed per-bit random keys, deterministic across runs.
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.#keys[i] = x >>> 0;
    }
  }

  /** The bit of the `j`th unknown-outcome operation. */
  unknownBit(j: number): number {
    return this.#knownWords * 32 + j;
  }

  toggle(bit: number): void {
    const word = bit >>> 5;
    this.words[word] = (this.words[word] ?? 0) ^ (1 << (bit & 31));
    if (word < this.#knownWords) {
      this.hashKnown = (this.hashKnown ^ (this.#keys[bit] ?? 0)) >>> 0;
      if (word < this.#lo) this.#lo = word;
      if (word > this.#hi) this.#hi = word;
    }
  }

  has(bit: number): boolean {
    return (((this.words[bit >>> 5] ?? 0) >>> (bit & 31)) & 1) === 1;
  }

  /** Tightens lo/hi to the exact first non-full and last non-empty known words. */
  normalize(): void {
    while (this.#lo < this.#knownWords && this.words[this.#lo] === 0xffffffff) this.#lo++;
    while (this.#hi >= 0 && this.words[this.#hi] === 0) this.#hi--;
  }

  /** A compact copy: [lo, hi + 1, known words lo..hi, unknown words]. Normalize first. */
  snapshot(): Uint32Array {
    const middle = Math.max(0, this.#hi - this.#lo + 1);
    const snap = new Uint32Array(2 + middle + this.words.length - this.#knownWords);
    snap[0] = this.#lo;
    snap[1] = this.#hi + 1;
    if (middle > 0) snap.set(this.words.subarray(this.#lo, this.#hi + 1), 2);
    snap.set(this.words.subarray(this.#knownWords), 2 + middle);
    return snap;
  }

  /**
   * Whether `snap` has the same known section as this set and an unknown section that
   * is a subset of this one's. Normalize first.
   */
  covers(snap: Uint32Array): boolean {
    if (snap[0] !== this.#lo || snap[1] !== this.#hi + 1) return false;
    let at = 2;
    for (let w = this.#lo; w <= this.#hi; w++) if (snap[at++] !== this.words[w]) return false;
    for (let w = this.#knownWords; w < this.words.length; w++) {
      if (((snap[at++] ?? 0) & ~(this.words[w] ?? 0)) !== 0) return false;
    }
    return true;
  }
}

/**
 * Configurations (linearized set, state) from which the search failed. A new
 * configuration is hopeless when a failed one has the same returned operations
 * linearized, the same state, and a subset of its unknown-outcome operations: the
 * failed one had every option the new one has (unknown operations are optional), and
 * more. Exact repeats, Lowe's memoization, are the special case of equal sets.
 */
class FailedConfigs {
  readonly #buckets = new Map<number, { snap: Uint32Array; state: number }[]>();
  readonly #states = new Map<string, number>();
  size = 0;

  /** Whether some failed configuration has every option this one has. */
  covers(bits: Bitset, state: Slots): boolean {
    const stateId = this.#stateId(state);
    const bucket = this.#buckets.get(this.#hash(bits, stateId));
    if (bucket === undefined) return false;
    bits.normalize();
    for (const failed of bucket) {
      if (failed.state === stateId && bits.covers(failed.snap)) return true;
    }
    return false;
  }

  /** Records that the search failed from this configuration. */
  add(bits: Bitset, state: Slots): void {
    const stateId = this.#stateId(state);
    const hash = this.#hash(bits, stateId);
    let bucket = this.#buckets.get(hash);
    if (bucket === undefined) {
      bucket = [];
      this.#buckets.set(hash, bucket);
    }
    bits.normalize();
    bucket.push({ snap: bits.snapshot(), state: stateId });
    this.size++;
  }

  /** Only the known section is hashed, so configurations differing in unknowns meet. */
  #hash(bits: Bitset, stateId: number): number {
    return (bits.hashKnown ^ Math.imul(stateId + 1, 0x9e3779b1)) >>> 0;
  }

  #stateId(state: Slots): number {
    // One key (the common case) needs no serialization beyond telling null apart.
    const only = state.length === 1 ? state[0] ?? null : undefined;
    if (only === null) return 0;
    const name = only !== undefined ? `=${only}` : JSON.stringify(state);
    let id = this.#states.get(name);
    if (id === undefined) {
      id = this.#states.size + 1;
      this.#states.set(name, id);
    }
    return id;
  }
}

/**
 * Unknown-outcome operations that cannot change the state in any reachable state, so
 * the search leaves them out: gets, transactions without a write in either branch, and
 * cas ops expecting a value no operation on the group ever writes (the state only ever
 * holds written values or null).
 */
function inertUnknowns(ops: readonly Operation[]): Set<Operation> {
  const written = new Set<string>();
  for (const op of ops) {
    if (op.input.op === "put" || op.input.op === "cas") written.add(op.input.value);
    if (op.input.op === "txn") {
      for (const o of [...op.input.success, ...op.input.failure]) {
        if (o.op === "put") written.add(o.value);
      }
    }
  }
  return new Set(ops.filter((op) => {
    if (op.ret !== null) return false;
    if (op.input.op === "get") return true;
    if (op.input.op === "txn") {
      return [...op.input.success, ...op.input.failure].every((o) => o.op === "get");
    }
    return op.input.op === "cas" && op.input.expected !== null && !written.has(op.input.expected);
  }));
}

/**
 * Whether a returned operation can never change the state: a get, a failed cas, a
 * delete that found nothing, a transaction whose branch taken only reads. If such an operation may go next and fits the state, it
 * can go next without loss of generality (it changes nothing, and nothing that must
 * precede it is pending), so the search takes it without branching. This collapses
 * the 2^n orders of n concurrent reads that plain Wing–Gong would try.
 */
function isReadOnly(op: Operation): boolean {
  const output = op.output;
  if (output === null) return false;
  switch (op.input.op) {
    case "get":
      return true;
    case "cas":
      return "ok" in output && output.ok === false;
    case "delete":
      return "existed" in output && output.existed === false;
    case "txn": {
      if (!("succeeded" in output)) return false;
      const branch = output.succeeded ? op.input.success : op.input.failure;
      return branch.every((o) => o.op === "get");
    }
    default:
      return false;
  }
}

type Violation = Extract<KeyOutcome, { kind: "violation" }>;

/**
 * The Wing–Gong/Lowe search over one group's operations. Unknown-outcome operations sit
 * in the entry list at their call with no return: they are candidates from then on,
 * tried in time order like any other (eagerly: trying them only when nothing else
 * fits was measured to be far slower on histories where they did take effect).
 */
class KeySearch {
  readonly #ops: Operation[];
  /** The group's keys and each key's slot in the state. */
  readonly #keys: readonly string[];
  readonly #slot: ReadonlyMap<string, number>;
  readonly #bit: Int32Array;
  readonly #readOnly: Uint8Array;
  readonly #list: EntryList;
  readonly #bits: Bitset;
  readonly #failed = new FailedConfigs();
  /** Linearized operations, in order; `forced` marks moves that had no alternative. */
  readonly #stack: { entry: number; state: Slots; forced: boolean }[] = [];
  #state: Slots;
  #pendingReturns: number;
  #best: Violation | null = null;
  /** Values some operation compares the state with; any other value acts as UNOBSERVED. */
  readonly #observed: Set<string>;
  /** For an unknown-outcome op, the next one (by call) with the same effect, else -1. */
  readonly #laterTwin: Int32Array;

  constructor(keys: readonly string[], ops: readonly Operation[]) {
    this.#keys = keys;
    this.#slot = new Map(keys.map((key, i) => [key, i]));
    this.#state = keys.map(() => null);
    const known = ops.filter((op) => op.ret !== null);
    const inert = inertUnknowns(ops);
    const unknown = ops.filter((op) => op.ret === null && !inert.has(op));
    this.#ops = [...known, ...unknown];
    this.#pendingReturns = known.length;
    this.#bits = new Bitset(known.length, unknown.length, ops.length * 2654435761);
    this.#bit = Int32Array.from(
      this.#ops,
      (_, i) => i < known.length ? i : this.#bits.unknownBit(i - known.length),
    );
    this.#readOnly = Uint8Array.from(this.#ops, (op) => Number(isReadOnly(op)));
    this.#list = new EntryList(this.#ops);
    this.#observed = observedValues(this.#ops);
    this.#laterTwin = this.#twins(known.length);
  }

  /** Links unknown-outcome ops (already in call order) to their next same-effect twin. */
  #twins(firstUnknown: number): Int32Array {
    const twins = new Int32Array(this.#ops.length).fill(-1);
    const last = new Map<string, number>();
    for (let i = this.#ops.length - 1; i >= firstUnknown; i--) {
      const op = this.#ops[i];
      assert(op !== undefined);
      const effect = this.#effect(op.input);
      twins[i] = last.get(effect) ?? -1;
      last.set(effect, i);
    }
    return twins;
  }

  /** What an unknown-outcome op does to any state, up to unobserved values. */
  #effect(input: Operation["input"]): string {
    switch (input.op) {
      case "get":
        return `get ${input.key}`;
      case "put":
        return JSON.stringify(["put", input.key, this.#abstractValue(input.value)]);
      case "delete":
        return `delete ${input.key}`;
      case "cas":
        return JSON.stringify(["cas", input.key, input.expected, this.#abstractValue(input.value)]);
      case "txn":
        // Transactions are rarely twins; only identical ones count as such.
        return JSON.stringify(input);
    }
  }

  /**
   * No operation can tell two values apart that none of them compares with, so they
   * collapse into one state and the cache sees configurations equal that are equal.
   */
  #abstractValue(value: KvState): KvState {
    return value === null || this.#observed.has(value) ? value : UNOBSERVED;
  }

  #abstract(state: Slots): Slots {
    if (state.every((v) => v === this.#abstractValue(v))) return state;
    return state.map((v) => this.#abstractValue(v));
  }

  /**
   * Symmetry: of two pending unknown-outcome ops with the same effect, both candidates
   * now, taking the later-called one is never worse (the earlier one stays usable
   * wherever the later one could have been used). So the earlier one is skipped.
   */
  #hasLaterTwin(entry: number, index: number): boolean {
    let twin = this.#laterTwin[index] ?? -1;
    while (twin >= 0 && this.#bits.has(this.#bit[twin] ?? -1)) twin = this.#laterTwin[twin] ?? -1;
    const call = this.#ops[twin]?.call;
    if (call === undefined) return false;
    let at = entry;
    while (at >= 0 && this.#list.isCall(at)) at = this.#list.next[at] ?? -1;
    const frontier = this.#ops[this.#list.op[at] ?? -1]?.ret ?? Infinity;
    return call <= frontier;
  }

  run(deadline: number): KeyOutcome {
    let entry = this.#afterLinearizing();
    for (let steps = 1; this.#pendingReturns > 0; steps++) {
      if (steps % DEADLINE_CHECK_STEPS === 0 && performance.now() > deadline) {
        return { kind: "undecided", reason: "timeout" };
      }
      if (this.#failed.size > MAX_CACHE_ENTRIES) return { kind: "undecided", reason: "memory" };
      // A returned operation is still pending, so its return entry lies ahead.
      assert(entry >= 0, "entry list ended with a return still pending");
      if (!this.#list.isCall(entry)) {
        this.#recordDeadEnd(entry);
        entry = this.#backtrack();
      } else if (this.#tryLinearize(entry, false)) {
        entry = this.#afterLinearizing();
      } else {
        entry = this.#list.next[entry] ?? -1;
      }
      if (entry === BACKTRACKED_PAST_ROOT) return this.#failure();
    }
    return { kind: "linearizable" };
  }

  /** Linearizes the call entry `entry` if the model accepts it and the result is new. */
  #tryLinearize(entry: number, forced: boolean): boolean {
    const index = this.#list.op[entry] ?? -1;
    const op = this.#ops[index];
    assert(op !== undefined);
    const result = stepSlots(this.#slot, this.#state, op.input, op.output);
    if (!result.ok) return false;
    if (op.ret === null && this.#hasLaterTwin(entry, index)) return false;
    const newState = this.#abstract(result.newState);
    const bit = this.#bit[index] ?? -1;
    this.#bits.toggle(bit);
    if (this.#failed.covers(this.#bits, newState)) {
      this.#bits.toggle(bit);
      return false;
    }
    this.#stack.push({ entry, state: this.#state, forced });
    this.#state = newState;
    if (op.ret !== null) this.#pendingReturns--;
    this.#list.lift(entry);
    return true;
  }

  /**
   * At a fresh configuration: takes read-only operations that fit without branching,
   * then returns where the scan of candidates starts.
   */
  #afterLinearizing(): number {
    for (;;) {
      const forced = this.#fittingReadOnly();
      if (forced < 0) return this.#list.next[0] ?? -1;
      // Already explored from here with this op taken: this configuration is a dead end.
      if (!this.#tryLinearize(forced, true)) return this.#backtrack();
    }
  }

  /** The first candidate call entry that is read-only and fits the state, or -1. */
  #fittingReadOnly(): number {
    for (let entry = this.#list.next[0] ?? -1; entry >= 0; entry = this.#list.next[entry] ?? -1) {
      if (!this.#list.isCall(entry)) return -1;
      const index = this.#list.op[entry] ?? -1;
      const op = this.#ops[index];
      if (op === undefined || this.#readOnly[index] !== 1) continue;
      if (stepSlots(this.#slot, this.#state, op.input, op.output).ok) return entry;
    }
    return -1;
  }

  /** Undoes the last choice that had alternatives; returns the next candidate to try. */
  #backtrack(): number {
    for (;;) {
      const top = this.#stack.pop();
      if (top === undefined) return BACKTRACKED_PAST_ROOT;
      this.#failed.add(this.#bits, this.#state);
      const index = this.#list.op[top.entry] ?? -1;
      const op = this.#ops[index];
      assert(op !== undefined);
      this.#state = top.state;
      this.#bits.toggle(this.#bit[index] ?? -1);
      if (op.ret !== null) this.#pendingReturns++;
      this.#list.unlift(top.entry);
      if (!top.forced) return this.#list.next[top.entry] ?? -1;
    }
  }

  /** The deepest dead end, its state replayed concretely (the search's may be UNOBSERVED). */
  #failure(): Violation {
    assert(this.#best !== null, "a failed search passed a dead end");
    let state: Slots = this.#keys.map(() => null);
    for (const op of this.#best.longestPrefix) {
      const result = stepSlots(this.#slot, state, op.input, op.output);
      assert(result.ok, "the longest prefix must replay");
      state = result.newState;
    }
    return { ...this.#best, stateAfterPrefix: state };
  }

  /** Remembers the deepest dead end: the longest prefix and the op it could not extend with. */
  #recordDeadEnd(returnEntry: number): void {
    if (this.#best !== null && this.#stack.length <= this.#best.longestPrefix.length) return;
    const blocking = this.#ops[this.#list.op[returnEntry] ?? -1];
    assert(blocking !== undefined);
    const longestPrefix = this.#stack.map((s) => this.#ops[this.#list.op[s.entry] ?? -1])
      .filter(isOperation);
    this.#best = { kind: "violation", longestPrefix, blocking, stateAfterPrefix: this.#state };
  }
}

/**
 * The state standing for every value that no operation of the key compares with
 * (never read, never a cas's expected value). Not a value any client can write.
 */
const UNOBSERVED = "\u0000(a value no operation observed)";

/** The values the group's operations compare the state with. */
function observedValues(ops: readonly Operation[]): Set<string> {
  const observed = new Set<string>();
  const outputs = (op: Operation) =>
    op.output !== null && "results" in op.output ? op.output.results : [op.output];
  for (const op of ops) {
    if (op.input.op === "cas" && op.input.expected !== null) observed.add(op.input.expected);
    if (op.input.op === "txn") {
      for (const c of op.input.compare) if ("value" in c) observed.add(c.value);
    }
    for (const output of outputs(op)) {
      if (output !== null && "value" in output && output.value !== null) observed.add(output.value);
    }
  }
  assert(!observed.has(UNOBSERVED), "a history observed the checker's placeholder value");
  return observed;
}

/** What {@link KeySearch} returns as the next entry once the search has nothing left to undo. */
const BACKTRACKED_PAST_ROOT = -3;

function isOperation(op: Operation | undefined): op is Operation {
  return op !== undefined;
}

function explain(failure: Omit<CheckFailure, "ok" | "explanation">): string {
  const { key, keys, ops, longestPrefix, blocking, stateAfterPrefix } = failure;
  const slot = new Map(keys.map((k, i) => [k, i]));
  const shown = showSlots(keys, stateAfterPrefix);
  const lines = [
    `${keys.length === 1 ? "key" : "keys"} ${JSON.stringify(key)}: no linearization of ` +
    `${keys.length === 1 ? "its" : "their"} ${ops.length} operations exists.`,
    `The longest linearizable prefix found orders ${longestPrefix.length} of them and leaves ` +
    `${keys.length === 1 ? "the key" : "the keys"} at ${shown}.`,
  ];
  const result = stepSlots(slot, stateAfterPrefix, blocking.input, blocking.output);
  const what = `${
    describeOp(blocking)
  }, called at ${blocking.call} and answered at ${blocking.ret}`;
  if (!result.ok) {
    const input = blocking.input;
    const read = (k: string) => stateAfterPrefix[slot.get(k) ?? -1] ?? null;
    const expected = input.op === "txn"
      ? applyTxn(read, input).output
      : applyOp(read(input.key), input).output;
    lines.push(
      `Next, ${what}, must take effect before it returned, but with ` +
        `${keys.length === 1 ? "the key" : "the keys"} at ${shown} it cannot answer ${
          describeOutput(input, blocking.output)
        } (it would ${input.op === "get" ? "read" : "answer"} ${describeOutput(input, expected)}).`,
    );
  } else {
    lines.push(
      `Next, ${what}, must take effect before it returned; it fits here, but every ` +
        `continuation from there was already explored and failed.`,
    );
  }
  return lines.join("\n");
}

function describeOp(op: Operation): string {
  return `op #${op.id} (client ${op.client}, ${describeInput(op.input)} → ` +
    `${describeOutput(op.input, op.output)})`;
}

/**
 * Renders a verdict for humans. For a failure: the explanation, then the failing key's
 * operations as a timeline (client, call→ret, operation, output, and a bar showing the
 * interval), each marked with its position in the longest linearizable prefix or `✗`
 * for the operation that could not be placed.
 */
export function formatFailure(result: CheckResult): string {
  if (result.ok === true) {
    return `linearizable: ${result.ops} operations on ${result.keys} keys ` +
      `(${result.elapsedMs.toFixed(0)} ms)`;
  }
  if (result.ok === "unknown") {
    return `undecided: ran out of ${result.reason === "timeout" ? "time" : "memory"} ` +
      `on key ${JSON.stringify(result.key)} after ${result.elapsedMs.toFixed(0)} ms`;
  }
  const position = new Map(result.longestPrefix.map((op, i) => [op.id, i + 1]));
  const shown = window(result.ops, result.blocking);
  const lines = ["NOT linearizable", result.explanation, "", timelineHeader()];
  if (shown.before > 0) lines.push(`  … ${shown.before} earlier operations`);
  const span = timeSpan(shown.ops);
  for (const op of shown.ops) {
    const mark = op.id === result.blocking.id
      ? "✗"
      : position.has(op.id)
      ? `L${position.get(op.id)}`
      : "";
    lines.push(timelineRow(op, mark, span));
  }
  if (shown.after > 0) lines.push(`  … ${shown.after} later operations`);
  lines.push(
    "",
    `L<n>: position in the longest linearizable prefix (${result.longestPrefix.length} ops); ` +
      `✗: the operation that could not be placed after it; ret ∞: outcome unknown.`,
  );
  return lines.join("\n");
}

/** The operations to print: all of them, or those around the blocking one. */
function window(ops: readonly Operation[], blocking: Operation) {
  if (ops.length <= MAX_FORMAT_OPS) return { ops, before: 0, after: 0 };
  const at = Math.max(0, ops.findIndex((op) => op.id === blocking.id));
  const start = Math.max(0, Math.min(at - MAX_FORMAT_OPS / 2, ops.length - MAX_FORMAT_OPS));
  const end = start + MAX_FORMAT_OPS;
  return { ops: ops.slice(start, end), before: start, after: ops.length - end };
}

const BAR_WIDTH = 40;

function timeSpan(ops: readonly Operation[]): { from: number; to: number } {
  let from = Infinity;
  let to = -Infinity;
  for (const op of ops) {
    from = Math.min(from, op.call);
    to = Math.max(to, op.ret ?? op.call);
  }
  return { from, to: Math.max(to, from + 1) };
}

function timelineHeader(): string {
  return `${"mark".padEnd(5)} ${"op".padEnd(6)} ${"client".padEnd(6)} ${"call → ret".padEnd(23)} ` +
    `${"operation → output".padEnd(34)} interval`;
}

function timelineRow(op: Operation, mark: string, span: { from: number; to: number }): string {
  const scale = (t: number) =>
    Math.round(((t - span.from) / (span.to - span.from)) * (BAR_WIDTH - 1));
  const start = scale(op.call);
  const end = op.ret === null ? BAR_WIDTH - 1 : scale(op.ret);
  const bar = " ".repeat(start) + (op.ret === null ? "[" + "-".repeat(end - start) + ">" : "[" +
    "=".repeat(Math.max(0, end - start - 1)) + (end > start ? "]" : ""));
  const times = `${op.call} → ${op.ret ?? "∞"}`;
  const what = `${describeInput(op.input)} → ${describeOutput(op.input, op.output)}`;
  return `${mark.padEnd(5)} #${String(op.id).padEnd(5)} ${String(op.client).padEnd(6)} ` +
    `${times.padEnd(23)} ${what.padEnd(34)} |${bar.padEnd(BAR_WIDTH)}|`;
}
