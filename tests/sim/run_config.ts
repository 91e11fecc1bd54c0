/**
 * The shape of one simulated run, drawn from its seed: cluster size, core options, disk
 * and network behaviour, and how hard the nemesis hits. Printing it makes a failing
 * seed's conditions obvious at a glance.
 *
 * @module
 */

import type { LinkProfile } from "./network.ts";
import type { Prng } from "./prng.ts";
import type { HostNodeSettings, HostOptions } from "./sim_host.ts";
import { DEFAULTS } from "../../src/node/config.ts";

/**
 * Write deadlines as many election timeouts long as the flags' defaults make them
 * (5 s over a 1 s election timeout), run on virtual time.
 */
const WRITE_TIMEOUT_ELECTIONS = DEFAULTS.writeTimeoutMs /
  (DEFAULTS.tickMs * DEFAULTS.electionTicks);

/** Virtual milliseconds between two ticks of a node. */
export const TICK_MS = 10;
/** Most voters a run may grow to through membership changes. */
export const MAX_VOTERS = 7;
/** Fewest voters a run may shrink to through removals. */
export const MIN_VOTERS = 3;
/** Most hosts (voters + learners + joiners) alive in one run. */
export const MAX_HOSTS = 10;

/** Everything a run's seed decides up front. */
export interface RunConfig {
  seed: number;
  voters: number;
  learners: number;
  electionTicks: number;
  heartbeatTicks: number;
  preVote: boolean;
  checkQuorum: boolean;
  maxAppendBytes: number;
  maxInflightAppends: number;
  maxUncommittedBytes: number;
  /** Per-host disk behaviour, by position (hosts added later draw their own). */
  hosts: HostOptions[];
  /** Node settings every host runs with. */
  node: HostNodeSettings;
  calmLink: LinkProfile;
  stormLink: LinkProfile;
  /** Relative weights of the scheduler's choices during the fault phase. */
  weights: ActionWeights;
  /** Whether membership changes may add fresh hosts. */
  joiners: boolean;
  /** Probability that a Ready's fsync is interrupted by a crash (quick restart). */
  crashInFsyncRate: number;
  /** Probability that a snapshot stream is cut part-way (the receiver sees an error). */
  snapshotCutRate: number;
}

/** Relative frequency of each scheduler action per step. */
export interface ActionWeights {
  event: number;
  client: number;
  crash: number;
  leaderFsyncCrash: number;
  holdBack: number;
  wipe: number;
  pause: number;
  partition: number;
  heal: number;
  linkChange: number;
  membership: number;
  compact: number;
  transfer: number;
}

/** Optional overrides, e.g. to pin a cluster size in a test. */
export interface RunShape {
  voters?: number;
  learners?: number;
  /** False keeps membership changes to promote/remove (no fresh hosts join). */
  joiners?: boolean;
}

/** Draws the run's configuration from `prng`. */
export function drawRunConfig(seed: number, prng: Prng, shape: RunShape = {}): RunConfig {
  const voters = shape.voters ?? prng.pick([3, 3, 5, 5, 5, 7]);
  const learners = shape.learners ?? prng.pick([0, 0, 1, 2]);
  const base = {
    electionTicks: 10,
    heartbeatTicks: prng.pick([1, 1, 2, 3]),
    preVote: prng.chance(0.7),
    checkQuorum: prng.chance(0.6),
    maxAppendBytes: prng.pick([64, 512, 4096, 1 << 20]),
    maxInflightAppends: prng.pick([1, 2, 8, 256]),
    maxUncommittedBytes: prng.pick([256, 4096, 1 << 24]),
  };
  const torn = prng.chance(0.5);
  const hosts: HostOptions[] = [];
  for (let i = 0; i < voters + learners; i++) hosts.push(drawHostOptions(prng, torn));
  const slow = prng.chance(0.3);
  return {
    seed,
    voters,
    learners,
    ...base,
    hosts,
    node: {
      tickMs: TICK_MS,
      electionTicks: base.electionTicks,
      heartbeatTicks: base.heartbeatTicks,
      snapshotEntries: prng.pick([0, 20, 100]),
      trailingEntries: prng.pick([0, 5, 50]),
      promoteMaxLag: prng.pick([5, 1000]),
      writeTimeoutMs: WRITE_TIMEOUT_ELECTIONS * TICK_MS * base.electionTicks,
    },
    calmLink: {
      dropRate: 0,
      duplicateRate: 0,
      minDelayMs: 1,
      maxDelayMs: slow ? 12 : 4,
      spikeRate: 0,
      spikeDelayMs: 0,
      fifo: true,
    },
    stormLink: {
      dropRate: prng.pick([0.02, 0.1, 0.25]),
      duplicateRate: prng.pick([0, 0.02, 0.1]),
      minDelayMs: 1,
      maxDelayMs: prng.pick([5, 20, 40]),
      spikeRate: prng.pick([0, 0.01, 0.05]),
      spikeDelayMs: prng.pick([50, 150]),
      fifo: false,
    },
    joiners: shape.joiners ?? true,
    crashInFsyncRate: prng.pick([0, 0.001, 0.005]),
    snapshotCutRate: prng.pick([0, 0.1, 0.3]),
    weights: drawWeights(prng),
  };
}

/**
 * How often each action happens. A quarter of runs are "nemesis-heavy": faults several
 * times more frequent, so overlapping crashes, partitions and membership changes occur.
 */
function drawWeights(prng: Prng): ActionWeights {
  const fury = prng.pick([0.5, 1, 1, 4]);
  return {
    event: 1,
    client: prng.pick([0.03, 0.07, 0.12]),
    crash: fury * prng.pick([0.0005, 0.002]),
    leaderFsyncCrash: fury * prng.pick([0, 0.001, 0.003]),
    holdBack: fury * prng.pick([0, 0.001, 0.003]),
    wipe: fury * prng.pick([0, 0.0002, 0.0005]),
    pause: fury * prng.pick([0, 0.0005, 0.001]),
    partition: fury * prng.pick([0.0005, 0.002]),
    heal: 0.002,
    linkChange: 0.001,
    membership: fury * prng.pick([0, 0.001, 0.003]),
    compact: prng.pick([0.001, 0.005]),
    transfer: fury * prng.pick([0, 0.001]),
  };
}

/** Disk behaviour for one host: a third persist at once, the rest take 1..maxMs. */
export function drawHostOptions(prng: Prng, tornWrites: boolean): HostOptions {
  if (prng.chance(0.33)) return { fsyncMinMs: 0, fsyncMaxMs: 0, tornWrites };
  const max = prng.pick([2, 5, 15, 30]);
  return { fsyncMinMs: 1, fsyncMaxMs: max, tornWrites };
}

/** One line describing the run, printed in traces and failure reports. */
export function describeConfig(c: RunConfig): string {
  const disks = c.hosts.map((h) => (h.fsyncMaxMs === 0 ? "sync" : `${h.fsyncMaxMs}ms`)).join(",") +
    (c.hosts[0]?.tornWrites === true ? " torn" : "");
  return `seed=${c.seed} voters=${c.voters} learners=${c.learners} preVote=${c.preVote} ` +
    `checkQuorum=${c.checkQuorum} hb=${c.heartbeatTicks} maxAppend=${c.maxAppendBytes}B ` +
    `inflight=${c.maxInflightAppends} uncommitted=${c.maxUncommittedBytes}B disks=[${disks}] ` +
    `snapEvery=${c.node.snapshotEntries} trailing=${c.node.trailingEntries} ` +
    `storm(drop=${c.stormLink.dropRate} dup=${c.stormLink.duplicateRate} ` +
    `delay≤${c.stormLink.maxDelayMs}ms)`;
}
