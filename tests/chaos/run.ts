/**
 * One chaos run from start to verdict: build the network, start the cluster, run the
 * clients and the nemesis for a while, heal, check, clean up. Used by the CLI
 * (main.ts) and the CI test (chaos_test.ts).
 *
 * @module
 */

import { HistoryRecorder, mulberry32, type Operation, saveHistory } from "./history.ts";
import { checkHistory, type CheckResult, formatFailure } from "./linearizability.ts";
import { ChaosCluster, nodeIds, waitFor } from "./cluster.ts";
import { NetnsNetwork, netnsUnavailableReason } from "./netns.ts";
import { type FaultKind, FaultPlan, type FaultRecord, Nemesis } from "./nemesis.ts";
import { newHttpClient, Workload, type WorkloadStats, type WriteRecord } from "./clients.ts";
import { kvGet, type ReadAnswer } from "./kv_http.ts";
import { reduceUnknowns } from "./reduce.ts";
import { checkAckedWrites, checkObservedValues, checkStoreRevision, summarize } from "./checks.ts";
import type { RuntimeName } from "../../src/runtime/runtime.ts";
import { COUNTER_KEY, LockWorkload } from "./lock_workload.ts";
import { checkFencedCounter, type IncrementRecord, type LockSummary } from "./lock_checks.ts";

/** The cluster must take a write within this long after everything is healed. */
export const WRITE_AFTER_HEAL_MS = 5000;
/** Part of the checker budget the reduced history may use before the full one runs. */
const REDUCED_BUDGET_SHARE = 0.25;
/** Deadline of one catch-up read. */
const PROBE_TIMEOUT_MS = 1000;
/** How long the final reads and the learner's catch-up may take. */
const SETTLE_TIMEOUT_MS = 20_000;

/** What a run does. */
export interface ChaosOptions {
  seed: number;
  /** Seconds of workload under faults. */
  timeSec: number;
  kinds: readonly FaultKind[];
  clients: number;
  learnerReaders: number;
  /** Clients of the fenced-lock workload (0: none). */
  lockClients: number;
  keys: number;
  /** Extra node flags. */
  nodeFlags: string[];
  /** Runtime of each node in turn (`--runtimes deno,bun` mixes them); Deno when absent. */
  runtimes?: RuntimeName[];
  checkTimeoutMs: number;
  /** Run nodes in network namespaces when possible (false: 127.0.0.1, no partitions). */
  netns: boolean;
  /** Leave writes the server says were not applied (503) out of the history. */
  trustRefusals: boolean;
  /** Where results/chaos-<seed>/ goes on failure. */
  resultsRoot: string;
  log: (line: string) => void;
}

/** Sensible defaults: 5 voters + 1 learner, 10 clients, 5 keys. */
export const DEFAULT_OPTIONS: Omit<ChaosOptions, "seed" | "log"> = {
  timeSec: 30,
  kinds: ["kill", "pause", "partition"],
  clients: 10,
  learnerReaders: 2,
  lockClients: 3,
  keys: 5,
  nodeFlags: ["--snapshot-entries", "2000", "--snapshot-trailing", "500"],
  checkTimeoutMs: 120_000,
  trustRefusals: true,
  netns: true,
  resultsRoot: new URL("../../results", import.meta.url).pathname,
};

const VOTERS = 5;
const LEARNERS = 1;

/** The verdict and figures of a run. */
export interface ChaosReport {
  passed: boolean;
  seed: number;
  network: "netns" | "loopback";
  /** Why partitions were skipped, when they were. */
  networkNote: string | null;
  failures: string[];
  /** Operations in the checked history. */
  ops: number;
  /** Of those: answered (ok), answered "CAS or txn compare lost" (failed), outcome unknown. */
  counts: { ok: number; failed: number; unknown: number };
  /** Recorded operations left out of the check (never sent, unanswered reads). */
  leftOut: number;
  stats: WorkloadStats;
  /** The fenced-lock workload's figures (null without lock clients). */
  lock: (LockSummary & { acquired: number; acquireFailed: number }) | null;
  faults: FaultRecord[];
  checkerMs: number;
  checker: string;
  writeAfterHealMs: number | null;
  resultsPath: string | null;
}

/** What a failed run saves besides the report. */
interface RunRecords {
  history: Operation[];
  /** The lock workload's fenced increments and counter reads. */
  increments: IncrementRecord[];
  counterReads: (string | null)[];
  writes: WriteRecord[];
  via: Map<number, string>;
}

/** Runs one chaos test; never throws for a failed check (see `passed`), only for harness faults. */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const { log } = options;
  const networkNote = options.netns ? await netnsUnavailableReason() : "disabled by --no-netns";
  let kinds = options.kinds;
  if (networkNote !== null) {
    log(
      `WARNING: no network namespaces (${networkNote}); nodes run on 127.0.0.1 and ` +
        `partitions are SKIPPED (kill and pause still run)`,
    );
    kinds = kinds.filter((k) => k !== "partition");
  }
  await removeStaleRunDirs();
  const root = await Deno.makeTempDir({ prefix: RUN_DIR_PREFIX });
  await Deno.writeTextFile(`${root}/owner.pid`, String(Deno.pid));
  let network: NetnsNetwork | null = null;
  let cluster: ChaosCluster | null = null;
  const cleanup = async () => {
    await cluster?.stop();
    await network?.destroy();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  };
  const onSignal = () => {
    log("interrupted: cleaning up");
    void cleanup().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    if (networkNote === null) network = await NetnsNetwork.create(nodeIds(VOTERS, LEARNERS));
    cluster = await ChaosCluster.start({
      voters: VOTERS,
      learners: LEARNERS,
      root,
      network,
      flags: options.nodeFlags,
      ...(options.runtimes ? { runtimes: options.runtimes } : {}),
    });
    log(
      `cluster up: ${
        cluster.nodes.map((n) =>
          `${n.id}${n.learner ? "(learner)" : ""}${n.runtime === "deno" ? "" : `(${n.runtime})`}=` +
          n.httpUrl
        ).join(" ")
      }`,
    );
    const report = await exercise(options, kinds, cluster, network);
    report.networkNote = networkNote;
    if (!report.passed) report.resultsPath = await saveResults(options, root, report);
    return report;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    await cleanup();
  }
}

/** Prefix of a run's working directory (data and logs) in the temp dir. */
const RUN_DIR_PREFIX = "rkvchaos-run-";
/** An ownerless run directory older than this is a leftover. */
const STALE_UNOWNED_MS = 60_000;

/** Removes working directories of runs whose process is gone (killed with SIGKILL). */
async function removeStaleRunDirs(): Promise<void> {
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  for await (const entry of Deno.readDir(tmp)) {
    if (!entry.isDirectory || !entry.name.startsWith(RUN_DIR_PREFIX)) continue;
    const dir = `${tmp}/${entry.name}`;
    const pid = await Deno.readTextFile(`${dir}/owner.pid`).catch(() => "");
    // A directory without an owner may be a run starting this very moment.
    const ageMs = Date.now() - ((await Deno.stat(dir)).mtime?.getTime() ?? 0);
    const alive = pid === ""
      ? ageMs < STALE_UNOWNED_MS
      : await Deno.stat(`/proc/${pid.trim()}`).then(() => true, () => false);
    if (!alive) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The workload under faults, the healing and every check. */
async function exercise(
  options: ChaosOptions,
  kinds: readonly FaultKind[],
  cluster: ChaosCluster,
  network: NetnsNetwork | null,
): Promise<ChaosReport & RunRecords> {
  const { log } = options;
  const recorder = new HistoryRecorder();
  const workload = new Workload(recorder, cluster, options.keys, options.trustRefusals);
  const seeds = mulberry32(options.seed);
  const seedOf = () => Math.floor(seeds() * 2 ** 31);
  const running: Promise<void>[] = [];
  for (let c = 0; c < options.clients; c++) running.push(workload.runClient(c, seedOf()));
  for (let r = 0; r < options.learnerReaders; r++) {
    running.push(workload.runLearnerReader(r, seedOf()));
  }
  const locks = new LockWorkload(cluster);
  for (let l = 0; l < options.lockClients; l++) {
    running.push(locks.runClient(options.clients + 2 + l, seedOf()));
  }
  // Without network namespaces partitions are skipped, which may leave no fault kind.
  const nemesis = kinds.length > 0
    ? new Nemesis(cluster, network, new FaultPlan(options.seed, kinds))
    : null;
  const nemesisDone = nemesis?.run(log) ?? Promise.resolve();
  await new Promise((r) => setTimeout(r, options.timeSec * 1000));
  nemesis?.stop();
  await nemesisDone;
  workload.stop();
  locks.stop();
  await Promise.all(running);

  const failures: string[] = [];
  const healStarted = performance.now();
  await nemesis?.healAll(log);
  // Restarted processes need a moment to boot (more on a loaded CI machine); the
  // cluster's availability is measured from when every process serves HTTP again.
  const up = await cluster.waitUntilServing(SETTLE_TIMEOUT_MS);
  if (up.length > 0) failures.push(`nodes ${up.join(",")} did not serve HTTP after healing`);
  const healedAt = performance.now();
  log(
    `healed: all faults removed, every node serving after ${
      (healedAt - healStarted).toFixed(0)
    } ms`,
  );
  const writeAfterHealMs = await probeWrite(workload, cluster, options.clients, healedAt);
  if (writeAfterHealMs === null || writeAfterHealMs > WRITE_AFTER_HEAL_MS) {
    failures.push(
      `no write was accepted within ${WRITE_AFTER_HEAL_MS} ms of healing` +
        (writeAfterHealMs === null ? "" : ` (took ${writeAfterHealMs.toFixed(0)} ms)`),
    );
  }
  const finals = await finalReads(workload, cluster, options.clients + 1);
  const allKeys = workload.keys;
  if (finals.size < allKeys.length) failures.push("final reads did not all succeed");
  failures.push(...await learnerConverges(workload, cluster));
  let lock: ChaosReport["lock"] = null;
  if (options.lockClients > 0) {
    const final = await finalCounter(locks, cluster);
    if (final === undefined) failures.push(`the final read of ${COUNTER_KEY} did not succeed`);
    else {
      const verdict = checkFencedCounter(locks.increments, locks.reads, final);
      lock = {
        ...verdict.summary,
        acquired: locks.stats.acquired,
        acquireFailed: locks.stats.acquireFailed,
      };
      if (verdict.violations.length > 0) {
        failures.push(
          `fenced lock counter is exact: FAILED\n  ${summarize(verdict.violations).join("\n  ")}`,
        );
      }
      if (verdict.summary.acked === 0) {
        failures.push(
          `the lock workload acknowledged no fenced increment (${locks.stats.acquired} ` +
            `acquired, ${locks.stats.acquireFailed} failed: ${locks.acquireErrors.join("; ")})`,
        );
      }
    }
  }

  for (const exit of cluster.unexpectedExits) {
    failures.push(
      `node ${exit.node} exited on its own (code ${exit.code}, signal ` +
        `${exit.signal}); last log lines:\n${exit.tail}`,
    );
  }
  await cluster.stop();

  const history = workload.history();
  log(`checking ${history.length} operations for linearizability...`);
  const verdict = checkLinearizable(history, options.checkTimeoutMs);
  const result = verdict.result;
  if (result.ok !== true) failures.push(formatFailure(result));
  if (verdict.reducedFailure !== undefined) {
    failures.push(
      `the reduced history (unknown writes nobody read dropped) is not linearizable; not ` +
        `proof, since a dropped write may explain it, but the likely lead:\n` +
        verdict.reducedFailure,
    );
  }
  for (
    const [name, found] of [
      ["acknowledged writes survive", checkAckedWrites(workload.writes, finals)],
      ["store revision covers acknowledged writes", checkStoreRevision(workload.writes, finals)],
      [
        "reads return only values that were written and not refused",
        checkObservedValues(
          workload.writes,
          workload.observed,
        ),
      ],
      ["learner stale reads are monotonic per reader", workload.monotonicViolations],
      ["a transaction's writes land at its one revision", workload.txnViolations],
    ] as const
  ) {
    if (found.length > 0) failures.push(`${name}: FAILED\n  ${summarize(found).join("\n  ")}`);
  }
  return {
    passed: failures.length === 0,
    seed: options.seed,
    network: network === null ? "loopback" : "netns",
    networkNote: null,
    failures,
    ops: history.length,
    counts: countOutcomes(history),
    leftOut: recorder.history().length - history.length,
    stats: workload.stats,
    lock,
    faults: nemesis?.faults ?? [],
    checkerMs: verdict.elapsedMs,
    checker:
      (result.ok === true
        ? formatFailure(result)
        : result.ok === false
        ? "NOT linearizable"
        : "undecided (checker budget ran out; try --check-timeout)") + ` [${verdict.how}]`,
    writeAfterHealMs,
    resultsPath: null,
    history,
    writes: workload.writes,
    via: workload.via,
    increments: locks.increments,
    counterReads: locks.reads,
  };
}

/**
 * Checks the cheap reduced history first (a pass there is a sound pass, see
 * reduce.ts); only if it does not pass, the full history decides.
 */
function checkLinearizable(
  history: readonly Operation[],
  budgetMs: number,
): { result: CheckResult; how: string; elapsedMs: number; reducedFailure?: string } {
  const started = performance.now();
  const reduction = reduceUnknowns(history);
  const reducedResult = checkHistory(reduction.history, {
    timeoutMs: budgetMs * REDUCED_BUDGET_SHARE,
  });
  const reducedNote = `${reduction.promoted} unknown writes seen by reads promoted, ` +
    `${reduction.dropped} other unknown ops dropped`;
  if (reducedResult.ok === true) {
    return {
      result: reducedResult,
      how: `reduced history: ${reducedNote}`,
      elapsedMs: performance.now() - started,
    };
  }
  const remainingMs = Math.max(1000, budgetMs - (performance.now() - started));
  const result = checkHistory(history, { timeoutMs: remainingMs });
  return {
    result,
    how: `full history, after the reduced one (${reducedNote}) did not pass`,
    elapsedMs: performance.now() - started,
    // A failure of the reduced history is no proof (a dropped unknown write may explain
    // it), but when the full one is undecided it is the best lead there is.
    ...(result.ok === "unknown" && reducedResult.ok === false
      ? { reducedFailure: formatFailure(reducedResult) }
      : {}),
  };
}

function countOutcomes(history: readonly Operation[]): ChaosReport["counts"] {
  const counts = { ok: 0, failed: 0, unknown: 0 };
  for (const op of history) {
    if (op.output === null) counts.unknown++;
    else if ("ok" in op.output && !op.output.ok) counts.failed++;
    else if ("succeeded" in op.output && !op.output.succeeded) counts.failed++;
    else counts.ok++;
  }
  return counts;
}

/** Writes until one is acknowledged; the time from `healedAt`, or null if none within the deadline. */
async function probeWrite(
  workload: Workload,
  cluster: ChaosCluster,
  client: number,
  healedAt: number,
): Promise<number | null> {
  const http = newHttpClient();
  try {
    for (let attempt = 0; performance.now() - healedAt < 3 * WRITE_AFTER_HEAL_MS; attempt++) {
      const voters = cluster.voters();
      const node = voters[attempt % voters.length];
      if (node === undefined) break;
      const answer = await workload.put(
        http,
        client,
        node.httpUrl,
        workload.latestKey(),
        `probe-${attempt}`,
        null,
      );
      if (answer.kind === "write") return performance.now() - healedAt;
      await new Promise((r) => setTimeout(r, 50));
    }
    return null;
  } finally {
    http.close();
  }
}

/** A linearizable read of every key through the leader, recorded into the history. */
async function finalReads(
  workload: Workload,
  cluster: ChaosCluster,
  client: number,
): Promise<Map<string, ReadAnswer>> {
  const finals = new Map<string, ReadAnswer>();
  const keys = workload.keys;
  const http = newHttpClient();
  try {
    await waitFor("final reads", async () => {
      const leader = await cluster.leader();
      if (leader === null) return undefined;
      for (const key of keys) {
        if (finals.has(key)) continue;
        const read = await workload.get(http, client, leader.httpUrl, key, "final");
        if (read !== null) finals.set(key, read);
      }
      return finals.size === keys.length ? true : undefined;
    }, SETTLE_TIMEOUT_MS).catch(() => {});
  } finally {
    http.close();
  }
  return finals;
}

/** The counter's final value through the leader (null: missing), or undefined if unread. */
async function finalCounter(
  locks: LockWorkload,
  cluster: ChaosCluster,
): Promise<string | null | undefined> {
  let final: string | null | undefined;
  await waitFor("final counter read", async () => {
    const leader = await cluster.leader();
    if (leader === null) return undefined;
    const read = await locks.finalRead(leader.httpUrl);
    if (read === null) return undefined;
    final = read.value;
    return true;
  }, SETTLE_TIMEOUT_MS).catch(() => {});
  return final;
}

/** Once healed, every learner's stale reads catch up with the leader's linearizable ones. */
async function learnerConverges(workload: Workload, cluster: ChaosCluster): Promise<string[]> {
  const http = newHttpClient();
  const failures: string[] = [];
  try {
    for (const learner of cluster.learners()) {
      let last = "";
      const ok = await waitFor(`${learner.id} to catch up`, async () => {
        const leader = await cluster.leader();
        if (leader === null) return undefined;
        for (const key of workload.keys) {
          const [mine, theirs] = await Promise.all([
            kvGet(http, learner.httpUrl, key, "stale", PROBE_TIMEOUT_MS),
            kvGet(http, leader.httpUrl, key, "linearizable", PROBE_TIMEOUT_MS),
          ]);
          if (mine.kind !== "read" || theirs.kind !== "read") return undefined;
          if (mine.value !== theirs.value) {
            last = `key ${key}: learner has ${mine.value}, leader ${theirs.value}`;
            return undefined;
          }
        }
        return true;
      }, SETTLE_TIMEOUT_MS).catch(() => false);
      if (!ok) failures.push(`learner ${learner.id} did not catch up after healing (${last})`);
    }
  } finally {
    http.close();
  }
  return failures;
}

/** Saves history, fault log, report and node logs under results/chaos-<seed>/. */
async function saveResults(
  options: ChaosOptions,
  root: string,
  report: ChaosReport & RunRecords,
): Promise<string> {
  const dir = `${options.resultsRoot}/chaos-${options.seed}`;
  await Deno.mkdir(`${dir}/logs`, { recursive: true });
  await saveHistory(`${dir}/history.jsonl`, report.history);
  await Deno.writeTextFile(`${dir}/faults.json`, JSON.stringify(report.faults, null, 2));
  // Every write attempt, including those left out of the history (refused, never sent).
  await Deno.writeTextFile(
    `${dir}/writes.jsonl`,
    report.writes.map((w) => JSON.stringify(w) + "\n").join(""),
  );
  await Deno.writeTextFile(
    `${dir}/lock.json`,
    JSON.stringify({ increments: report.increments, reads: report.counterReads }, null, 1),
  );
  await Deno.writeTextFile(
    `${dir}/via.json`,
    JSON.stringify(Object.fromEntries(report.via)),
  );
  await Deno.writeTextFile(`${dir}/failures.txt`, report.failures.join("\n\n") + "\n");
  for await (const entry of Deno.readDir(`${root}/logs`)) {
    await Deno.copyFile(`${root}/logs/${entry.name}`, `${dir}/logs/${entry.name}`);
  }
  return dir;
}
