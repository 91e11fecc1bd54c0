/**
 * Transactions between the checker's model (history.ts: compares on values, results
 * as the single-key requests answer) and the wire (`POST /v1/txn`, kv_http.ts).
 *
 * A model compare "the key holds value v" goes out as a value compare, or, when the
 * value's modRevision is known from a read, as a modRevision compare: with one unique
 * value per write, only the write of v ever produced that modRevision on that key, so
 * the two hold together (the same argument as for If-Match, see clients.ts).
 *
 * @module
 */

import type { TxnInput, TxnOp, TxnOutput, TxnResult } from "./history.ts";
import type { TxnAnswer, WireCompare, WireOp, WireTxn } from "./kv_http.ts";

/**
 * The request meaning the same as a model transaction. A value compare goes out as a
 * modRevision compare about half the time, when the value's revision is known
 * (`revisions`, by key and value); a missing key as version or createRevision 0.
 */
export function toWire(
  input: TxnInput,
  revisions: ReadonlyMap<string, number>,
  rand: () => number,
): WireTxn {
  const compare = input.compare.map((c): WireCompare => {
    switch (c.is) {
      case "value": {
        const revision = revisions.get(`${c.key}\n${c.value}`);
        return revision !== undefined && rand() < 0.5
          ? { key: c.key, target: "modRevision", op: "=", value: revision }
          : { key: c.key, target: "value", op: "=", value: c.value };
      }
      case "otherValue":
        return { key: c.key, target: "value", op: "!=", value: c.value };
      case "absent":
        return {
          key: c.key,
          target: rand() < 0.5 ? "version" : "createRevision",
          op: "=",
          value: 0,
        };
      case "present":
        return { key: c.key, target: "version", op: ">", value: 0 };
    }
  });
  const op = (o: TxnOp): WireOp =>
    o.op === "put"
      ? { put: { key: o.key, value: o.value } }
      : o.op === "delete"
      ? { delete: { key: o.key } }
      : { get: { key: o.key } };
  return { compare, success: input.success.map(op), failure: input.failure.map(op) };
}

/**
 * The model's output for a transaction's answer, and what in the answer breaks the
 * API's promises: a put whose modRevision is not the transaction's revision (its writes
 * must all land at that one revision), or a result that does not answer its operation
 * (the output then has fewer results than the branch).
 */
export function fromWire(
  input: TxnInput,
  answer: TxnAnswer,
): { output: TxnOutput; problems: string[] } {
  const problems: string[] = [];
  const branch = answer.succeeded ? input.success : input.failure;
  const results: TxnResult[] = [];
  branch.forEach((o, i) => {
    const r = answer.results[i];
    if (o.op === "get" && r !== undefined && "get" in r) {
      results.push({ value: r.get.kv?.value ?? null });
    } else if (o.op === "put" && r !== undefined && "put" in r) {
      if (r.put.modRevision !== answer.revision) {
        problems.push(
          `put of ${o.key} landed at modRevision ${r.put.modRevision}, ` +
            `the transaction at revision ${answer.revision}`,
        );
      }
      results.push({ ok: true });
    } else if (o.op === "delete" && r !== undefined && "delete" in r) {
      results.push({ ok: true, existed: r.delete.deleted });
    } else {
      problems.push(`result ${i} ${JSON.stringify(r)} does not answer ${o.op} ${o.key}`);
    }
  });
  return { output: { succeeded: answer.succeeded, results }, problems };
}
