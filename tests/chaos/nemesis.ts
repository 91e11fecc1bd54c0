/**
 * The nemesis: a seeded schedule of faults (kill -9 and restart, SIGSTOP/SIGCONT,
 * network partitions), each held for a while and then healed, with quiet gaps between.
 *
 * The schedule is a pure function of the seed ({@link FaultPlan}): kinds, variants,
 * hold and gap times and every random choice. Only "the leader" is resolved when the
 * fault fires, since which node leads depends on timing.
 *
 * @module
 */

import assert from "node:assert/strict";
import { mulberry32 } from "./history.ts";
import type { ChaosCluster, ChaosNode } from "./cluster.ts";
import type { Cut, NetnsNetwork } from "./netns.ts";

/** The fault families a run can draw from. */
export type FaultKind = "kill" | "pause" | "partition";
/** Every fault family. */
export const FAULT_KINDS: readonly FaultKind[] = ["kill", "pause", "partition"];

/** Variants per family, each with a weight. */
const VARIANTS: Record<FaultKind, readonly (readonly [string, number])[]> = {
  kill: [["leader", 3], ["one", 3], ["minority", 2], ["majority", 1], ["learner", 1]],
  pause: [["leader", 3], ["one", 3], ["minority", 2], ["learner", 1]],
  partition: [
    ["halves", 3],
    ["isolate-leader", 3],
    ["bridge", 2],
    ["leader-cannot-send", 1],
    ["leader-cannot-hear", 1],
  ],
};

/** Shortest and longest time a fault is held, and the quiet gap before it. */
export const MIN_HOLD_MS = 1500;
export const MAX_HOLD_MS = 6000;
export const MIN_GAP_MS = 1000;
export const MAX_GAP_MS = 4000;
/** Random numbers a fault carries for its choices (enough for any variant). */
const PICKS = 8;

/** One planned fault. */
export interface PlannedFault {
  kind: FaultKind;
  variant: string;
  gapMs: number;
  holdMs: number;
  /** Uniform [0, 1) numbers that choose targets and sides. */
  picks: number[];
}

/** The endless, seeded sequence of faults of a run. */
export class FaultPlan {
  readonly #rand: () => number;
  readonly #kinds: readonly FaultKind[];

  /** A plan drawing from `kinds` (at least one). */
  constructor(seed: number, kinds: readonly FaultKind[]) {
    assert(kinds.length > 0, "a fault plan needs at least one fault kind");
    this.#rand = mulberry32(seed ^ 0x6e656d65);
    this.#kinds = kinds;
  }

  /** The next fault. */
  next(): PlannedFault {
    const r = this.#rand;
    const kind = this.#kinds[Math.floor(r() * this.#kinds.length)] as FaultKind;
    const variants = VARIANTS[kind];
    const total = variants.reduce((sum, [, w]) => sum + w, 0);
    let roll = r() * total;
    let variant = variants[0]?.[0] ?? "";
    for (const [name, weight] of variants) {
      if (roll < weight) {
        variant = name;
        break;
      }
      roll -= weight;
    }
    const gapMs = MIN_GAP_MS + Math.floor(r() * (MAX_GAP_MS - MIN_GAP_MS));
    const holdMs = MIN_HOLD_MS + Math.floor(r() * (MAX_HOLD_MS - MIN_HOLD_MS));
    const picks = Array.from({ length: PICKS }, () => r());
    return { kind, variant, gapMs, holdMs, picks };
  }
}

/** What a fault does once its targets are known. */
export type ResolvedFault =
  | { kind: "kill" | "pause"; victims: string[] }
  | { kind: "partition"; cuts: Cut[]; sides: string };

/** Takes `n` items out of `pool` using `picks` (in order). */
function choose(pool: string[], n: number, picks: number[]): string[] {
  const rest = [...pool];
  const out: string[] = [];
  for (let i = 0; i < n && rest.length > 0; i++) {
    const at = Math.floor((picks[i % picks.length] ?? 0) * rest.length);
    out.push(...rest.splice(at, 1));
  }
  return out;
}

/** Every cut between two groups, both directions. */
function cutBetween(a: readonly string[], b: readonly string[]): Cut[] {
  return a.flatMap((x) => b.flatMap((y) => [{ from: x, to: y }, { from: y, to: x }]));
}

/**
 * Turns a planned fault into targets for the current cluster. `leader` is the node
 * leading now (null: none known, a random voter stands in). Learners follow a random
 * side in partitions.
 */
export function resolveFault(
  fault: PlannedFault,
  voters: readonly string[],
  learners: readonly string[],
  leader: string | null,
): ResolvedFault {
  const p = fault.picks;
  const lead = leader ?? choose([...voters], 1, p)[0] ?? "";
  const others = voters.filter((v) => v !== lead);
  const minority = Math.floor((voters.length - 1) / 2);
  if (fault.kind === "kill" || fault.kind === "pause") {
    const victims = fault.variant === "leader"
      ? [lead]
      : fault.variant === "one"
      ? choose([...voters], 1, p)
      : fault.variant === "minority"
      ? choose([...voters], minority, p)
      : fault.variant === "majority"
      ? choose([...voters], minority + 1, p)
      : learners.length > 0
      ? choose([...learners], 1, p)
      : [lead];
    return { kind: fault.kind, victims };
  }
  const withLearners = (a: string[], b: string[]): [string[], string[]] => {
    const [sideA, sideB] = [[...a], [...b]];
    for (const [i, l] of learners.entries()) {
      ((p[(i + 5) % PICKS] ?? 0) < 0.5 ? sideA : sideB).push(l);
    }
    return [sideA, sideB];
  };
  switch (fault.variant) {
    case "halves": {
      const small = choose([...voters], minority, p);
      const [a, b] = withLearners(small, voters.filter((v) => !small.includes(v)));
      return { kind: "partition", cuts: cutBetween(a, b), sides: `${a} | ${b}` };
    }
    case "isolate-leader": {
      const [a, b] = withLearners([lead], others);
      return { kind: "partition", cuts: cutBetween(a, b), sides: `${a} | ${b}` };
    }
    case "bridge": {
      const bridge = choose([...voters], 1, p)[0] ?? lead;
      const rest = voters.filter((v) => v !== bridge);
      const half = choose(rest, Math.floor(rest.length / 2), p.slice(1));
      const [a, b] = withLearners(half, rest.filter((v) => !half.includes(v)));
      return { kind: "partition", cuts: cutBetween(a, b), sides: `${a} | ${bridge} | ${b}` };
    }
    case "leader-cannot-send": {
      const cuts = [...others, ...learners].map((to) => ({ from: lead, to }));
      return { kind: "partition", cuts, sides: `${lead} -/-> ${others},${learners}` };
    }
    case "leader-cannot-hear": {
      const cuts = [...others, ...learners].map((from) => ({ from, to: lead }));
      return { kind: "partition", cuts, sides: `${others},${learners} -/-> ${lead}` };
    }
    default:
      throw new Error(`unknown partition variant ${fault.variant}`);
  }
}

/** One fault as it happened. */
export interface FaultRecord {
  kind: FaultKind;
  variant: string;
  what: string;
  /** Milliseconds since the run started. */
  startMs: number;
  endMs: number | null;
}

/** Runs a {@link FaultPlan} against a cluster until stopped. */
export class Nemesis {
  readonly faults: FaultRecord[] = [];
  readonly #cluster: ChaosCluster;
  readonly #network: NetnsNetwork | null;
  readonly #plan: FaultPlan;
  readonly #epochMs: number;
  #active: { fault: ResolvedFault; record: FaultRecord } | null = null;
  #stopped = false;
  #wake: (() => void) | null = null;

  /** A nemesis; partitions need `network`. */
  constructor(cluster: ChaosCluster, network: NetnsNetwork | null, plan: FaultPlan) {
    this.#cluster = cluster;
    this.#network = network;
    this.#plan = plan;
    this.#epochMs = performance.now();
  }

  /** Injects faults until {@link Nemesis.stop}; leaves the last one in place for healAll. */
  async run(log: (line: string) => void): Promise<void> {
    while (!this.#stopped) {
      const planned = this.#plan.next();
      await this.#sleep(planned.gapMs);
      if (this.#stopped) break;
      await this.#inject(planned, log);
      await this.#sleep(planned.holdMs);
      if (this.#stopped) break;
      await this.#heal(log);
    }
  }

  /** Ends {@link Nemesis.run} at its next step. */
  stop(): void {
    this.#stopped = true;
    this.#wake?.();
  }

  /** Heals the active fault, then resumes and restarts every node and clears all rules. */
  async healAll(log: (line: string) => void): Promise<void> {
    await this.#heal(log);
    await this.#network?.heal();
    this.#cluster.reviveAll();
  }

  async #inject(planned: PlannedFault, log: (line: string) => void): Promise<void> {
    const leader = await this.#cluster.leader();
    const voters = this.#cluster.voters().map((n) => n.id);
    const learners = this.#cluster.learners().map((n) => n.id);
    const fault = resolveFault(planned, voters, learners, leader?.id ?? null);
    const what = fault.kind === "partition"
      ? `partition ${planned.variant}: ${fault.sides}`
      : `${fault.kind} ${planned.variant}: ${fault.victims.join(",")}` +
        (leader ? ` (leader was ${leader.id})` : " (no leader known)");
    const record: FaultRecord = {
      kind: planned.kind,
      variant: planned.variant,
      what,
      startMs: this.#elapsed(),
      endMs: null,
    };
    this.faults.push(record);
    this.#active = { fault, record };
    log(`nemesis +${(record.startMs / 1000).toFixed(1)}s ${what}`);
    if (fault.kind === "partition") {
      assert(this.#network !== null, "partitions need network namespaces");
      await this.#network.partition(fault.cuts);
    } else if (fault.kind === "kill") {
      await Promise.all(this.#nodes(fault.victims).map((n) => this.#cluster.kill(n)));
    } else {
      for (const node of this.#nodes(fault.victims)) this.#cluster.pause(node);
    }
  }

  async #heal(log: (line: string) => void): Promise<void> {
    const active = this.#active;
    if (active === null) return;
    this.#active = null;
    const { fault, record } = active;
    if (fault.kind === "partition") await this.#network?.heal();
    else if (fault.kind === "kill") {
      for (const node of this.#nodes(fault.victims)) {
        if (node.process === null) this.#cluster.spawn(node);
      }
    } else {
      for (const node of this.#nodes(fault.victims)) this.#cluster.resume(node);
    }
    record.endMs = this.#elapsed();
    log(`nemesis +${(record.endMs / 1000).toFixed(1)}s healed ${record.kind} ${record.variant}`);
  }

  #nodes(ids: readonly string[]): ChaosNode[] {
    return this.#cluster.nodes.filter((n) => ids.includes(n.id));
  }

  #elapsed(): number {
    return Math.round(performance.now() - this.#epochMs);
  }

  async #sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
    this.#wake = null;
  }
}
