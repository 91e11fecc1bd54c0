/**
 * The history format a chaos run records and the linearizability checker reads: one
 * {@link Operation} per client request, with the time it was sent, the time its answer
 * arrived (or `null` when the outcome is unknown) and what it said.
 *
 * Also the tools around that format: a {@link HistoryRecorder} for harnesses, a
 * {@link HistoryBuilder} for hand-written test histories, JSON-lines (de)serialization
 * for saving a history as an artifact, and {@link randomHistory}, which produces
 * histories from a real sequential execution so the checker can be tested at scale.
 *
 * @module
 */

import assert from "node:assert/strict";
import { applyOp, applyTxn } from "./kv_model.ts";

/** A request on one key. `cas.expected` compares values; `null` means "must not exist". */
export type SingleKeyInput =
  | { op: "get"; key: string }
  | { op: "put"; key: string; value: string }
  | { op: "delete"; key: string }
  | { op: "cas"; key: string; expected: string | null; value: string };

/**
 * One comparison of a transaction, on values (the model knows no revisions; with one
 * unique value per write a modRevision compare is a value compare, see clients.ts):
 * `value` holds when the key exists with that value, `otherValue` when it exists with
 * another one (a missing key compares false for both, as the server's value target
 * does), `absent` when the key does not exist (version 0), `present` when it does.
 */
export type TxnCompare =
  | { key: string; is: "value" | "otherValue"; value: string }
  | { key: string; is: "absent" | "present" };

/** One operation of a transaction branch. */
export type TxnOp =
  | { op: "get"; key: string }
  | { op: "put"; key: string; value: string }
  | { op: "delete"; key: string };

/**
 * A transaction on several keys, applied at one point: when every compare holds the
 * `success` operations run, else the `failure` ones, in order.
 */
export interface TxnInput {
  op: "txn";
  compare: TxnCompare[];
  success: TxnOp[];
  failure: TxnOp[];
}

/** A request to the KV store: on one key, or a transaction on several. */
export type KvInput = SingleKeyInput | TxnInput;

/** What a get answered: the value, or `null` when the key did not exist. */
export interface GetOutput {
  value: string | null;
}
/** What a put answered. */
export interface PutOutput {
  ok: true;
}
/** What a delete answered; `existed` is optional because not every API reports it. */
export interface DeleteOutput {
  ok: true;
  existed?: boolean;
}
/** What a compare-and-set answered: whether the comparison held and the write happened. */
export interface CasOutput {
  ok: boolean;
}

/** The result of one transaction operation: as the same single-key request would answer. */
export type TxnResult = GetOutput | PutOutput | DeleteOutput;

/** What a transaction answered: the branch taken and one result per operation of it. */
export interface TxnOutput {
  succeeded: boolean;
  results: TxnResult[];
}

/** The answer to a {@link KvInput}; its shape follows `input.op`. */
export type KvOutput = GetOutput | PutOutput | DeleteOutput | CasOutput | TxnOutput;

/** The keys an operation touches (a transaction: every key it compares or operates on). */
export function keysOf(input: KvInput): string[] {
  if (input.op !== "txn") return [input.key];
  const keys = new Set<string>();
  for (const c of input.compare) keys.add(c.key);
  for (const o of input.success) keys.add(o.key);
  for (const o of input.failure) keys.add(o.key);
  return [...keys];
}

/** One client request as observed from outside the cluster. */
export interface Operation {
  /** Unique within a history. */
  id: number;
  /** Which client issued it; a client has at most one request in flight. */
  client: number;
  /** When the request was sent (monotonic clock, ms or ns: one unit per history). */
  call: number;
  /**
   * When the answer arrived, or `null` when the outcome is unknown (timeout, 503/504,
   * dropped connection): the operation may have taken effect at any time after `call`,
   * or never.
   */
  ret: number | null;
  input: KvInput;
  /** The answer; `null` exactly when `ret` is `null`. */
  output: KvOutput | null;
}

/** Asserts that a history is well formed; a malformed history is a harness bug. */
export function validateHistory(history: readonly Operation[]): void {
  const ids = new Set<number>();
  for (const op of history) {
    assert(!ids.has(op.id), `duplicate operation id ${op.id}`);
    ids.add(op.id);
    assert(Number.isFinite(op.call), `operation ${op.id}: call time must be finite`);
    if (op.ret === null) {
      assert(op.output === null, `operation ${op.id}: unknown outcome must have no output`);
      continue;
    }
    assert(Number.isFinite(op.ret), `operation ${op.id}: ret must be finite or null`);
    assert(op.ret >= op.call, `operation ${op.id}: returned before it was called`);
    assert(op.output !== null, `operation ${op.id}: a returned operation needs an output`);
    assert(outputFits(op.input, op.output), `operation ${op.id}: output does not fit input`);
  }
}

function outputFits(input: KvInput, output: KvOutput): boolean {
  switch (input.op) {
    case "txn": {
      if (!("succeeded" in output) || !Array.isArray(output.results)) return false;
      const branch = output.succeeded ? input.success : input.failure;
      return branch.length === output.results.length &&
        branch.every((o, i) => outputFits(o, output.results[i] as TxnResult));
    }
    case "get":
      return "value" in output && (output.value === null || typeof output.value === "string");
    case "put":
      return "ok" in output && output.ok === true;
    case "delete":
      return "ok" in output && output.ok === true;
    case "cas":
      return "ok" in output && typeof output.ok === "boolean";
  }
}

/** Serializes a history as JSON lines, one operation per line, in id order. */
export function toJsonLines(history: readonly Operation[]): string {
  const sorted = [...history].sort((a, b) => a.id - b.id);
  return sorted.map((op) => JSON.stringify(op) + "\n").join("");
}

/** Parses {@link toJsonLines} output back into a validated history. Blank lines are skipped. */
export function fromJsonLines(text: string): Operation[] {
  const history: Operation[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    history.push(JSON.parse(line) as Operation);
  }
  validateHistory(history);
  return history;
}

/** Writes a history to `path` as JSON lines (an artifact to attach to a failed chaos run). */
export async function saveHistory(path: string, history: readonly Operation[]): Promise<void> {
  await Deno.writeTextFile(path, toJsonLines(history));
}

/** Reads a history saved by {@link saveHistory}. */
export async function loadHistory(path: string): Promise<Operation[]> {
  return fromJsonLines(await Deno.readTextFile(path));
}

/**
 * Records a live history for a chaos harness: `invoke` when a request is sent, then
 * exactly one of `complete` (an answer arrived) or `unknown` (timeout, 503/504, broken
 * connection). Requests still open when {@link HistoryRecorder.history} is called count
 * as unknown.
 *
 * @example
 * ```ts
 * const rec = new HistoryRecorder();
 * const id = rec.invoke(1, { op: "put", key: "k", value: "v" });
 * rec.complete(id, { ok: true });
 * ```
 */
export class HistoryRecorder {
  readonly #ops = new Map<number, Operation>();
  readonly #now: () => number;
  #nextId = 0;

  /** `now` must be monotonic; the default is `performance.now()` in ms. */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** Records that `client` sent `input`; returns the operation id. */
  invoke(client: number, input: KvInput): number {
    const id = this.#nextId++;
    this.#ops.set(id, { id, client, call: this.#now(), ret: null, input, output: null });
    return id;
  }

  /** Records the answer to operation `id`. */
  complete(id: number, output: KvOutput): void {
    const op = this.#open(id);
    op.ret = this.#now();
    op.output = output;
    assert(outputFits(op.input, output), `operation ${id}: output does not fit input`);
  }

  /** Records that operation `id` ended without a known outcome. */
  unknown(id: number): void {
    this.#open(id);
  }

  /** A snapshot of the history so far, in invocation order. */
  history(): Operation[] {
    return [...this.#ops.values()].map((op) => ({ ...op }));
  }

  #open(id: number): Operation {
    const op = this.#ops.get(id);
    assert(op !== undefined, `unknown operation id ${id}`);
    assert(op.ret === null && op.output === null, `operation ${id} already completed`);
    return op;
  }
}

/** The interval of a hand-written operation: `[call, ret]`, `ret` null for unknown. */
export type Span = readonly [call: number, ret: number | null];

/**
 * Builds histories by hand for tests, one call per operation. When a span's `ret` is
 * null the operation's outcome is unknown and any output argument is ignored.
 *
 * @example
 * ```ts
 * const h = new HistoryBuilder()
 *   .put(1, "k", "a", [0, 10])
 *   .get(2, "k", [20, 30], "a")
 *   .build();
 * ```
 */
export class HistoryBuilder {
  readonly #ops: Operation[] = [];

  /** Adds any operation. */
  op(client: number, span: Span, input: KvInput, output: KvOutput | null): this {
    const [call, ret] = span;
    this.#ops.push({
      id: this.#ops.length,
      client,
      call,
      ret,
      input,
      output: ret === null ? null : output,
    });
    return this;
  }

  /** A get that answered `value` (`null`: not found). */
  get(client: number, key: string, span: Span, value: string | null = null): this {
    return this.op(client, span, { op: "get", key }, { value });
  }

  /** A put of `value`. */
  put(client: number, key: string, value: string, span: Span): this {
    return this.op(client, span, { op: "put", key, value }, { ok: true });
  }

  /** A delete; `existed` is what the server reported, if anything. */
  delete(client: number, key: string, span: Span, existed?: boolean): this {
    const output: DeleteOutput = existed === undefined ? { ok: true } : { ok: true, existed };
    return this.op(client, span, { op: "delete", key }, output);
  }

  /** A compare-and-set from `expected` to `value` that answered `ok`. */
  cas(
    client: number,
    key: string,
    expected: string | null,
    value: string,
    span: Span,
    ok = false,
  ): this {
    return this.op(client, span, { op: "cas", key, expected, value }, { ok });
  }

  /** A transaction that answered `output`. */
  txn(
    client: number,
    span: Span,
    txn: Omit<TxnInput, "op">,
    output: TxnOutput,
  ): this {
    return this.op(client, span, { op: "txn", ...txn }, output);
  }

  /** The history built so far (validated). */
  build(): Operation[] {
    const history = this.#ops.map((op) => ({ ...op }));
    validateHistory(history);
    return history;
  }
}

/** Shape of a {@link randomHistory}. */
export interface RandomHistoryOptions {
  seed: number;
  clients: number;
  opsPerClient: number;
  keys: number;
  /** Probability that an operation's outcome is lost (ret null); default 0.05. */
  unknownRate?: number;
  /** Longest time between a call and its linearization point, and from there to ret; default 20. */
  maxLatency?: number;
  /**
   * How many distinct values writes draw from; default 6 (collisions make cas and
   * reads interesting). `"unique"` gives every write its own value, as a chaos
   * harness would, with cas expecting a recently written one.
   */
  values?: number | "unique";
  /**
   * Share of operations that are transactions on two keys (compare one or both, put or
   * delete both, or read both); default 0.
   */
  txnRate?: number;
}

/**
 * A history produced by a real sequential execution: every operation gets a call time,
 * a linearization point inside its interval and a return time, and the outputs come
 * from applying the operations to a plain map in linearization-point order. Such a
 * history is linearizable by construction. Unknown-outcome operations take effect
 * (at their point) or not, chosen at random.
 */
export function randomHistory(options: RandomHistoryOptions): Operation[] {
  const rand = mulberry32(options.seed);
  const maxLatency = options.maxLatency ?? 20;
  const unknownRate = options.unknownRate ?? 0.05;
  const planned: { op: Operation; point: number; applies: boolean }[] = [];
  for (let client = 0; client < options.clients; client++) {
    let time = Math.floor(rand() * maxLatency);
    for (let i = 0; i < options.opsPerClient; i++) {
      const call = time;
      const point = call + Math.floor(rand() * maxLatency);
      const ret = point + Math.floor(rand() * maxLatency);
      const lost = rand() < unknownRate;
      const key = `k${Math.floor(rand() * options.keys)}`;
      const txn = (options.txnRate ?? 0) > 0 && rand() < (options.txnRate ?? 0);
      const input = txn
        ? randomTxn(rand, key, `k${Math.floor(rand() * options.keys)}`, planned.length)
        : randomInput(rand, key, planned.length, options.values ?? 6);
      const op: Operation = {
        id: planned.length,
        client,
        call,
        ret: lost ? null : ret,
        input,
        output: null,
      };
      planned.push({ op, point, applies: !lost || rand() < 0.5 });
      // A client whose request timed out moves on; the lost request stays in flight.
      time = ret + 1 + Math.floor(rand() * maxLatency);
    }
  }
  // Distinct points keep the execution order unambiguous.
  planned.sort((a, b) => a.point - b.point || a.op.id - b.op.id);
  const state = new Map<string, string | null>();
  for (const { op, applies } of planned) {
    if (!applies) continue;
    const input = op.input;
    if (input.op === "txn") {
      const result = applyTxn((key) => state.get(key) ?? null, input);
      for (const [key, value] of result.writes) state.set(key, value);
      if (op.ret !== null) op.output = result.output;
      continue;
    }
    const result = applyOp(state.get(input.key) ?? null, input);
    state.set(input.key, result.newState);
    if (op.ret !== null) op.output = result.output;
  }
  return planned.map((p) => p.op).sort((a, b) => a.id - b.id);
}

function randomInput(
  rand: () => number,
  key: string,
  id: number,
  values: number | "unique",
): KvInput {
  // Unique values: cas expects one of the last few ids' values, which may have been written.
  const pick = () =>
    values === "unique"
      ? `v${Math.max(0, id - Math.floor(rand() * 40))}`
      : `v${Math.floor(rand() * values)}`;
  const value = values === "unique" ? `v${id}` : pick();
  const roll = rand();
  if (roll < 0.4) return { op: "get", key };
  if (roll < 0.7) return { op: "put", key, value };
  if (roll < 0.8) return { op: "delete", key };
  const expected = rand() < 0.2 ? null : pick();
  return { op: "cas", key, expected, value };
}

/**
 * A transaction on keys `a` and `b` (the same key twice gives a one-key transaction):
 * a compare-and-swap of both, a create of both, or a snapshot read of both.
 */
function randomTxn(rand: () => number, a: string, b: string, id: number): TxnInput {
  const keys = a === b ? [a] : [a, b];
  const roll = rand();
  if (roll < 0.3) {
    return {
      op: "txn",
      compare: [],
      success: keys.map((key) => ({ op: "get", key })),
      failure: [],
    };
  }
  const compare: TxnCompare[] = keys.map((key, i) => {
    const r = rand();
    if (r < 0.3) return { key, is: "absent" };
    if (r < 0.4) return { key, is: "present" };
    const value = `${i === 0 ? "v" : "w"}${Math.max(0, id - Math.floor(rand() * 40))}`;
    return { key, is: r < 0.9 ? "value" : "otherValue", value };
  });
  const success: TxnOp[] = keys.map((key, i) =>
    rand() < 0.2 ? { op: "delete", key } : { op: "put", key, value: i === 0 ? `v${id}` : `w${id}` }
  );
  return { op: "txn", compare, success, failure: keys.map((key) => ({ op: "get", key })) };
}

/** A small seeded PRNG (mulberry32): deterministic histories from a printed seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
