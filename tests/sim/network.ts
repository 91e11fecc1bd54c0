/**
 * The simulated network: per-link random drop, delay, duplication and reordering, plus
 * partitions (symmetric, one-way, bridge) that can be healed. Packets are delivered in
 * virtual-time order; a packet whose link is cut when it is sent or when it arrives is
 * dropped, as a TCP connection reset would lose it.
 *
 * @module
 */

import { EventQueue } from "./event_queue.ts";
import type { Prng } from "./prng.ts";

/** Most packets that may be in flight at once; more means a message storm. */
export const MAX_INFLIGHT_PACKETS = 200_000;

/** How one directed link misbehaves. Rates are probabilities per packet. */
export interface LinkProfile {
  dropRate: number;
  duplicateRate: number;
  minDelayMs: number;
  maxDelayMs: number;
  /** Probability that a packet is held back by `spikeDelayMs` (reorders it past later ones). */
  spikeRate: number;
  spikeDelayMs: number;
  /**
   * Deliver in send order, like one TCP connection (the real transport). When false,
   * random delays reorder packets, as a network of short-lived connections would.
   */
  fifo: boolean;
}

/** A perfect link with a small fixed delay: used for healed runs and unit tests. */
export const RELIABLE_LINK: LinkProfile = {
  dropRate: 0,
  duplicateRate: 0,
  minDelayMs: 1,
  maxDelayMs: 1,
  spikeRate: 0,
  spikeDelayMs: 0,
  fifo: true,
};

/** One packet in flight. */
export interface Packet<P> {
  from: string;
  to: string;
  sentAtMs: number;
  payload: P;
}

/** What happened to a packet handed to {@link Network.send}. */
export type SendOutcome = "queued" | "cut" | "lost";

/** What happened to a packet popped from the network. */
export type Arrival<P> =
  | { kind: "delivered"; packet: Packet<P> }
  | { kind: "dropped"; packet: Packet<P>; reason: "partition" };

/** A network of named endpoints. Does not know what payloads mean. */
export class Network<P> {
  #prng: Prng;
  #defaultLink: LinkProfile;
  #links = new Map<string, LinkProfile>();
  #blocked = new Set<string>();
  /** Latest scheduled arrival per link, to keep FIFO links in order. */
  #lastArrival = new Map<string, number>();
  #queue = new EventQueue<Packet<P>>();
  /** Counters for the run summary. */
  readonly stats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0 };

  /** A network whose links all follow `defaultLink` until overridden. */
  constructor(prng: Prng, defaultLink: LinkProfile) {
    this.#prng = prng;
    this.#defaultLink = defaultLink;
  }

  /** Overrides the profile of the directed link from → to. */
  setLink(from: string, to: string, profile: LinkProfile): void {
    this.#links.set(linkKey(from, to), profile);
  }

  /** Resets every link to `profile` and forgets per-link overrides. */
  setAllLinks(profile: LinkProfile): void {
    this.#defaultLink = profile;
    this.#links.clear();
  }

  /**
   * Queues `payload` from → to at virtual time `nowMs`. Says "cut" when the link is
   * partitioned (a sender's transport notices: it may report the peer unreachable) and
   * "lost" on random loss (which only a stream transport, e.g. for snapshots, notices).
   */
  send(from: string, to: string, payload: P, nowMs: number): SendOutcome {
    this.stats.sent++;
    if (this.#blocked.has(linkKey(from, to))) {
      this.stats.dropped++;
      return "cut";
    }
    const link = this.#links.get(linkKey(from, to)) ?? this.#defaultLink;
    if (this.#prng.chance(link.dropRate)) {
      this.stats.dropped++;
      return "lost";
    }
    const copies = this.#prng.chance(link.duplicateRate) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      if (this.#queue.size >= MAX_INFLIGHT_PACKETS) throw new Error("network overflow");
      let delay = this.#prng.range(link.minDelayMs, link.maxDelayMs);
      if (this.#prng.chance(link.spikeRate)) delay += link.spikeDelayMs;
      let at = nowMs + delay;
      if (link.fifo) {
        const key = linkKey(from, to);
        at = Math.max(at, this.#lastArrival.get(key) ?? 0);
        this.#lastArrival.set(key, at);
      }
      this.#queue.push(at, { from, to, sentAtMs: nowMs, payload });
    }
    return "queued";
  }

  /** Virtual time of the next arrival, or Infinity. */
  nextArrivalMs(): number {
    return this.#queue.peekTime();
  }

  /** Pops the next packet; it is dropped if its link has been cut meanwhile. */
  pop(): Arrival<P> | undefined {
    const next = this.#queue.pop();
    if (next === undefined) return undefined;
    const packet = next.value;
    if (this.#blocked.has(linkKey(packet.from, packet.to))) {
      this.stats.dropped++;
      return { kind: "dropped", packet, reason: "partition" };
    }
    this.stats.delivered++;
    return { kind: "delivered", packet };
  }

  /** Drops every queued packet to or from `node` (e.g. its connections died with it). */
  dropInvolving(node: string): Packet<P>[] {
    const lost = this.#queue.values().filter((p) => p.to === node || p.from === node);
    this.#queue.filter((p) => p.to !== node && p.from !== node);
    this.stats.dropped += lost.length;
    return lost;
  }

  /** Number of packets in flight. */
  get inFlight(): number {
    return this.#queue.size;
  }

  /** True when from → to is currently cut. */
  isBlocked(from: string, to: string): boolean {
    return this.#blocked.has(linkKey(from, to));
  }

  /** Cuts from → to only (a one-way partition). */
  blockOneWay(from: string, to: string): void {
    this.#blocked.add(linkKey(from, to));
  }

  /** Cuts both directions between every member of `a` and every member of `b`. */
  partition(a: readonly string[], b: readonly string[]): void {
    for (const x of a) {
      for (const y of b) {
        if (x === y) continue;
        this.#blocked.add(linkKey(x, y));
        this.#blocked.add(linkKey(y, x));
      }
    }
  }

  /**
   * A bridge partition: `a` and `b` cannot talk to each other, but `bridge` talks to
   * both. Classic trap for implementations that assume connectivity is transitive.
   */
  bridge(a: readonly string[], b: readonly string[], bridge: string): void {
    this.partition(a.filter((x) => x !== bridge), b.filter((x) => x !== bridge));
  }

  /** Isolates `node` from every other endpoint in `all`. */
  isolate(node: string, all: readonly string[]): void {
    this.partition([node], all);
  }

  /** Restores every cut link (profiles stay as they are). */
  heal(): void {
    this.#blocked.clear();
  }

  /** A readable list of cut links, for traces. */
  describeCuts(): string {
    return [...this.#blocked].sort().join(" ");
  }
}

function linkKey(from: string, to: string): string {
  return from + ">" + to;
}
