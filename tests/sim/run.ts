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
  const cluster = new Cluster(config, opts.core, prng.fork(), trace);
  if (trace.verbose) (opts.write ?? console.log)(`config: ${describeConfig(config)}`);
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
 * Heal, restart, stop faults; then within the deadline a leader must exist and a fresh
 * write must apply on every live member. Finally every acked write must be applied.
 */
function finalPhase(c: Cluster): void {
  c.heal();
  c.network.setAllLinks(c.config.calmLink);
  c.restartAll();
  const deadlineMs = c.nowMs + LIVENESS_ELECTION_TIMEOUTS * c.config.electionTicks * TICK_MS;
  const data = new TextEncoder().encode(`final${c.config.seed}`);
  const stepLimit = c.step + MAX_FINAL_PHASE_STEPS;
  let nextProbeMs = c.nowMs;
  for (; c.nowMs <= deadlineMs && c.step < stepLimit; c.step++) {
    if (c.restartsPending) c.restartAll();
    const leader = c.leader();
    if (leader !== null && c.probe?.acked === true) {
      const members = c.liveMembers(leader);
      const probeIndex = c.probe.index;
      if (members.every((n) => (n.sm?.index ?? 0) >= probeIndex)) {
        for (const n of members) {
          const sm = n.sm;
          if (sm !== null) c.inv.checkAckedApplied(n.id, sm.index, sm.digest);
        }
        return;
      }
    }
    if (leader !== null && c.probe?.acked !== true && c.nowMs >= nextProbeMs) {
      // (Re)propose: an earlier probe may have been lost with a deposed leader.
      const res = c.proposeProbe(leader, data);
      c.probe = res.ok ? { index: res.index, term: res.term, acked: false } : c.probe;
      nextProbeMs = c.nowMs + c.config.electionTicks * TICK_MS;
    }
    if (!c.runNextEvent()) break;
  }
  const leader = c.leader();
  throw new InvariantViolation(
    "liveness",
    leader === null
      ? `no leader ${LIVENESS_ELECTION_TIMEOUTS} election timeouts after healing`
      : `a fresh write did not apply on every live member of ${leader.id}'s term ` +
        `${leader.status().term} (probe ${JSON.stringify(c.probe)}; applied: ` +
        c.liveMembers(leader).map((n) => `${n.id}=${n.sm?.index ?? "-"}`).join(" ") + ")",
  );
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
