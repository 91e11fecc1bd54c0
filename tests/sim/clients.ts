/**
 * The simulated clients: a few logical clients, each with at most one request in flight,
 * putting, compare-and-setting and reading a handful of keys through the real node API,
 * plus puts with a TTL on keys of their own. Every keyed request and its answer (or its
 * unknown outcome) is recorded with virtual times, for the linearizability checker the
 * chaos tests use.
 *
 * @module
 */

import type { Operation, TxnInput, TxnOutput } from "../chaos/history.ts";
import type { ApplyResult, KvCommand, PutResult } from "../../src/kv/types.ts";
import type { TxnRequest, TxnResult as ServerTxnResult } from "../../src/kv/txn_types.ts";
import { RaftkvError } from "../../src/errors.ts";
import type { Prng } from "./prng.ts";
import type { SimHost } from "./sim_host.ts";
import { InvariantViolation } from "./invariants.ts";

/** Logical clients, each with one request at a time. */
export const SIM_CLIENTS = 5;
/** Keys the linearizable workload touches. */
export const SIM_KEYS = 4;
/** Virtual ms a client waits for an answer before it records the outcome as unknown. */
export const CLIENT_TIMEOUT_MS = 3_000;
/** Most operations recorded in one run (the checker's cost grows with them). */
export const MAX_HISTORY_OPS = 4_000;
/** Most TTL puts tracked in one run. */
export const MAX_TTL_PUTS = 200;

/** A TTL put that was acknowledged: the key must be gone on every member after it. */
export interface TtlPut {
  key: string;
  expiresAtMs: number;
}

/** What the clients need from the cluster. */
export interface ClientEnv {
  nowMs(): number;
  /** A violation found inside a callback; the cluster throws it after the event. */
  fail(v: InvariantViolation): void;
  note(node: string, what: string | (() => string)): void;
  /** Asks for `timeout(id)` at `atMs`. */
  scheduleTimeout(id: number, atMs: number): void;
}

interface InFlight {
  op: Operation;
  /** Reads and failed writes leave the history; unknown writes stay with ret null. */
  settle: (outcome: Operation["output"] | "unknown" | "failed") => void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const NEVER = new AbortController().signal;

/** The clients of one run and their recorded history. */
export class SimClients {
  readonly history: Operation[] = [];
  readonly ttlPuts: TtlPut[] = [];
  readonly #env: ClientEnv;
  readonly #prng: Prng;
  readonly #seed: number;
  readonly #busy = new Map<number, InFlight>();
  readonly #byId = new Map<number, InFlight>();
  /** The modRevision each "key=value" was written at, for compare-and-set by revision. */
  readonly #revisionOf = new Map<string, number>();
  #nextOp = 1;
  #nextValue = 1;
  #nextTtl = 1;
  /** Counters for the run summary. */
  readonly stats = { acked: 0, reads: 0, unknown: 0, ttlAcked: 0, writeDeadlines: 0 };

  /** Clients for run `seed`. */
  constructor(env: ClientEnv, prng: Prng, seed: number) {
    this.#env = env;
    this.#prng = prng;
    this.#seed = seed;
  }

  /** Issues one request from an idle client to `host`, if any client is idle. */
  issue(host: SimHost): void {
    const client = this.#idleClient();
    if (client === null || !host.up || this.history.length >= MAX_HISTORY_OPS) return;
    const removed = host.node.status().removed;
    const r = this.#prng.float();
    if (r < 0.1 && this.ttlPuts.length < MAX_TTL_PUTS) return this.#ttlPut(host, removed);
    const key = `k${this.#prng.int(SIM_KEYS)}`;
    if (r < 0.45) return this.#put(client, host, key, removed);
    if (r < 0.55) return this.#txn(client, host, key, removed);
    if (r < 0.65) return this.#cas(client, host, key, removed);
    return this.#get(client, host, key, removed);
  }

  /** A client's deadline passed: its request's outcome is unknown. */
  timeout(id: number): void {
    this.#byId.get(id)?.settle("unknown");
  }

  /** The host of these requests died: they will never be answered. */
  abandon(host: SimHost): void {
    for (const f of [...this.#byId.values()]) {
      if ((f as InFlight & { host?: SimHost }).host === host) f.settle("unknown");
    }
  }

  /** Appends reads of every key at the final state (all requests settled first). */
  finish(read: (key: string) => string | null): void {
    for (const f of [...this.#byId.values()]) f.settle("unknown");
    const now = this.#env.nowMs();
    for (let k = 0; k < SIM_KEYS; k++) {
      const key = `k${k}`;
      this.history.push({
        id: this.#nextOp++,
        client: SIM_CLIENTS + k,
        call: now,
        ret: now,
        input: { op: "get", key },
        output: { value: read(key) },
      });
    }
  }

  #idleClient(): number | null {
    const idle: number[] = [];
    for (let c = 0; c < SIM_CLIENTS; c++) if (!this.#busy.has(c)) idle.push(c);
    return idle.length === 0 ? null : this.#prng.pick(idle);
  }

  #value(): string {
    return `s${this.#seed}v${this.#nextValue++}`;
  }

  #start(client: number, host: SimHost, input: Operation["input"], removed: boolean): InFlight {
    const op: Operation = {
      id: this.#nextOp++,
      client,
      call: this.#env.nowMs(),
      ret: null,
      input,
      output: null,
    };
    this.history.push(op);
    const flight: InFlight & { host: SimHost } = {
      op,
      host,
      settle: (outcome) => {
        if (this.#byId.get(op.id) !== flight) return;
        this.#byId.delete(op.id);
        this.#busy.delete(client);
        if (outcome === "failed" || (outcome === "unknown" && input.op === "get")) {
          this.history.splice(this.history.lastIndexOf(op), 1);
          return;
        }
        if (outcome === "unknown") {
          this.stats.unknown++;
          return;
        }
        if (removed) {
          this.#env.fail(
            new InvariantViolation(
              "removed-member-served",
              `${host.id} answered ${describe(input)} after it was removed`,
            ),
          );
        }
        op.ret = this.#env.nowMs();
        op.output = outcome;
        if (input.op === "get") this.stats.reads++;
        else this.stats.acked++;
      },
    };
    this.#busy.set(client, flight);
    this.#byId.set(op.id, flight);
    this.#env.scheduleTimeout(op.id, op.call + CLIENT_TIMEOUT_MS);
    this.#env.note(host.id, () => `client ${client} ${describe(input)}`);
    return flight;
  }

  #put(client: number, host: SimHost, key: string, removed: boolean): void {
    const value = this.#value();
    const f = this.#start(client, host, { op: "put", key, value }, removed);
    const cmd: KvCommand = {
      op: "put",
      key,
      value: encoder.encode(value),
      ttlMs: null,
      ifModRevision: null,
      createOnly: false,
    };
    this.#write(host, cmd, f, (r) => (r.ok ? { ok: true } : "failed"));
  }

  #cas(client: number, host: SimHost, key: string, removed: boolean): void {
    // Compare against a value whose revision is known, or against "absent".
    const known = [...this.#revisionOf.keys()].filter((v) => v.startsWith(`${key}=`));
    const expectedEntry = known.length > 0 && this.#prng.chance(0.8)
      ? this.#prng.pick(known)
      : null;
    const expected = expectedEntry === null ? null : expectedEntry.slice(key.length + 1);
    const ifModRevision = expectedEntry === null ? 0 : this.#revisionOf.get(expectedEntry) ?? 0;
    const value = this.#value();
    const f = this.#start(client, host, { op: "cas", key, expected, value }, removed);
    const cmd: KvCommand = {
      op: "put",
      key,
      value: encoder.encode(value),
      ttlMs: null,
      ifModRevision,
      createOnly: false,
    };
    this.#write(host, cmd, f, (r) => {
      if (r.ok) return { ok: true };
      return r.code === "precondition_failed" ? { ok: false } : "failed";
    });
  }

  /**
   * A transaction on `key` and another key, in the shapes clients use: a swap guarded
   * by a compare on `key` (its value, by value or by modRevision, its absence or its
   * presence) that reads both keys when the compare fails, or a blind multi-key write.
   */
  #txn(client: number, host: SimHost, key: string, removed: boolean): void {
    const other = `k${(Number(key.slice(1)) + 1 + this.#prng.int(SIM_KEYS - 1)) % SIM_KEYS}`;
    const known = [...this.#revisionOf.keys()].filter((v) => v.startsWith(`${key}=`));
    const compare: TxnInput["compare"] = [];
    const wire: TxnRequest["compare"] = [];
    const shape = this.#prng.int(4);
    if (shape === 0 && known.length > 0) {
      const entry = this.#prng.pick(known);
      const value = entry.slice(key.length + 1);
      compare.push({ key, is: "value", value });
      // One unique value per write: its modRevision stands for it.
      wire.push(
        this.#prng.chance(0.5)
          ? { key, target: "modRevision", op: "=", value: this.#revisionOf.get(entry) ?? 0 }
          : { key, target: "value", op: "=", value: encoder.encode(value) },
      );
    } else if (shape === 1) {
      compare.push({ key, is: "absent" });
      wire.push({ key, target: "version", op: "=", value: 0 });
    } else if (shape === 2) {
      compare.push({ key, is: "present" });
      wire.push({ key, target: "version", op: ">", value: 0 });
    }
    const v1 = this.#value();
    const second: TxnInput["success"][number] = this.#prng.chance(0.2)
      ? { op: "delete", key: other }
      : { op: "put", key: other, value: this.#value() };
    const input: TxnInput = {
      op: "txn",
      compare,
      success: [{ op: "put", key, value: v1 }, second],
      failure: [{ op: "get", key }, { op: "get", key: other }],
    };
    const toWire = (o: TxnInput["success"][number]): TxnRequest["success"][number] =>
      o.op === "put"
        ? { op: "put", key: o.key, value: encoder.encode(o.value), lease: null }
        : o.op === "delete"
        ? { op: "delete", key: o.key }
        : { op: "get", key: o.key };
    const txn: TxnRequest = {
      compare: wire,
      success: input.success.map(toWire),
      failure: input.failure.map(toWire),
    };
    const f = this.#start(client, host, input, removed);
    this.#write(host, { op: "txn", txn }, f, (r) => {
      if (!r.ok) return "failed";
      const answer = r.value as ServerTxnResult;
      const branch = answer.succeeded ? input.success : input.failure;
      const results: TxnOutput["results"] = [];
      for (const [i, o] of branch.entries()) {
        const res = answer.results[i];
        if (res?.op === "get") {
          results.push({ value: res.kv === null ? null : decoder.decode(res.kv.value) });
        } else if (res?.op === "put" && o.op === "put") {
          this.#revisionOf.set(`${o.key}=${o.value}`, res.modRevision);
          results.push({ ok: true });
        } else if (res?.op === "delete") {
          results.push({ ok: true, existed: res.deleted });
        } else {
          this.#env.fail(
            new InvariantViolation(
              "txn-answer",
              `${host.id} answered ${describe(input)} with ${JSON.stringify(res)} at ${i}`,
            ),
          );
          return "failed";
        }
      }
      return { succeeded: answer.succeeded, results };
    });
  }

  #write(
    host: SimHost,
    cmd: KvCommand,
    f: InFlight,
    output: (r: ApplyResult) => Operation["output"] | "failed",
  ): void {
    const key = cmd.op === "put" ? cmd.key : "";
    host.node.write(cmd, { idempotencyKey: null, signal: NEVER }).then(
      (r) => {
        if (r.ok && cmd.op === "put") {
          // Remember value → revision under "key=value" so cas can compare by revision.
          const v = decoder.decode(cmd.value);
          this.#revisionOf.set(`${key}=${v}`, (r.value as PutResult).modRevision);
        }
        f.settle(output(r));
      },
      (e) => {
        // The node's own write deadline (on virtual time) passed: the outcome is unknown.
        if (e instanceof RaftkvError && /deadline/.test(e.message)) this.stats.writeDeadlines++;
        f.settle(isNotApplied(e) ? "failed" : "unknown");
      },
    );
  }

  #get(client: number, host: SimHost, key: string, removed: boolean): void {
    const f = this.#start(client, host, { op: "get", key }, removed);
    const mode = this.#prng.chance(0.3) ? "lease" : "linearizable";
    host.node.get(key, mode, NEVER).then(
      (r) => f.settle({ value: r.kv === null ? null : decoder.decode(r.kv.value) }),
      () => f.settle("failed"),
    );
  }

  #ttlPut(host: SimHost, removed: boolean): void {
    const key = `ttl${this.#nextTtl++}`;
    const ttlMs = this.#prng.pick([20, 100, 500]);
    const expiresAtMs = this.#env.nowMs() + ttlMs;
    const cmd: KvCommand = {
      op: "put",
      key,
      value: encoder.encode("t"),
      ttlMs,
      ifModRevision: null,
      createOnly: false,
    };
    host.node.write(cmd, { idempotencyKey: null, signal: NEVER }).then(
      (r) => {
        if (removed) {
          this.#env.fail(
            new InvariantViolation(
              "removed-member-served",
              `${host.id} took a write after removal`,
            ),
          );
        }
        if (r.ok) {
          this.ttlPuts.push({ key, expiresAtMs });
          this.stats.ttlAcked++;
        }
      },
      () => {},
    );
  }
}

/** Errors after which a write certainly did not take effect. */
function isNotApplied(e: unknown): boolean {
  return e instanceof RaftkvError &&
    (e.code === "unavailable" || e.code === "too_many_requests" || e.code === "conflict" ||
      e.code === "bad_request");
}

function describe(input: Operation["input"]): string {
  switch (input.op) {
    case "put":
      return `put ${input.key}=${input.value}`;
    case "cas":
      return `cas ${input.key} ${input.expected ?? "∅"}→${input.value}`;
    case "get":
      return `get ${input.key}`;
    case "delete":
      return `delete ${input.key}`;
    case "txn":
      return `txn of ${input.success.length}/${input.failure.length} operations`;
  }
}
