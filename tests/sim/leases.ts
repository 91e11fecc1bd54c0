/**
 * The simulator's lease workload and its invariants. Clients grant leases, keep them
 * alive through `RaftkvNode.keepalive` (batched into one entry per tick, answered once
 * applied), attach keys to them, and now and then revoke one; crashes, partitions and
 * leader changes happen meanwhile, and only the leader's clock (stamped into `expire`
 * entries) ends a lease.
 *
 * Invariants, on every member:
 * - no early expiry: a lease is never gone, on the virtual clock, before `ttl` after the
 *   send time of its last acknowledged keepalive (or grant), unless a revoke was sent;
 *   nor may the `expire` entries a member applied since it last held it all be stamped
 *   before that time (a snapshot install is judged by the virtual clock alone);
 * - attached keys go with their lease: whenever a member no longer holds a lease, it
 *   holds none of the keys attached to it (they are deleted in the same entry, so at the
 *   same revision);
 * - at the end, every live member holds the same lease table (ids, TTLs, deadlines).
 *
 * @module
 */

import { MAX_KEYS_PER_LEASE } from "../../src/kv/leases.ts";
import type { KvCommand, LeaseGrantResult } from "../../src/kv/types.ts";
import { InvariantViolation } from "./invariants.ts";
import type { Prng } from "./prng.ts";
import type { SimHost } from "./sim_host.ts";

/** Leases granted in one run at most (each one is checked on every member each step). */
export const MAX_SIM_LEASES = 24;
/** Leases alive (not known gone) at once at most. */
const MAX_LIVE_LEASES = 4;
/** Keys attached to one lease at most. */
const MAX_KEYS_PER_SIM_LEASE = 3;
/** TTLs granted, in virtual ms: at least 1.5 election timeouts (the server's minimum). */
const LEASE_TTLS_MS = [200, 400, 1_000];
/** Lease list page size for the final comparison. */
const LEASE_PAGE = 100;

/** A lease the clients granted (its grant was acknowledged). */
interface SimLease {
  id: string;
  ttlMs: number;
  /** `ttl` after the send time of the last acknowledged grant or keepalive. */
  guaranteedUntilMs: number;
  /** `ttl` (plus a tick) after the send time of the last keepalive sent, any outcome. */
  possibleUntilMs: number;
  /** A revoke was sent (its outcome may be unknown): early absence is no violation. */
  revokeSent: boolean;
  /** Keys acknowledged as attached to it. */
  keys: Set<string>;
  /** Keys put with it, whatever the outcome. */
  keysTried: number;
  /** Members (by host and incarnation) that were seen holding it. */
  heldBy: Set<string>;
  /** Members (by host and incarnation) that were seen losing it. */
  goneFrom: Set<string>;
}

/** What the lease workload needs from the cluster. */
export interface LeaseEnv {
  nowMs(): number;
  tickMs: number;
  fail(v: InvariantViolation): void;
  note(node: string, what: string | (() => string)): void;
}

const NEVER = new AbortController().signal;
const encoder = new TextEncoder();

/** The lease clients of one run. */
export class SimLeases {
  readonly #env: LeaseEnv;
  readonly #prng: Prng;
  readonly #leases: SimLease[] = [];
  #granting = 0;
  /** A lease was added since the last check: every member is looked at. */
  #newLeases = false;
  /** Counters for the run summary. */
  readonly stats = { granted: 0, keepalivesAcked: 0, leasePuts: 0, revokes: 0, expired: 0 };

  /** Lease clients drawing from `prng`. */
  constructor(env: LeaseEnv, prng: Prng) {
    this.#env = env;
    this.#prng = prng;
  }

  /** One lease request to `host`: a grant, a keepalive, an attached put or a revoke. */
  issue(host: SimHost): void {
    if (!host.up) return;
    const live = this.#leases.filter((l) => !l.revokeSent && l.possibleUntilMs > this.#now());
    const r = this.#prng.float();
    if (
      (live.length === 0 || r < 0.2) && live.length + this.#granting < MAX_LIVE_LEASES &&
      this.#leases.length + this.#granting < MAX_SIM_LEASES
    ) {
      return this.#grant(host);
    }
    if (live.length === 0) return;
    const lease = this.#prng.pick(live);
    if (r < 0.75) return this.#keepalive(host, lease);
    if (r < 0.95) return this.#put(host, lease);
    this.#revoke(host, lease);
  }

  #now(): number {
    return this.#env.nowMs();
  }

  #grant(host: SimHost): void {
    const ttlMs = this.#prng.pick(LEASE_TTLS_MS);
    const sentMs = this.#now();
    this.#granting++;
    this.#write(host, { op: "leaseGrant", ttlMs }).then((r) => {
      this.#granting--;
      if (r === null || !r.ok) return;
      const { lease } = r.value as LeaseGrantResult;
      this.stats.granted++;
      this.#env.note(host.id, `lease ${lease.id} granted (ttl ${ttlMs}ms)`);
      this.#leases.push({
        id: lease.id,
        ttlMs,
        guaranteedUntilMs: sentMs + ttlMs,
        possibleUntilMs: sentMs + ttlMs + this.#env.tickMs,
        revokeSent: false,
        keys: new Set(),
        keysTried: 0,
        heldBy: new Set(),
        goneFrom: new Set(),
      });
      this.#newLeases = true; // members that applied the grant already: look again
    });
  }

  #keepalive(host: SimHost, lease: SimLease): void {
    const sentMs = this.#now();
    // The entry is proposed at the node's next tick and stamped then.
    lease.possibleUntilMs = Math.max(
      lease.possibleUntilMs,
      sentMs + lease.ttlMs + this.#env.tickMs,
    );
    host.node.keepalive(lease.id, NEVER).then(
      (view) => {
        if (view === null) return;
        this.stats.keepalivesAcked++;
        lease.guaranteedUntilMs = Math.max(lease.guaranteedUntilMs, sentMs + lease.ttlMs);
      },
      () => {},
    );
  }

  #put(host: SimHost, lease: SimLease): void {
    if (lease.keysTried >= MAX_KEYS_PER_SIM_LEASE) return this.#keepalive(host, lease);
    const key = `lease/${lease.id}/${lease.keysTried++}`;
    const cmd: KvCommand = {
      op: "put",
      key,
      value: encoder.encode("l"),
      ttlMs: null,
      ifModRevision: null,
      createOnly: false,
      lease: lease.id,
    };
    this.#write(host, cmd).then((r) => {
      if (r === null || !r.ok) return; // lease_not_found once it is gone: nothing written
      this.stats.leasePuts++;
      lease.keys.add(key);
    });
  }

  #revoke(host: SimHost, lease: SimLease): void {
    lease.revokeSent = true;
    this.stats.revokes++;
    this.#write(host, { op: "leaseRevoke", id: lease.id });
  }

  #write(host: SimHost, command: KvCommand) {
    return host.node.write(command, { idempotencyKey: null, signal: NEVER }).then(
      (r) => r,
      () => null,
    );
  }

  /**
   * Checks every running member against the invariants (called after each step). A
   * member is looked at only when a lease may have come or gone there since.
   */
  async check(hosts: Iterable<SimHost>): Promise<void> {
    const newLeases = this.#newLeases;
    this.#newLeases = false;
    for (const host of hosts) {
      if (this.#leases.length === 0) {
        host.expiredAt.length = 0;
        continue;
      }
      if (!host.up || host.node.status().removed) continue;
      // Lease presence changes only with lease entries, installs and restarts.
      const fresh = host.leaseCheckedIncarnation !== host.incarnation;
      if (!host.leaseEvents && !fresh && !newLeases) continue;
      host.leaseEvents = false;
      host.leaseCheckedIncarnation = host.incarnation;
      const stamps = host.expiredAt.splice(0);
      const installed = host.installedSinceCheck;
      host.installedSinceCheck = false;
      const member = `${host.id}#${host.incarnation}`;
      for (const lease of this.#leases) {
        if (lease.goneFrom.has(member)) continue;
        const found = await host.node.lease(lease.id, null, MAX_KEYS_PER_LEASE, "stale", NEVER);
        if (found !== null) {
          lease.heldBy.add(member);
          continue;
        }
        // First seen gone on this member (an entry removes a lease once, with its keys).
        if (!lease.heldBy.delete(member)) continue;
        lease.goneFrom.add(member);
        for (const key of lease.keys) {
          const page = await host.node.list(key, null, 1, "stale", NEVER);
          if (page.items.some((kv) => kv.key === key)) {
            this.#env.fail(
              new InvariantViolation(
                "lease-keys",
                `${host.id} no longer holds lease ${lease.id} but still holds ${key} attached to it`,
              ),
            );
          }
        }
        if (lease.revokeSent) continue;
        this.stats.expired++;
        // Gone at this virtual time (members are looked at in the step a lease entry
        // applies), and by an expiry no later stamp than the guarantee allows.
        // No expiry entry applied here means a snapshot carried the removal in (its install
        // may be seen a microtask before the install is reported): judge by the time now.
        const latest = installed || stamps.length === 0 ? this.#now() : Math.max(...stamps);
        const at = Math.min(this.#now(), latest);
        if (at < lease.guaranteedUntilMs) {
          this.#env.fail(
            new InvariantViolation(
              "lease-early-expiry",
              `${host.id} lost lease ${lease.id} (ttl ${lease.ttlMs}ms) at ${this.#now()}ms ` +
                `(latest expiry stamp ${latest}ms), before ${lease.guaranteedUntilMs}ms ` +
                `(ttl after its last acknowledged keepalive was sent)`,
            ),
          );
        }
      }
    }
  }

  /**
   * A lease that must be gone from every member by `dueBy` (no keepalive could hold it
   * past it) but that some member still holds, if any.
   */
  async blocker(members: SimHost[], dueBy: number): Promise<InvariantViolation | null> {
    for (const lease of this.#leases) {
      if (lease.possibleUntilMs > dueBy) continue;
      for (const h of members) {
        if ((await h.node.lease(lease.id, null, MAX_KEYS_PER_LEASE, "stale", NEVER)) !== null) {
          return new InvariantViolation(
            "lease-expiry",
            `${h.id} still holds lease ${lease.id}, which nothing renewed past ` +
              `${lease.possibleUntilMs}ms (now ${this.#now()}ms)`,
          );
        }
      }
    }
    return null;
  }

  /** Every live member holds the same lease table as `reference`. */
  async checkAgreement(reference: SimHost, members: SimHost[]): Promise<void> {
    const want = await leaseTable(reference);
    for (const h of members) {
      if (h === reference) continue;
      const mine = await leaseTable(h);
      if (mine !== want) {
        throw new InvariantViolation(
          "lease-divergence",
          `${h.id} holds leases ${mine} but ${reference.id} holds ${want}`,
        );
      }
    }
  }
}

/** A member's lease table as text: id, TTL and remaining time (same clock for all). */
async function leaseTable(h: SimHost): Promise<string> {
  const out: string[] = [];
  let after: string | null = null;
  for (;;) {
    const page = await h.node.leases(after, LEASE_PAGE, "stale", NEVER);
    for (const l of page.items) {
      const found = await h.node.lease(l.id, null, MAX_KEYS_PER_LEASE, "stale", NEVER);
      out.push(`${l.id}:${l.ttlMs}:${l.remainingMs}:[${found?.keys.join(",") ?? ""}]`);
    }
    const last = page.items[page.items.length - 1];
    if (!page.more || last === undefined) return `{${out.join(" ")}}`;
    after = last.id;
  }
}
