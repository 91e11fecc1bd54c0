/**
 * The chaos workload: concurrent clients doing random get / put / delete / CAS and
 * multi-key transactions on a few keys through random voters, every request recorded
 * into the checker's history; and learner readers doing stale reads, checked for
 * per-client monotonicity.
 *
 * Mapping the HTTP API onto the checker's model (which compares values, not
 * revisions): every written value is unique in a run (`c<client>-<seq>`), so a value
 * and the modRevision it was written at determine each other. A CAS is two operations:
 * a linearizable GET, recorded as a `get`, which yields (value v, ETag r); then
 * `PUT If-Match: "r"`, recorded as `cas(expected v)`. The server's comparison "the
 * key's modRevision is r" holds exactly when "the key's value is v" does, because only
 * the one write of v ever produced revision r. A GET answering 404 leads to
 * `PUT If-None-Match: *`, recorded as `cas(expected null)`.
 *
 * Transactions (`POST /v1/txn`) touch a pair of keys ({@link TXN_PAIRS}): a snapshot
 * read of both (two gets, no compare), a blind write of both, or a swap that first
 * reads both with such a snapshot and then compares each key (its value, or its
 * modRevision as read: the same comparison, as above; version/createRevision 0 for a
 * missing key) and writes both, reading both in the failure branch. Each is one
 * operation of the history on several keys (see kv_model.ts); their pairs stay fixed
 * so the checker's groups stay small.
 *
 * Outcomes: 200/404/412 are certain; everything else (timeouts, broken connections,
 * 503, 504, any other status) is recorded as unknown, which is always sound.
 *
 * Operations left out of the checked history: requests whose TCP connect failed (the
 * server never saw them; connections are not pooled, so a restarted node cannot leave
 * a dead pooled connection behind), reads without an answer (a read changes nothing),
 * and, unless `trustRefusals` is off, writes answered 503 with a message stating that
 * they were not applied (see kv_http.ts). That last one trusts the API; the final
 * checks hold it to its word: no read may ever return a refused write's value. Unknown
 * operations are what makes checking expensive: partitions and kills otherwise leave
 * hundreds of them, and the checker gives up.
 *
 * @module
 */

import type {
  HistoryRecorder,
  KvInput,
  KvOutput,
  Operation,
  TxnCompare,
  TxnInput,
  TxnOp,
} from "./history.ts";
import { mulberry32 } from "./history.ts";
import {
  kvDelete,
  kvGet,
  kvPut,
  kvTxn,
  type LeaseNotFound,
  type Precondition,
  type ReadAnswer,
  type TxnAnswer,
  type UnknownAnswer,
  type UnknownReason,
  type WireTxn,
  type WriteAnswer,
} from "./kv_http.ts";
import { MonotonicReads } from "./checks.ts";
import { fromWire, toWire } from "./txn_wire.ts";
import type { ChaosCluster } from "./cluster.ts";

/** Deadline of one client request. */
export const OP_TIMEOUT_MS = 3000;
/** How long clients use one set of keys before moving on to fresh ones. */
export const KEY_EPOCH_MS = 30_000;
/** Longest pause between two requests of a client (leaves CPU to the nodes). */
export const MAX_THINK_MS = 10;
/**
 * The pairs of key indexes (of an epoch's keys) transactions join. Fixed pairs keep
 * each group the checker searches at two keys; keys outside every pair see only
 * single-key operations.
 */
export const TXN_PAIRS: readonly (readonly [number, number])[] = [[0, 1], [2, 3]];
/** Share of a voter client's operations that are transactions (when it has a pair). */
export const TXN_SHARE = 0.25;

/** An HTTP client without idle connections: a failed connect then means "never sent". */
export function newHttpClient(): Deno.HttpClient {
  return Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
}

/** One write attempt and what became of it. */
export interface WriteRecord {
  opId: number;
  key: string;
  /** The value written; null for a delete. */
  value: string | null;
  outcome: "acked" | "rejected" | "refused503" | "notSent" | "unknown";
  /** modRevision (put, cas) or revision (delete) when acknowledged; else null. */
  revision: number | null;
  /** The node the request went to, and why its outcome is not definite (for diagnosis). */
  via?: string;
  detail?: string | null;
  /** When the answer (or the lack of one) arrived, on the history's clock. */
  atMs?: number;
}

/** A value some read returned, for the "no value from nowhere" checks. */
export interface ObservedValue {
  key: string;
  value: string;
  source: "linearizable" | "stale" | "final";
}

/** Counters printed at the end. */
export interface WorkloadStats {
  ok: number;
  casFailed: number;
  /** Transactions answered, and of those the ones whose compares failed. */
  txns: number;
  txnFailed: number;
  unknown: Record<UnknownReason, number>;
  learnerReads: number;
}

/** State shared by all clients of a run. */
export class Workload {
  readonly writes: WriteRecord[] = [];
  readonly observed: ObservedValue[] = [];
  /** The node each recorded operation was sent to, by operation id (for diagnosis). */
  readonly via = new Map<number, string>();
  readonly monotonicViolations: string[] = [];
  /** Transactions whose answer breaks "all writes at one revision". */
  readonly txnViolations: string[] = [];
  readonly stats: WorkloadStats = {
    ok: 0,
    casFailed: 0,
    txns: 0,
    txnFailed: 0,
    unknown: {
      "not-sent": 0,
      refused: 0,
      timeout: 0,
      connection: 0,
      "503": 0,
      "504": 0,
      other: 0,
    },
    learnerReads: 0,
  };
  /** Examples of unexpected statuses ("other"), for the report. */
  readonly oddAnswers: string[] = [];
  readonly #recorder: HistoryRecorder;
  readonly #cluster: ChaosCluster;
  readonly #keyCount: number;
  readonly #startedMs = performance.now();
  #lastEpoch = 0;
  /** Operations left out of the history (see the module comment). */
  readonly #dropped = new Set<number>();
  #stopped = false;

  readonly #trustRefusals: boolean;

  /** A workload over `keyCount` keys (k0, k1, ...). */
  constructor(
    recorder: HistoryRecorder,
    cluster: ChaosCluster,
    keyCount: number,
    trustRefusals: boolean,
  ) {
    this.#trustRefusals = trustRefusals;
    this.#recorder = recorder;
    this.#cluster = cluster;
    this.#keyCount = keyCount;
  }

  /**
   * The keys clients touch now. Every {@link KEY_EPOCH_MS} the workload moves on to
   * fresh keys (Jepsen's "independent keys"): each key's history stays short, and
   * unknown-outcome operations stop piling up on one key, which is what makes a long
   * history too expensive to check.
   */
  currentKeys(): string[] {
    const epoch = Math.floor((performance.now() - this.#startedMs) / KEY_EPOCH_MS);
    this.#lastEpoch = Math.max(this.#lastEpoch, epoch);
    return this.#keysOf(epoch);
  }

  /** Every key handed out so far (for the final reads). */
  get keys(): readonly string[] {
    return Array.from({ length: this.#lastEpoch + 1 }, (_, e) => this.#keysOf(e)).flat();
  }

  /** A key of the latest epoch (for the availability probe). */
  latestKey(): string {
    return this.#keysOf(this.#lastEpoch)[0] ?? "probe";
  }

  #keysOf(epoch: number): string[] {
    return Array.from({ length: this.#keyCount }, (_, i) => `e${epoch}k${i}`);
  }

  /** The history to check: every recorded operation but those that soundly drop out. */
  history(): Operation[] {
    return this.#recorder.history().filter((op) =>
      !this.#dropped.has(op.id) && !(op.ret === null && readOnly(op.input))
    );
  }

  /** Asks every client loop to finish after its current request. */
  stop(): void {
    this.#stopped = true;
  }

  /** Runs voter client `client` until {@link Workload.stop}. */
  async runClient(client: number, seed: number): Promise<void> {
    const rand = mulberry32(seed);
    const http = newHttpClient();
    const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;
    let seq = 0;
    try {
      while (!this.#stopped) {
        const keys = this.currentKeys();
        const key = pick(keys);
        const node = pick(this.#cluster.voters());
        const pairs = TXN_PAIRS.filter(([a, b]) => a < keys.length && b < keys.length);
        if (pairs.length > 0 && rand() < TXN_SHARE) {
          const [a, b] = pick(pairs);
          await this.#randomTxn(
            http,
            client,
            rand,
            [keys[a] ?? "", keys[b] ?? ""],
            () => `c${client}-${seq++}`,
          );
          await new Promise((r) => setTimeout(r, Math.floor(rand() * MAX_THINK_MS)));
          continue;
        }
        const roll = rand();
        if (roll < 0.35) await this.get(http, client, node.httpUrl, key);
        else if (roll < 0.6) {
          await this.put(http, client, node.httpUrl, key, `c${client}-${seq++}`, null);
        } else if (roll < 0.7) await this.delete(http, client, node.httpUrl, key);
        else {
          const read = await this.get(http, client, node.httpUrl, key);
          if (read === null || this.#stopped) continue;
          const precondition: Precondition = read.value === null
            ? { createOnly: true }
            : read.modRevision === null
            ? null
            : { ifMatch: read.modRevision };
          if (precondition === null) continue;
          const via = pick(this.#cluster.voters()).httpUrl;
          await this.put(http, client, via, key, `c${client}-${seq++}`, precondition, read.value);
        }
        await new Promise((r) => setTimeout(r, Math.floor(rand() * MAX_THINK_MS)));
      }
    } finally {
      http.close();
    }
  }

  /** One random transaction on the pair `keys` (see the module comment). */
  async #randomTxn(
    http: Deno.HttpClient,
    client: number,
    rand: () => number,
    keys: readonly [string, string],
    nextValue: () => string,
  ): Promise<void> {
    const pickUrl = () => {
      const voters = this.#cluster.voters();
      return voters[Math.floor(rand() * voters.length)]?.httpUrl ?? "";
    };
    const reads: TxnOp[] = keys.map((key) => ({ op: "get", key }));
    const snapshot: TxnInput = { op: "txn", compare: [], success: reads, failure: [] };
    const roll = rand();
    if (roll < 0.3) {
      await this.txn(http, client, pickUrl(), snapshot, toWire(snapshot, new Map(), rand));
      return;
    }
    const writes: TxnOp[] = keys.map((key, i) =>
      i === 1 && rand() < 0.2 ? { op: "delete", key } : { op: "put", key, value: nextValue() }
    );
    if (roll < 0.45) {
      const blind: TxnInput = { op: "txn", compare: [], success: writes, failure: [] };
      await this.txn(http, client, pickUrl(), blind, toWire(blind, new Map(), rand));
      return;
    }
    const read = await this.txn(
      http,
      client,
      pickUrl(),
      snapshot,
      toWire(snapshot, new Map(), rand),
    );
    if (read === null || this.#stopped) return;
    const revisions = new Map<string, number>();
    const compare: TxnCompare[] = keys.map((key, i) => {
      const result = read.results[i];
      const kv = result !== undefined && "get" in result ? result.get.kv : null;
      if (kv === null) return { key, is: "absent" };
      revisions.set(`${key}\n${kv.value}`, kv.modRevision);
      const r = rand();
      if (r < 0.1) return { key, is: "present" };
      if (r < 0.2) return { key, is: "otherValue", value: kv.value };
      return { key, is: "value", value: kv.value };
    });
    const swap: TxnInput = { op: "txn", compare, success: writes, failure: reads };
    await this.txn(http, client, pickUrl(), swap, toWire(swap, revisions, rand));
  }

  /**
   * A recorded transaction: `input` is what the model sees, `wire` the request that
   * means the same (see {@link toWire}). Returns the answer, or null when unknown.
   */
  async txn(
    http: Deno.HttpClient,
    client: number,
    url: string,
    input: TxnInput,
    wire: WireTxn,
  ): Promise<TxnAnswer | null> {
    const id = this.#recorder.invoke(client, input);
    this.via.set(id, url);
    const answer: TxnAnswer | LeaseNotFound | UnknownAnswer = await kvTxn(
      http,
      url,
      wire,
      OP_TIMEOUT_MS,
    );
    const unknown: UnknownAnswer | null = answer.kind === "txn"
      ? null
      : answer.kind === "unknown"
      ? answer
      : {
        kind: "unknown",
        reason: "other",
        detail: "404 lease_not_found from a txn without leases",
      };
    const atMs = performance.now();
    for (const o of input.success) {
      if (o.op === "get") continue;
      const value = o.op === "put" ? o.value : null;
      const outcome = answer.kind === "txn"
        ? answer.succeeded ? "acked" : "rejected"
        : unknown?.reason === "503" || unknown?.reason === "refused"
        ? "refused503"
        : unknown?.reason === "not-sent"
        ? "notSent"
        : "unknown";
      const revision = answer.kind === "txn" && answer.succeeded ? answer.revision : null;
      const detail = unknown === null ? null : `${unknown.reason}: ${unknown.detail}`;
      this.writes.push({ opId: id, key: o.key, value, outcome, revision, via: url, detail, atMs });
    }
    if (unknown !== null) {
      this.#unknown(id, unknown);
      return null;
    }
    const txn = answer as TxnAnswer;
    const { output, problems } = fromWire(input, txn);
    for (const problem of problems) this.txnViolations.push(`op #${id}: ${problem}`);
    const branch = output.succeeded ? input.success : input.failure;
    branch.forEach((o, i) => {
      const r = output.results[i];
      if (o.op === "get" && r !== undefined && "value" in r && r.value !== null) {
        this.observed.push({ key: o.key, value: r.value, source: "linearizable" });
      }
    });
    if (output.results.length !== branch.length) {
      this.#unknown(id, { kind: "unknown", reason: "other", detail: "malformed txn answer" });
      return null;
    }
    this.stats.txns++;
    if (!txn.succeeded) this.stats.txnFailed++;
    this.#complete(id, output);
    return txn;
  }

  /** A recorded linearizable GET; returns the answer, or null when unknown. */
  async get(
    http: Deno.HttpClient,
    client: number,
    url: string,
    key: string,
    source: "linearizable" | "final" = "linearizable",
  ): Promise<ReadAnswer | null> {
    const id = this.#recorder.invoke(client, { op: "get", key });
    this.via.set(id, url);
    const answer = await kvGet(http, url, key, "linearizable", OP_TIMEOUT_MS);
    if (answer.kind === "unknown") {
      this.#unknown(id, answer);
      return null;
    }
    this.#complete(id, { value: answer.value });
    if (answer.value !== null) this.observed.push({ key, value: answer.value, source });
    return answer;
  }

  /**
   * A recorded PUT: unconditional (`put`), or conditional (`cas` whose expected value
   * is `expected`, the value the precondition's revision belongs to).
   */
  async put(
    http: Deno.HttpClient,
    client: number,
    url: string,
    key: string,
    value: string,
    precondition: Precondition,
    expected: string | null = null,
  ): Promise<WriteAnswer | UnknownAnswer> {
    const input: KvInput = precondition === null
      ? { op: "put", key, value }
      : { op: "cas", key, expected, value };
    const id = this.#recorder.invoke(client, input);
    this.via.set(id, url);
    const answer = await kvPut(http, url, key, value, precondition, OP_TIMEOUT_MS);
    this.#recordWrite(id, key, value, answer, url);
    if (answer.kind === "unknown") this.#unknown(id, answer);
    else if (!answer.ok) {
      this.stats.casFailed++;
      this.#recorder.complete(id, { ok: false });
    } else this.#complete(id, { ok: true });
    return answer;
  }

  /** A recorded DELETE. */
  async delete(http: Deno.HttpClient, client: number, url: string, key: string): Promise<void> {
    const id = this.#recorder.invoke(client, { op: "delete", key });
    this.via.set(id, url);
    const answer = await kvDelete(http, url, key, OP_TIMEOUT_MS);
    this.#recordWrite(id, key, null, answer, url);
    if (answer.kind === "unknown") this.#unknown(id, answer);
    else this.#complete(id, { ok: true, existed: answer.ok });
  }

  /**
   * Stale reads from a learner until {@link Workload.stop}; each reader checks that
   * it never sees the store (or a key) go back in time. A restart of the learner
   * starts a new window: stale reads promise nothing across a crash.
   */
  async runLearnerReader(reader: number, seed: number): Promise<void> {
    const rand = mulberry32(seed);
    const http = newHttpClient();
    const learners = this.#cluster.learners();
    const monotonic = new MonotonicReads();
    try {
      while (!this.#stopped && learners.length > 0) {
        const node = learners[Math.floor(rand() * learners.length)];
        const keys = this.currentKeys();
        const key = keys[Math.floor(rand() * keys.length)];
        if (node === undefined || key === undefined) break;
        const incarnation = node.incarnation;
        const answer = await kvGet(http, node.httpUrl, key, "stale", OP_TIMEOUT_MS);
        if (answer.kind === "read" && incarnation === node.incarnation) {
          this.stats.learnerReads++;
          if (answer.value !== null) {
            this.observed.push({ key, value: answer.value, source: "stale" });
          }
          const violation = monotonic.observe(`${node.id}#${incarnation}`, key, answer);
          if (violation !== null) this.monotonicViolations.push(`reader ${reader}: ${violation}`);
        }
        await new Promise((r) => setTimeout(r, 1 + Math.floor(rand() * MAX_THINK_MS)));
      }
    } finally {
      http.close();
    }
  }

  #recordWrite(
    opId: number,
    key: string,
    value: string | null,
    answer: WriteAnswer | UnknownAnswer,
    url: string,
  ): void {
    const outcome = answer.kind === "write"
      ? answer.ok ? "acked" : "rejected"
      : answer.reason === "503" || answer.reason === "refused"
      ? "refused503"
      : answer.reason === "not-sent"
      ? "notSent"
      : "unknown";
    const revision = answer.kind === "write" ? answer.revision : null;
    const detail = answer.kind === "unknown" ? `${answer.reason}: ${answer.detail}` : null;
    const atMs = performance.now();
    this.writes.push({ opId, key, value, outcome, revision, via: url, detail, atMs });
  }

  #complete(id: number, output: KvOutput): void {
    this.stats.ok++;
    this.#recorder.complete(id, output);
  }

  #unknown(id: number, answer: UnknownAnswer): void {
    this.stats.unknown[answer.reason]++;
    if (answer.reason === "not-sent") this.#dropped.add(id);
    if (answer.reason === "refused" && this.#trustRefusals) this.#dropped.add(id);
    if (answer.reason === "other" && this.oddAnswers.length < 20) {
      this.oddAnswers.push(answer.detail);
    }
    this.#recorder.unknown(id);
  }
}

/** Whether an operation can change nothing (an unknown one then drops out soundly). */
function readOnly(input: KvInput): boolean {
  if (input.op === "get") return true;
  return input.op === "txn" && [...input.success, ...input.failure].every((o) => o.op === "get");
}
