/**
 * The sequential specification of the KV store, as the linearizability checker needs
 * it: a state and a step function that says whether an operation with a given output
 * is a legal next step and what the state becomes.
 *
 * Single-key operations see one key's state (its value, or `null` when it does not
 * exist). A transaction sees several keys at one point: its compares are evaluated
 * against their values, the branch taken runs in order, and all its writes become
 * visible together. The checker partitions a history into groups of keys that
 * operations connect (a transaction joins its keys into one group) and runs this model
 * per group, on {@link Slots}: one value per key of the group.
 *
 * @module
 */

import type {
  DeleteOutput,
  KvInput,
  KvOutput,
  SingleKeyInput,
  TxnCompare,
  TxnInput,
  TxnOutput,
  TxnResult,
} from "./history.ts";

/** The state of one key: its value, or `null` when it does not exist. */
export type KvState = string | null;

/** The outcome of one model step. */
export interface StepResult {
  /** Whether `output` is what the operation would answer in this state. */
  ok: boolean;
  /** The state after the operation (equal to the old state when `ok` is false). */
  newState: KvState;
}

/** The state of a key nobody has written. */
export const INITIAL_STATE: KvState = null;

/** Applies `input` to `state` sequentially: the answer a correct store gives, and the new state. */
export function applyOp(
  state: KvState,
  input: SingleKeyInput,
): { newState: KvState; output: KvOutput } {
  switch (input.op) {
    case "get":
      return { newState: state, output: { value: state } };
    case "put":
      return { newState: input.value, output: { ok: true } };
    case "delete":
      return { newState: null, output: { ok: true, existed: state !== null } };
    case "cas": {
      const ok = state === input.expected;
      return { newState: ok ? input.value : state, output: { ok } };
    }
  }
}

/**
 * One step of the model. `output === null` marks an unknown outcome: the step is then
 * always legal and the operation counts as applied (a cas applies only if its
 * comparison holds). The "never applied" branch needs no step here: the checker simply
 * never linearizes such an operation.
 */
export function step(state: KvState, input: SingleKeyInput, output: KvOutput | null): StepResult {
  const expected = applyOp(state, input);
  if (output === null || outputMatches(input, expected.output, output)) {
    return { ok: true, newState: expected.newState };
  }
  return { ok: false, newState: state };
}

/** Whether an observed output agrees with the model's; optional fields left out agree with anything. */
export function outputMatches(input: KvInput, expected: KvOutput, observed: KvOutput): boolean {
  switch (input.op) {
    case "txn": {
      const want = expected as TxnOutput;
      const seen = observed as TxnOutput;
      if (want.succeeded !== seen.succeeded || want.results.length !== seen.results.length) {
        return false;
      }
      const branch = want.succeeded ? input.success : input.failure;
      return branch.every((o, i) =>
        outputMatches(o, want.results[i] as TxnResult, seen.results[i] as TxnResult)
      );
    }
    case "get":
      return "value" in observed && "value" in expected && observed.value === expected.value;
    case "put":
      return true;
    case "delete": {
      const seen = (observed as DeleteOutput).existed;
      return seen === undefined || seen === (expected as DeleteOutput).existed;
    }
    case "cas":
      return "ok" in observed && "ok" in expected && observed.ok === expected.ok;
  }
}

/** A one-line description of an operation for failure reports, e.g. `cas("a"→"b")`. */
export function describeInput(input: KvInput): string {
  switch (input.op) {
    case "txn": {
      const ops = (branch: TxnInput["success"]) =>
        branch.map((o) => `${describeInput(o)} ${o.key}`).join(", ");
      return `txn(${input.compare.map(describeCompare).join(" ∧ ") || "true"} ? ` +
        `${ops(input.success)} : ${ops(input.failure)})`;
    }
    case "get":
      return "get";
    case "put":
      return `put(${show(input.value)})`;
    case "delete":
      return "delete";
    case "cas":
      return `cas(${show(input.expected)}→${show(input.value)})`;
  }
}

/** A short description of an output for failure reports; `null` means unknown. */
export function describeOutput(input: KvInput, output: KvOutput | null): string {
  if (output === null) return "unknown";
  switch (input.op) {
    case "txn": {
      const txn = output as TxnOutput;
      const branch = txn.succeeded ? input.success : input.failure;
      const results = branch.map((o, i) => describeOutput(o, txn.results[i] ?? null));
      return `${txn.succeeded ? "success" : "failure"} [${results.join(", ")}]`;
    }
    case "get":
      return "value" in output ? show(output.value) : "?";
    case "put":
      return "ok";
    case "delete": {
      const existed = (output as DeleteOutput).existed;
      return existed === undefined ? "ok" : existed ? "ok existed" : "ok absent";
    }
    case "cas":
      return "ok" in output && output.ok ? "ok" : "failed";
  }
}

/** Renders a state or value: quoted string, or `∅` for a missing key. */
export function show(value: KvState): string {
  return value === null ? "∅" : JSON.stringify(value);
}

function describeCompare(c: TxnCompare): string {
  switch (c.is) {
    case "value":
      return `${c.key}=${show(c.value)}`;
    case "otherValue":
      return `${c.key}≠${show(c.value)}`;
    case "absent":
      return `${c.key}=∅`;
    case "present":
      return `${c.key}≠∅`;
  }
}

/** Whether one compare holds for a key whose value is `state`. */
export function compareHolds(c: TxnCompare, state: KvState): boolean {
  switch (c.is) {
    case "value":
      return state !== null && state === c.value;
    case "otherValue":
      return state !== null && state !== c.value;
    case "absent":
      return state === null;
    case "present":
      return state !== null;
  }
}

/**
 * Applies a transaction at one point: every compare is evaluated against `read`, then
 * the branch taken runs in order (a get sees the branch's earlier writes). Returns the
 * answer a correct store gives and the writes, key → new value (`null`: deleted).
 */
export function applyTxn(
  read: (key: string) => KvState,
  txn: TxnInput,
): { writes: Map<string, KvState>; output: TxnOutput } {
  const succeeded = txn.compare.every((c) => compareHolds(c, read(c.key)));
  const writes = new Map<string, KvState>();
  const current = (key: string) => writes.has(key) ? writes.get(key) ?? null : read(key);
  const results: TxnResult[] = [];
  for (const o of succeeded ? txn.success : txn.failure) {
    const applied = applyOp(current(o.key), o);
    if (o.op !== "get") writes.set(o.key, applied.newState);
    results.push(applied.output as TxnResult);
  }
  return { writes, output: { succeeded, results } };
}

/**
 * The state of a group of keys the checker searches together: one value per key, at
 * the key's index in the group.
 */
export type Slots = readonly KvState[];

/**
 * One model step on a group of keys; `index` maps each key of the group to its slot.
 * Like {@link step}: `output === null` (unknown) is always legal and applies the
 * operation. The new state is the same array when nothing changed.
 */
export function stepSlots(
  index: ReadonlyMap<string, number>,
  slots: Slots,
  input: KvInput,
  output: KvOutput | null,
): { ok: boolean; newState: Slots } {
  const slotOf = (key: string) => {
    const at = index.get(key);
    if (at === undefined) throw new Error(`key ${key} is not in this group`);
    return at;
  };
  if (input.op !== "txn") {
    const at = slotOf(input.key);
    const result = step(slots[at] ?? null, input, output);
    if (!result.ok || result.newState === slots[at]) return { ok: result.ok, newState: slots };
    const next = [...slots];
    next[at] = result.newState;
    return { ok: true, newState: next };
  }
  const applied = applyTxn((key) => slots[slotOf(key)] ?? null, input);
  if (output !== null && !outputMatches(input, applied.output, output)) {
    return { ok: false, newState: slots };
  }
  if (applied.writes.size === 0) return { ok: true, newState: slots };
  const next = [...slots];
  for (const [key, value] of applied.writes) next[slotOf(key)] = value;
  return { ok: true, newState: next };
}

/** Renders a group's state: the one value, or `{key: value, …}` for several keys. */
export function showSlots(keys: readonly string[], slots: Slots): string {
  if (keys.length === 1) return show(slots[0] ?? null);
  return `{${keys.map((k, i) => `${k}: ${show(slots[i] ?? null)}`).join(", ")}}`;
}
