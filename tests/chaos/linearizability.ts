/**
 * A linearizability checker for KV histories, in the style of Porcupine: the
 * Wing–Gong algorithm with Lowe's memoization, run per key (P-compositionality: every
 * operation touches one key, so the history is linearizable iff each key's is).
 *
 * Per key, calls and returns become one time-ordered list of entries. The search walks
 * it: at a call it tries to linearize that operation now (the model must accept its
 * output); at a return of an operation not yet linearized it backtracks. Each reached
 * (set of linearized operations, state) pair is remembered, so no configuration is
 * explored twice.
 *
 * Unknown outcomes (`ret === null`) have no return entry: the search may linearize the
 * operation anywhere after its call, or never, and success only requires every
 * *returned* operation to be linearized. This is sound: "never" is the only extra
 * freedom, and an operation that never took effect is indistinguishable from one that
 * took effect after everything else.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Operation, validateHistory } from "./history.ts";
import {
  describeInput,
  describeOutput,
  INITIAL_STATE,
  type KvState,
  show,
  step,
} from "./kv_model.ts";

/** Default time budget for a whole history. */
export const DEFAULT_TIMEOUT_MS = 60_000;
/** Memoized configurations kept per key before giving up (each holds a bitset copy). */
export const MAX_CACHE_ENTRIES = 5_000_000;
/** Search steps between two looks at the clock. */
const DEADLINE_CHECK_STEPS = 4096;
/** Operations {@link formatFailure} prints at most; the rest are summarized. */
export const MAX_FORMAT_OPS = 160;

/** Options of {@link checkHistory}. */
export interface CheckOptions {
  /** Give up (result `ok: "unknown"`) after this long; default {@link DEFAULT_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/** Every key's history is linearizable. */
export interface CheckSuccess {
  ok: true;
  keys: number;
  ops: number;
  elapsedMs: number;
}

/** Some key's history is not linearizable: the smallest such key is reported. */
export interface CheckFailure {
  ok: false;
  key: string;
  /** That key's whole history, in call order. */
  ops: Operation[];
  /** The longest linearizable prefix found, in linearization order. */
  longestPrefix: Operation[];
  /** The operation that could not be placed after {@link CheckFailure.longestPrefix}. */
  blocking: Operation;
  /** The key's value after {@link CheckFailure.longestPrefix}. */
  stateAfterPrefix: KvState;
  /** A readable account of why. */
  explanation: string;
  elapsedMs: number;
}

/** The checker ran out of time (or memory) before deciding. */
export interface CheckUnknown {
  ok: "unknown";
  reason: "timeout" | "memory";
  /** The key being searched when the budget ran out. */
  key: string;
  elapsedMs: number;
}

/** The verdict of {@link checkHistory}. */
export type CheckResult = CheckSuccess | CheckFailure | CheckUnknown;

/**
 * Checks a history for linearizability against the KV model. Keys are checked smallest
 * history first, so a failure is reported on the smallest failing key; a definite
 * failure on any key wins over running out of budget on another.
 */
export function checkHistory(
  history: readonly Operation[],
  options: CheckOptions = {},
): CheckResult {
  validateHistory(history);
  const started = performance.now();
  const deadline = started + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const byKey = partitionByKey(history);
  const keys = [...byKey.keys()].sort((a, b) => sizeOf(byKey, a) - sizeOf(byKey, b));
  let undecided: { key: string; reason: "timeout" | "memory" } | null = null;
  for (const key of keys) {
    const ops = byKey.get(key) ?? [];
    // Past the deadline each remaining key still gets a short probe
    // (DEADLINE_CHECK_STEPS), enough to catch small definite violations.
    const outcome = searchKey(ops, deadline);
    if (outcome.kind === "linearizable") continue;
    if (outcome.kind === "undecided") {
      undecided ??= { key, reason: outcome.reason };
      continue;
    }
    const { longestPrefix, blocking, stateAfterPrefix } = outcome;
    const elapsedMs = performance.now() - started;
    const failure = { key, ops, longestPrefix, blocking, stateAfterPrefix, elapsedMs };
    return { ok: false, ...failure, explanation: explain(failure) };
  }
  const elapsedMs = performance.now() - started;
  if (undecided !== null) return { ok: "unknown", ...undecided, elapsedMs };
  return { ok: true, keys: keys.length, ops: history.length, elapsedMs };
}

function partitionByKey(history: readonly Operation[]): Map<string, Operation[]> {
  const byKey = new Map<string, Operation[]>();
  for (const op of history) {
    const ops = byKey.get(op.input.key);
    if (ops === undefined) byKey.set(op.input.key, [op]);
    else ops.push(op);
  }
  for (const ops of byKey.values()) ops.sort((a, b) => a.call - b.call || a.id - b.id);
  return byKey;
}

function sizeOf(byKey: Map<string, Operation[]>, key: string): number {
  return byKey.get(key)?.length ?? 0;
}

type KeyOutcome =
  | { kind: "linearizable" }
  | { kind: "undecided"; reason: "timeout" | "memory" }
  | {
    kind: "violation";
    longestPrefix: Operation[];
    blocking: Operation;
    stateAfterPrefix: KvState;
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
 * toggle: hashing a configuration costs nothing, and only cache hits compare words.
 */
class Bitset {
  readonly words: Uint32Array;
  hash = 0;
  readonly #keys: Uint32Array;

  constructor(size: number, seed: number) {
    this.words = new Uint32Array(Math.ceil(size / 32));
    this.#keys = new Uint32Array(size);
    let x = seed >>> 0 || 1;
    for (let i = 0; i < size; i++) {
      // xorshift32: fixed per-operation random keys, deterministic across runs.
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.#keys[i] = x >>> 0;
    }
  }

  toggle(i: number): void {
    const word = i >>> 5;
    this.words[word] = (this.words[word] ?? 0) ^ (1 << (i & 31));
    this.hash = (this.hash ^ (this.#keys[i] ?? 0)) >>> 0;
  }
}

/** Configurations already explored: (linearized set, state). */
class ConfigCache {
  readonly #buckets = new Map<number, { words: Uint32Array; state: number }[]>();
  #states = new Map<string, number>();
  size = 0;

  /** Adds the configuration; false when it was already there. */
  add(bits: Bitset, state: KvState): boolean {
    const stateId = this.#stateId(state);
    const hash = (bits.hash ^ Math.imul(stateId + 1, 0x9e3779b1)) >>> 0;
    let bucket = this.#buckets.get(hash);
    if (bucket === undefined) {
      bucket = [];
      this.#buckets.set(hash, bucket);
    }
    for (const seen of bucket) {
      if (seen.state === stateId && sameWords(seen.words, bits.words)) return false;
    }
    bucket.push({ words: bits.words.slice(), state: stateId });
    this.size++;
    return true;
  }

  #stateId(state: KvState): number {
    if (state === null) return 0;
    let id = this.#states.get(state);
    if (id === undefined) {
      id = this.#states.size + 1;
      this.#states.set(state, id);
    }
    return id;
  }
}

function sameWords(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Returns the operation the search must treat as unobservable (unknown-outcome gets). */
function isInert(op: Operation): boolean {
  return op.ret === null && op.input.op === "get";
}

/** The Wing–Gong/Lowe search over one key's operations (in call order). */
function searchKey(allOps: readonly Operation[], deadline: number): KeyOutcome {
  const ops = allOps.filter((op) => !isInert(op));
  const list = new EntryList(ops);
  const bits = new Bitset(ops.length, ops.length * 2654435761);
  const cache = new ConfigCache();
  const stack: { entry: number; state: KvState }[] = [];
  let best: Extract<KeyOutcome, { kind: "violation" }> | null = null;
  let state: KvState = INITIAL_STATE;
  let pendingReturns = ops.filter((op) => op.ret !== null).length;
  let entry = list.next[0] ?? -1;
  for (let steps = 1; pendingReturns > 0; steps++) {
    if (steps % DEADLINE_CHECK_STEPS === 0 && performance.now() > deadline) {
      return { kind: "undecided", reason: "timeout" };
    }
    if (cache.size > MAX_CACHE_ENTRIES) return { kind: "undecided", reason: "memory" };
    // A returned operation is still pending, so its return entry lies ahead.
    assert(entry >= 0, "entry list ended with a return still pending");
    const opIndex = list.op[entry] ?? -1;
    const op = ops[opIndex];
    assert(op !== undefined);
    if (list.isCall(entry)) {
      const result = step(state, op.input, op.output);
      if (result.ok) {
        bits.toggle(opIndex);
        if (cache.add(bits, result.newState)) {
          stack.push({ entry, state });
          state = result.newState;
          if (op.ret !== null) pendingReturns--;
          list.lift(entry);
          entry = list.next[0] ?? -1;
          continue;
        }
        bits.toggle(opIndex);
      }
      entry = list.next[entry] ?? -1;
      continue;
    }
    // The return of an operation not yet linearized: this path is a dead end.
    if (best === null || stack.length > best.longestPrefix.length) {
      const longestPrefix = stack.map((s) => ops[list.op[s.entry] ?? -1]).filter(isOperation);
      best = { kind: "violation", longestPrefix, blocking: op, stateAfterPrefix: state };
    }
    const top = stack.pop();
    if (top === undefined) return best;
    const undone = ops[list.op[top.entry] ?? -1];
    assert(undone !== undefined);
    state = top.state;
    bits.toggle(list.op[top.entry] ?? -1);
    if (undone.ret !== null) pendingReturns++;
    list.unlift(top.entry);
    entry = list.next[top.entry] ?? -1;
  }
  return { kind: "linearizable" };
}

function isOperation(op: Operation | undefined): op is Operation {
  return op !== undefined;
}

function explain(failure: Omit<CheckFailure, "ok" | "explanation">): string {
  const { key, ops, longestPrefix, blocking, stateAfterPrefix } = failure;
  const lines = [
    `key ${JSON.stringify(key)}: no linearization of its ${ops.length} operations exists.`,
    `The longest linearizable prefix found orders ${longestPrefix.length} of them and leaves ` +
    `the key at ${show(stateAfterPrefix)}.`,
  ];
  const result = step(stateAfterPrefix, blocking.input, blocking.output);
  const what = `${
    describeOp(blocking)
  }, called at ${blocking.call} and answered at ${blocking.ret}`;
  if (!result.ok) {
    const expected = step(stateAfterPrefix, blocking.input, null);
    lines.push(
      `Next, ${what}, must take effect before it returned, but with the key at ` +
        `${show(stateAfterPrefix)} it cannot answer ${
          describeOutput(blocking.input, blocking.output)
        }` +
        (blocking.input.op === "get" ? ` (it would read ${show(expected.newState)}).` : "."),
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
