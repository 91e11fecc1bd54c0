/**
 * The sequential specification of one key of the KV store, as the linearizability
 * checker needs it: a state (the value, or `null` when the key does not exist) and a
 * step function that says whether an operation with a given output is a legal next step
 * and what the state becomes.
 *
 * Keys are independent (every operation touches one key), so the checker partitions a
 * history by key and runs this model per key.
 *
 * @module
 */

import type { DeleteOutput, KvInput, KvOutput } from "./history.ts";

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
export function applyOp(state: KvState, input: KvInput): { newState: KvState; output: KvOutput } {
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
export function step(state: KvState, input: KvInput, output: KvOutput | null): StepResult {
  const expected = applyOp(state, input);
  if (output === null || outputMatches(input, expected.output, output)) {
    return { ok: true, newState: expected.newState };
  }
  return { ok: false, newState: state };
}

/** Whether an observed output agrees with the model's; optional fields left out agree with anything. */
export function outputMatches(input: KvInput, expected: KvOutput, observed: KvOutput): boolean {
  switch (input.op) {
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
