/**
 * One seeded simulation run: a fault phase where the scheduler picks a random action per
 * step, then a final phase that heals everything, restarts crashed hosts, stops faults
 * and demands liveness (a leader, and a fresh write applied on every live member within
 * {@link LIVENESS_ELECTION_TIMEOUTS} election timeouts), then checks that every
 * acknowledged write survived on every live member.
 *
 * @module
 */

import { Cluster, type ClusterStats } from "./cluster.ts";
import type { Core } from "./core.ts";
import { InvariantViolation } from "./invariants.ts";
import type { SimNode } from "./sim_node.ts";
import { Prng } from "./prng.ts";
import { describeConfig, drawRunConfig, type RunShape, TICK_MS } from "./run_config.ts";
import { Trace } from "./trace.ts";

/** Election timeouts the healed cluster gets to elect a leader and commit a write. */
export const LIVENESS_ELECTION_TIMEOUTS = 50;
/** Hard cap on final-phase steps, so a message storm cannot hang a run. */
export const MAX_FINAL_PHASE_STEPS = 2_000_000;

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
export function runSimulation(opts: RunOptions): RunResult {
  const prng = new Prng(opts.seed);
  const config = drawRunConfig(opts.seed, prng, opts.shape);
  const trace = new Trace(opts.verbose ?? false, opts.write);
  if (trace.verbose) (opts.write ?? console.log)(`config: ${describeConfig(config)}`);
  const cluster = new Cluster(config, opts.core, prng.fork(), trace);
  const actions = Object.keys(config.weights) as Action[];
  const weights = actions.map((a) => config.weights[a]);
  let failure: RunFailure | null = null;
  try {
    for (cluster.step = 1; cluster.step <= opts.steps; cluster.step++) {
      doAction(cluster, actions[prng.weighted(weights)] as Action);
    }
    finalPhase(cluster);
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

function doAction(c: Cluster, action: Action): void {
  switch (action) {
    case "event":
      c.runNextEvent();
      return;
    case "write":
      return c.clientWrite();
    case "read":
      return c.clientRead();
    case "crash":
      return c.crashOne();
    case "pause":
      return c.pauseOne();
    case "partition":
      return c.partition();
    case "heal":
      return c.heal();
    case "linkChange":
      return c.changeLinks();
    case "membership":
      return c.changeMembership();
    case "compact":
      return c.compactOne();
    case "transfer":
      return c.transferLeadership();
    case "campaign":
      return c.forceCampaign();
  }
}

/**
 * Heal, restart, stop faults; then a leader must exist and a fresh write must apply on
 * every live member. The cluster gets {@link LIVENESS_ELECTION_TIMEOUTS} election
 * timeouts without progress (nothing newly applied anywhere) before that counts as a
 * liveness failure, so a long catch-up backlog is not mistaken for a stall, and at most
 * {@link MAX_CATCH_UP_WINDOWS} such windows in all. Finally every acked write must be
 * applied on every live member.
 */
function finalPhase(c: Cluster): void {
  c.faults = false;
  c.heal();
  c.network.setAllLinks(c.config.calmLink);
  c.resumeAll();
  c.restartAll();
  const windowMs = LIVENESS_ELECTION_TIMEOUTS * c.config.electionTicks * TICK_MS;
  const hardDeadlineMs = c.nowMs + MAX_CATCH_UP_WINDOWS * windowMs;
  let stallDeadlineMs = c.nowMs + windowMs;
  let progress = appliedSum(c);
  const data = new TextEncoder().encode(`final${c.config.seed}`);
  const stepLimit = c.step + MAX_FINAL_PHASE_STEPS;
  let nextProbeMs = c.nowMs;
  for (; c.nowMs <= stallDeadlineMs && c.nowMs <= hardDeadlineMs && c.step < stepLimit; c.step++) {
    if (c.restartsPending) c.restartAll();
    const leader = c.leader();
    if (leader !== null && c.probe?.acked === true && allApplied(c, leader, c.probe.index)) {
      for (const n of c.liveMembers(leader)) {
        const sm = n.sm;
        if (sm !== null) c.inv.checkAckedApplied(n.id, sm.index, sm.digest);
      }
      return;
    }
    if (leader !== null && c.probe?.acked !== true && c.nowMs >= nextProbeMs) {
      // (Re)propose: an earlier probe may have been lost with a deposed leader.
      const res = c.proposeProbe(leader, data);
      c.probe = res.ok ? { index: res.index, term: res.term, acked: false } : c.probe;
      nextProbeMs = c.nowMs + c.config.electionTicks * TICK_MS;
    }
    if (!c.runNextEvent()) break;
    const now = appliedSum(c);
    if (now > progress) {
      progress = now;
      stallDeadlineMs = c.nowMs + windowMs;
    }
  }
  throw new InvariantViolation("liveness", describeStall(c));
}

/** Most stall windows the final phase may take while the cluster keeps progressing. */
export const MAX_CATCH_UP_WINDOWS = 10;

function appliedSum(c: Cluster): number {
  let sum = 0;
  for (const n of c.upNodes()) sum += n.sm?.index ?? 0;
  return sum;
}

function allApplied(c: Cluster, leader: SimNode, index: number): boolean {
  return c.liveMembers(leader).every((n) => (n.sm?.index ?? 0) >= index);
}

function describeStall(c: Cluster): string {
  const leader = c.leader();
  if (leader === null) {
    return `no leader after healing (${LIVENESS_ELECTION_TIMEOUTS} election timeouts without progress)`;
  }
  return `a fresh write did not apply on every live member of ${leader.id}'s term ` +
    `${leader.status().term} (probe ${JSON.stringify(c.probe)}; applied: ` +
    c.liveMembers(leader).map((n) => `${n.id}=${n.sm?.index ?? "-"}`).join(" ") + ")";
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
