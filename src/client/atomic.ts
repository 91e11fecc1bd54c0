/**
 * `atomic()`: Deno KV's atomic operation on top of `txn`. Checks become compares, sets
 * and deletes become the success branch, and `commit` reports only whether the checks
 * held: `{ ok: true, revision }` or `{ ok: false }`.
 *
 * @module
 */

import type { CallContext } from "./call.ts";
import { BadRequest } from "./errors.ts";
import type { LeaseRef } from "./lease_id.ts";
import { runTxn } from "./txn.ts";
import type { TxnCompare, TxnOp } from "./txn_types.ts";

/**
 * One check of an atomic operation: exactly one of its conditions. `modRevision: 0`,
 * `version: 0` or `value: null` mean "the key does not exist".
 *
 * @example
 * ```ts
 * import type { AtomicCheck } from "./mod.ts";
 * const unchanged: AtomicCheck = { key: "cfg", modRevision: 41 };
 * const absent: AtomicCheck = { key: "job/7", version: 0 };
 * const fenced: AtomicCheck = { key: "locks/a/1f", createRevision: 40 };
 * ```
 */
export type AtomicCheck =
  | { key: string; modRevision: number }
  | { key: string; version: number }
  | { key: string; createRevision: number }
  | { key: string; value: string | Uint8Array | null };

/**
 * The outcome of `commit`.
 *
 * @example
 * ```ts
 * import type { AtomicResult } from "./mod.ts";
 * const describe = (r: AtomicResult) => r.ok ? `committed at ${r.revision}` : "a check failed";
 * ```
 */
export type AtomicResult = { ok: true; revision: number } | { ok: false };

/**
 * Options of `commit`.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * await kv.atomic().set("a", "1").commit({ idempotencyKey: "order-17" });
 * ```
 */
export interface AtomicCommitOptions {
  /** Exactly-once key sent on every attempt; random by default. */
  idempotencyKey?: string;
  /** Aborts the call; a commit already sent may still be applied. */
  signal?: AbortSignal;
}

/**
 * A builder of checks and mutations committed as one transaction.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * const from = await kv.get("balance/ada");
 * const result = await kv.atomic()
 *   .check({ key: "balance/ada", modRevision: from?.modRevision ?? 0 })
 *   .set("balance/ada", "90")
 *   .set("balance/bob", "10")
 *   .commit();
 * if (!result.ok) console.log("someone else moved first; read again");
 * ```
 */
export class AtomicOperation {
  readonly #ctx: CallContext;
  readonly #checks: TxnCompare[] = [];
  readonly #mutations: TxnOp[] = [];

  /** Use `kv.atomic()`. */
  constructor(ctx: CallContext) {
    this.#ctx = ctx;
  }

  /** Adds checks; the commit applies only if every one holds. */
  check(...checks: AtomicCheck[]): this {
    for (const check of checks) this.#checks.push(compareOf(check));
    return this;
  }

  /** Sets `key` to `value`, attached to `options.lease` when given. */
  set(key: string, value: string | Uint8Array, options: { lease?: LeaseRef } = {}): this {
    const put = options.lease === undefined ? { key, value } : { key, value, lease: options.lease };
    this.#mutations.push({ put });
    return this;
  }

  /** Deletes `key` (nothing happens if it does not exist). */
  delete(key: string): this {
    this.#mutations.push({ delete: { key } });
    return this;
  }

  /** Applies every mutation at one revision if every check holds. */
  async commit(options: AtomicCommitOptions = {}): Promise<AtomicResult> {
    const result = await runTxn(this.#ctx, {
      compare: this.#checks,
      success: this.#mutations,
    }, options);
    return result.succeeded ? { ok: true, revision: result.revision } : { ok: false };
  }
}

function compareOf(check: AtomicCheck): TxnCompare {
  if (typeof check !== "object" || check === null) {
    throw new BadRequest("a check must be an object", { status: 0 });
  }
  const given = ["modRevision", "version", "createRevision", "value"].filter((name) =>
    name in check
  );
  if (given.length !== 1) {
    throw new BadRequest(
      "a check gives exactly one of modRevision, version, createRevision or value",
      { status: 0 },
    );
  }
  const { key } = check;
  if ("modRevision" in check) {
    return { key, target: "modRevision", op: "=", value: check.modRevision };
  }
  if ("version" in check) return { key, target: "version", op: "=", value: check.version };
  if ("createRevision" in check) {
    return { key, target: "createRevision", op: "=", value: check.createRevision };
  }
  // A missing key's value compares false under every op, so "absent" is version 0.
  if (check.value === null) return { key, target: "version", op: "=", value: 0 };
  return { key, target: "value", op: "=", value: check.value };
}
