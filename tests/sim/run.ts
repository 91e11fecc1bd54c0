/**
 * One seeded simulation run of the shipped node: a fault phase where the scheduler picks
 * a random action per step, then a final phase that heals everything, restarts crashed
 * hosts, stops faults and demands liveness (a leader, and a fresh write applied on every
 * live member within {@link LIVENESS_ELECTION_TIMEOUTS} election timeouts), checks that
 * due TTLs expired everywhere and that every live member holds the same data, and finally
 * that the clients' whole history (reads, writes, compare-and-sets, with the final state)
 * is linearizable, which also proves that no acknowledged write was lost.
 *
 * @module
 */

import { Cluster, type ClusterStats } from "./cluster.ts";
import type { Core } from "./core.ts";
import { InvariantViolation } from "./invariants.ts";
import type { SimHost } from "./sim_host.ts";
import { Prng } from "./prng.ts";
import { describeConfig, drawRunConfig, type RunShape, TICK_MS } from "./run_config.ts";
import { Trace } from "./trace.ts";
import { checkHistory, formatFailure } from "../chaos/linearizability.ts";

/** Election timeouts the healed cluster gets to elect a leader and commit a write. */
export const LIVENESS_ELECTION_TIMEOUTS = 50;
/** Hard cap on final-phase steps, so a message storm cannot hang a run. */
export const MAX_FINAL_PHASE_STEPS = 2_000_000;
/** Most stall windows the final phase may take while the cluster keeps progressing. */
export const MAX_CATCH_UP_WINDOWS = 10;
/** Real ms the linearizability checker may spend on one run's history. */
export const CHECK_TIMEOUT_MS = 10_000;
/** Keys read back per page when comparing replicas at the end (the store's list limit). */
export const COMPARE_PAGE_KEYS = 10_000;

/** What to run. */
export interface RunOptions {
  seed: number;
  steps: number;
  core: Core;
  /** Print every trace line as it happens. */
  verbose?: boolean;
  /** Where trace lines go (default console.log). */
  write?: (line: string) => void;
  shape?: RunShape;
}

/** Why a run failed. */
export interface RunFailure {
  step: number;
  atMs: number;
  invariant: string;
  message: string;
  stack: string;
  /** The last trace lines before the failure. */
  trace: string[];
}

/** The outcome of one run. */
export interface RunResult {
  seed: number;
  config: string;
  /** Fault-phase steps asked for (what a replay must pass as --steps). */
  stepsRequested: number;
  /** Steps actually taken, final phase included. */
  steps: number;
  /** The shape overrides the run used (a replay must pass them too). */
  shape: RunShape;
  virtualMs: number;
  stats: ClusterStats;
  failure: RunFailure | null;
}

type Action = keyof ReturnType<typeof drawRunConfig>["weights"];

/** Runs one seed to completion or to its first violated invariant. */
export async function runSimulation(opts: RunOptions): Promise<RunResult> {
  const prng = new Prng(opts.seed);
  const config = drawRunConfig(opts.seed, prng, opts.shape);
  const trace = new Trace(opts.verbose ?? false, opts.write);
  if (trace.verbose) (opts.write ?? console.log)(`config: ${describeConfig(config)}`);
  const cluster = new Cluster(config, opts.core, prng.fork(), trace);
  const actions = Object.keys(config.weights) as Action[];
  const weights = actions.map((a) => config.weights[a]);
  let failure: RunFailure | null = null;
  try {
    await cluster.init();
    for (cluster.step = 1; cluster.step <= opts.steps; cluster.step++) {
      await doAction(cluster, actions[prng.weighted(weights)] as Action);
    }
    await finalPhase(cluster);
  } catch (e) {
    failure = describeFailure(cluster, e);
  }
  cluster.finishStats();
  return {
    seed: opts.seed,
    config: describeConfig(config),
    stepsRequested: opts.steps,
    shape: opts.shape ?? {},
    steps: cluster.step,
    virtualMs: cluster.nowMs,
    stats: cluster.stats,
    failure,
  };
}

async function doAction(c: Cluster, action: Action): Promise<void> {
  switch (action) {
    case "event":
      await c.runNextEvent();
      return;
    case "client":
      c.clientRequest();
      break;
    case "crash":
      c.crashOne();
      break;
    case "leaderFsyncCrash":
      c.crashLeaderInFsync();
      break;
    case "holdBack":
      c.holdBackNewTermEntries();
      break;
    case "wipe":
      c.wipeOne();
      break;
    case "pause":
      c.pauseOne();
      break;
    case "partition":
      c.partition();
      break;
    case "heal":
      c.heal();
      break;
    case "linkChange":
      c.changeLinks();
      break;
    case "membership":
      c.changeMembership();
      break;
    case "compact":
      c.compactOne();
      break;
    case "transfer":
      c.transferLeadership();
      break;
  }
  await c.settle();
}

/**
 * Heal, restart, stop faults; then a leader must exist and a fresh write must apply on
 * every live member, within {@link LIVENESS_ELECTION_TIMEOUTS} election timeouts without
 * progress (at most {@link MAX_CATCH_UP_WINDOWS} such windows in all). Then due TTLs
 * must have expired everywhere, replicas must agree, and the history must linearize.
 */
async function finalPhase(c: Cluster): Promise<void> {
  c.faults = false;
  c.heal();
  c.network.setAllLinks(c.config.calmLink);
  c.resumeAll();
  await c.restartAll();
  const windowMs = LIVENESS_ELECTION_TIMEOUTS * c.config.electionTicks * TICK_MS;
  const hardDeadlineMs = c.nowMs + MAX_CATCH_UP_WINDOWS * windowMs;
  let stallDeadlineMs = c.nowMs + windowMs;
  let progress = appliedSum(c);
  const stepLimit = c.step + MAX_FINAL_PHASE_STEPS;
  let probe: { host: SimHost; index: number | null; failed: boolean } | null = null;
  let nextProbeMs = c.nowMs;
  const ttlDueBy = c.nowMs;
  let blocker: InvariantViolation | null = null;
  for (; c.nowMs <= stallDeadlineMs && c.nowMs <= hardDeadlineMs && c.step < stepLimit; c.step++) {
    if (c.restartsPending) await c.restartAll();
    const leader = c.leader();
    if (leader !== null && probe !== null && probe.index !== null) {
      const target = Math.max(probe.index, leader.applied.index);
      const members = c.liveMembers(leader);
      if (members.every((h) => h.applied.index === target)) {
        blocker = await ttlBlocker(c, members, ttlDueBy) ??
          await c.leases.blocker(members, ttlDueBy);
        if (blocker === null) return await finalChecks(c, leader, members);
      }
    }
    if (leader !== null && (probe === null || probe.failed) && c.nowMs >= nextProbeMs) {
      // (Re)propose: an earlier probe may have been lost with a deposed leader.
      const p: { host: SimHost; index: number | null; failed: boolean } = {
        host: leader,
        index: null,
        failed: false,
      };
      probe = p;
      const cmd = {
        op: "put" as const,
        key: "probe",
        value: new TextEncoder().encode(`final${c.config.seed}`),
        ttlMs: null,
        ifModRevision: null,
        createOnly: false,
      };
      leader.node.write(cmd, { idempotencyKey: null, signal: NEVER })
        .then(() => (p.index = leader.applied.index), () => (p.failed = true));
      nextProbeMs = c.nowMs + c.config.electionTicks * TICK_MS;
    }
    if (probe !== null && probe.index === null && c.nowMs >= nextProbeMs) probe.failed = true;
    if (!(await c.runNextEvent())) break;
    const now = appliedSum(c);
    if (now > progress) {
      progress = now;
      stallDeadlineMs = c.nowMs + windowMs;
    }
  }
  throw blocker ?? new InvariantViolation("liveness", describeStall(c, probe?.index ?? null));
}

const NEVER = new AbortController().signal;

function appliedSum(c: Cluster): number {
  let sum = 0;
  for (const h of c.upHosts()) sum += h.applied.index;
  return sum;
}

/** A TTL put due before the final phase that some live member still holds, if any. */
async function ttlBlocker(
  c: Cluster,
  members: SimHost[],
  dueBy: number,
): Promise<InvariantViolation | null> {
  for (const t of c.clients.ttlPuts) {
    if (t.expiresAtMs > dueBy) continue;
    for (const h of members) {
      const page = await h.node.list(t.key, null, 1, "stale", NEVER);
      if (page.items.some((kv) => kv.key === t.key)) {
        return new InvariantViolation(
          "ttl-expiry",
          `${h.id} still holds ${t.key}, due to expire at ${t.expiresAtMs}ms (now ${c.nowMs}ms)`,
        );
      }
    }
  }
  return null;
}

/** Every live member's whole store, as "value@modRevision" by key. */
async function dump(h: SimHost): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let after: string | null = null;
  for (;;) {
    const page = await h.node.list("", after, COMPARE_PAGE_KEYS, "stale", NEVER);
    for (const kv of page.items) out.set(kv.key, `${decoder.decode(kv.value)}@${kv.modRevision}`);
    const last = page.items[page.items.length - 1];
    if (!page.more || last === undefined) return out;
    after = last.key;
  }
}

const decoder = new TextDecoder();

/** Replicas agree key by key; the history, closed by the final state, linearizes. */
async function finalChecks(c: Cluster, leader: SimHost, members: SimHost[]): Promise<void> {
  const reference = await dump(leader);
  for (const h of members) {
    if (h === leader) continue;
    const mine = await dump(h);
    for (const key of new Set([...reference.keys(), ...mine.keys()])) {
      if (reference.get(key) !== mine.get(key)) {
        throw new InvariantViolation(
          "replica-divergence",
          `at applied index ${h.applied.index}, ${h.id} holds ${key}=${mine.get(key)} but ` +
            `${leader.id} holds ${reference.get(key)}`,
        );
      }
    }
  }
  await c.leases.checkAgreement(leader, members);
  c.clients.finish((key) => {
    const v = reference.get(key);
    return v === undefined ? null : v.slice(0, v.lastIndexOf("@"));
  });
  const result = checkHistory(c.clients.history, { timeoutMs: CHECK_TIMEOUT_MS });
  if (result.ok === false) {
    throw new InvariantViolation("linearizability", formatFailure(result));
  }
}

function describeStall(c: Cluster, probeIndex: number | null): string {
  const leader = c.leader();
  if (leader === null) {
    return `no leader after healing (${LIVENESS_ELECTION_TIMEOUTS} election timeouts without progress)`;
  }
  return `a fresh write did not apply on every live member of ${leader.id}'s term ` +
    `${leader.node.status().term} (probe at ${probeIndex ?? "?"}; applied: ` +
    c.liveMembers(leader).map((h) => `${h.id}=${h.applied.index}`).join(" ") + ")";
}

function describeFailure(c: Cluster, e: unknown): RunFailure {
  const err = e instanceof Error ? e : new Error(String(e));
  return {
    step: c.step,
    atMs: c.nowMs,
    invariant: e instanceof InvariantViolation ? e.invariant : "core-exception",
    message: err.message,
    stack: err.stack ?? "",
    trace: c.trace.tail(),
  };
}
