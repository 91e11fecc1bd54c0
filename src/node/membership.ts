/**
 * Membership as the node drives it: the member book (who is where, persisted beside the
 * data), applying membership entries, the admin operations (add, promote, remove,
 * transfer), the promotion rules, catch-up reports and the leader's hand-off at stop.
 * Membership itself lives in the Raft log; this module proposes changes and keeps the
 * addresses the log's changes carry.
 *
 * @module
 */

import type { Raft, RaftStatus } from "../raft/raft.ts";
import { decodeConfChange } from "../raft/conf_change_codec.ts";
import type { ConfChange, Entry, NodeId } from "../raft/messages.ts";
import type { Transport } from "../transport/transport.ts";
import type { ApplyResult } from "../kv/types.ts";
import { RaftkvError } from "../errors.ts";
import type { AddMemberRequest, ClusterInfo, MemberInfo } from "../http/admin_api.ts";
import { type MemberBook, mergeAddress } from "./member_book.ts";
import type { MemberAddress, NodeConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import { PROGRESS_EVERY_MS } from "./progress.ts";
import { refusalError } from "./refusals.ts";
import type { ConditionWaiters } from "./waiters.ts";

/** What membership needs from the rest of the node. */
export interface MembershipDeps {
  config: NodeConfig;
  raft: Raft;
  transport: Transport;
  log: Logger;
  now: () => number;
  /** Wakes the Ready loop after a proposal. */
  kick(): void;
  /** Runs a call into the core; a broken assertion in it stops the node (fatal). */
  guard<T>(fn: () => T): T;
  /** Waits for the entry at (index, term) to apply here. */
  awaitApplied(index: number, term: number, signal: AbortSignal): Promise<ApplyResult>;
  /** Conditions the loop re-checks after every advance and tick. */
  waiters: ConditionWaiters;
  /** Persists the book (members.json in the data directory). */
  saveBook(book: MemberBook): Promise<void>;
}

/** The member book and the membership operations. */
export class Membership {
  readonly #d: MembershipDeps;
  readonly #id: NodeId;
  readonly #members = new Map<NodeId, MemberAddress>();
  readonly #lastContact = new Map<NodeId, number>();
  readonly #pendingPromotions = new Set<NodeId>();
  #lastCatchUpReportMs = 0;
  #removed = false;
  #bookSaved: Promise<void> = Promise.resolve();

  /** Starts from the addresses known at start (book, flags, snapshot). */
  constructor(deps: MembershipDeps, members: Iterable<[NodeId, MemberAddress]>) {
    this.#d = deps;
    const { config } = deps;
    this.#id = config.id;
    for (const [id, addr] of members) this.#members.set(id, addr);
    this.#members.set(config.id, { peerAddr: config.peerAddr, httpUrl: config.advertiseHttpUrl });
  }

  /** True once this node applied its own removal: it serves nothing from then on. */
  get removed(): boolean {
    return this.#removed;
  }

  /** Every known member's addresses (a copy, for snapshots and backups). */
  entries(): [NodeId, MemberAddress][] {
    return [...this.#members];
  }

  /** The addresses of member `id`, if known. */
  address(id: NodeId): MemberAddress | undefined {
    return this.#members.get(id);
  }

  /** Member ids, sorted (the snapshot phase is set by this node's place among them). */
  sortedIds(): NodeId[] {
    return [...this.#members.keys()].sort();
  }

  /** A message from `id` arrived now. */
  heardFrom(id: NodeId): void {
    this.#lastContact.set(id, this.#d.now());
  }

  /** Applies a committed membership entry to the book. */
  applyConfChange(entry: Entry): void {
    const cc = decodeConfChange(entry.data);
    if (cc === null) {
      // The leader validated it before proposing; every replica skips it alike.
      this.#d.log.log("error", "undecodable membership change skipped", { index: entry.index });
      return;
    }
    if (cc.type === "remove") {
      if (cc.nodeId !== this.#id) this.#members.delete(cc.nodeId);
    } else if (cc.context !== "") {
      const addr = JSON.parse(cc.context) as MemberAddress;
      const incoming = { peerAddr: addr.peerAddr, httpUrl: addr.httpUrl ?? null };
      this.#members.set(cc.nodeId, mergeAddress(this.#members.get(cc.nodeId), incoming));
    }
    if (cc.type === "remove" && cc.nodeId === this.#id) {
      this.#removed = true;
      this.#d.log.log("warn", "this node was removed from the cluster");
    } else if (cc.type !== "remove" && cc.nodeId === this.#id && this.#removed) {
      // Removed, then added back under the same id (a wiped member re-added with --join
      // replays both from the log): it is a member again.
      this.#removed = false;
      this.#d.log.log("info", "this node was added to the cluster again");
    }
    this.#d.log.log("info", "membership change applied", { ...cc, index: entry.index });
    this.syncPeers();
    this.saveBook();
  }

  /** Takes every address a snapshot carries (it describes the cluster at its index). */
  adoptSnapshotMembers(members: Iterable<[NodeId, MemberAddress]>): void {
    for (const [id, addr] of members) {
      this.#members.set(id, mergeAddress(this.#members.get(id), addr));
    }
    this.syncPeers();
    this.saveBook();
  }

  /**
   * Records the HTTP URL a member announced in its peer handshake, when this node has
   * none for it or only an earlier announcement (a URL from flags or the membership
   * change is kept), so followers can forward to a leader started without `@http://…`
   * in `--initial-cluster`, also after it restarted on another `--http-addr`.
   */
  learnHttpUrl(id: NodeId, httpUrl: string): void {
    const addr = this.#members.get(id);
    if (id === this.#id || addr === undefined || addr.httpUrl === httpUrl) return;
    if (addr.httpUrl !== null && addr.learned !== true) return;
    this.#members.set(id, { peerAddr: addr.peerAddr, httpUrl, learned: true });
    this.#d.log.log("info", "learned a member's HTTP URL from its handshake", { id, httpUrl });
    this.saveBook();
  }

  /** Learns addresses of members not heard of yet (a joiner gets them from its cluster). */
  remember(members: Iterable<[NodeId, MemberAddress]>): void {
    let changed = false;
    for (const [id, addr] of members) {
      if (id === this.#id || this.#members.has(id)) continue;
      this.#members.set(id, addr);
      changed = true;
    }
    if (!changed) return;
    this.syncPeers();
    this.saveBook();
  }

  /** Tells the transport where every other member is. */
  syncPeers(): void {
    const peers = new Map<NodeId, string>();
    for (const [id, addr] of this.#members) if (id !== this.#id) peers.set(id, addr.peerAddr);
    this.#d.transport.setPeers(peers);
  }

  /** Persists the address book beside the data so restarts and joins know every peer. */
  saveBook(): void {
    const book: MemberBook = { removed: this.#removed, members: [...this.#members] };
    this.#bookSaved = this.#bookSaved.then(() => this.#d.saveBook(book))
      .catch((e) => this.#d.log.log("error", "could not save members.json", { error: String(e) }));
  }

  /** Resolves once every book save so far is done (shutdown). */
  flushed(): Promise<void> {
    return this.#bookSaved;
  }

  // ---- admin operations ----------------------------------------------------------

  /** Membership and replication progress as this node knows it. */
  cluster(): ClusterInfo {
    const s = this.#d.raft.status();
    const now = this.#d.now();
    const member = (id: NodeId, role: "voter" | "learner"): MemberInfo => {
      const p = s.progress.get(id);
      const addr = this.#members.get(id);
      const self = id === this.#id;
      const contact = this.#lastContact.get(id);
      return {
        id,
        role,
        peerAddr: addr?.peerAddr ?? null,
        httpUrl: addr?.httpUrl ?? null,
        matchIndex: p?.match ?? (self ? s.lastIndex : null),
        lag: p ? Math.max(0, s.lastIndex - p.match) : (self ? 0 : null),
        lastContactMs: self ? 0 : contact === undefined ? null : now - contact,
        // The core's recentActive resets each timeout, so it flickers.
        reachable: s.role !== "leader" ? null : self || this.#heardRecently(contact, now),
      };
    };
    return {
      clusterId: this.#d.config.clusterId,
      self: this.#id,
      leader: s.leader,
      term: s.term,
      commitIndex: s.commit,
      members: [
        ...s.conf.voters.map((id) => member(id, "voter")),
        ...s.conf.learners.map((id) => member(id, "learner")),
      ],
    };
  }

  /** Adds a learner (and, for role voter, promotes it once caught up). */
  async addMember(request: AddMemberRequest, signal: AbortSignal): Promise<MemberInfo> {
    this.#requireLeader();
    const conf = this.#d.raft.status().conf;
    if (conf.voters.includes(request.id) || conf.learners.includes(request.id)) {
      throw new RaftkvError("conflict", `${request.id} is already a member`);
    }
    // Two members at one address would each get the other's traffic (etcd refuses it too):
    // a member moved to new hardware under a new id needs the old one removed first.
    for (const id of [...conf.voters, ...conf.learners]) {
      const addr = this.#members.get(id);
      const clash = addr?.peerAddr === request.peerAddr
        ? `peer address ${request.peerAddr}`
        : addr?.httpUrl && addr.httpUrl === request.httpUrl
        ? `HTTP URL ${request.httpUrl}`
        : null;
      if (clash !== null) {
        throw new RaftkvError(
          "conflict",
          `${clash} belongs to member ${id}; remove ${id} first (DELETE /v1/cluster/members/${id})`,
        );
      }
    }
    const context = JSON.stringify({ peerAddr: request.peerAddr, httpUrl: request.httpUrl });
    await this.#changeConf({ type: "addLearner", nodeId: request.id, context }, signal);
    if (request.role === "voter") this.#pendingPromotions.add(request.id);
    // The core adopts the change at its next advance(), which may be a moment after
    // this write resolves; until then the member is described from the request.
    return this.cluster().members.find((m) => m.id === request.id) ?? {
      id: request.id,
      role: "learner",
      peerAddr: request.peerAddr,
      httpUrl: request.httpUrl,
      matchIndex: null,
      lag: null,
      lastContactMs: null,
      reachable: null,
    };
  }

  /** Promotes a caught-up learner to voter. */
  async promote(id: string, signal: AbortSignal): Promise<void> {
    this.#requireLeader();
    const s = this.#d.raft.status();
    if (!s.conf.learners.includes(id)) {
      throw new RaftkvError(
        s.conf.voters.includes(id) ? "conflict" : "not_found",
        s.conf.voters.includes(id) ? `${id} is already a voter` : `${id} is not a learner`,
      );
    }
    const notReady = this.whyNotPromotable(id, s);
    if (notReady !== null) {
      throw new RaftkvError("conflict", `${notReady}; retry when it has caught up`);
    }
    this.#pendingPromotions.delete(id);
    await this.#changeConf({ type: "promote", nodeId: id, context: "" }, signal);
  }

  /**
   * Removes a member. A leader removing itself answers only once it has stepped down,
   * which the core does after every remaining voter heard that the removal committed (or
   * after an election timeout): an operator who stops it on this answer leaves no voter
   * still counting it in its quorum.
   */
  async removeMember(id: string, signal: AbortSignal): Promise<void> {
    this.#requireLeader();
    const conf = this.#d.raft.status().conf;
    if (!conf.voters.includes(id) && !conf.learners.includes(id)) {
      throw new RaftkvError("not_found", `${id} is not a member`);
    }
    if (conf.voters.length === 1 && conf.voters[0] === id) {
      throw new RaftkvError(
        "conflict",
        `${id} is the last voter; removing it would end the cluster`,
      );
    }
    this.#pendingPromotions.delete(id);
    await this.#changeConf({ type: "remove", nodeId: id, context: "" }, signal);
    if (id !== this.#id) return;
    const raft = this.#d.raft;
    const deadline = this.#d.now() + 2 * this.#electionTimeoutMs;
    const retired = await this.#d.waiters.wait(
      () => raft.basicStatus().role !== "leader",
      deadline,
      signal,
    );
    if (!retired) {
      throw new RaftkvError("unavailable", `${id} was removed but has not yet stepped down`, 1);
    }
  }

  /** Hands leadership to `to`; resolves once it leads (checked by the loop). */
  async transferLeader(to: string, signal: AbortSignal): Promise<void> {
    this.#requireLeader();
    if (to === this.#id) return;
    const raft = this.#d.raft;
    if (!raft.status().conf.voters.includes(to)) {
      throw new RaftkvError("bad_request", `${to} is not a voter`);
    }
    if (!this.#d.guard(() => raft.transferLeader(to))) {
      throw new RaftkvError("conflict", `leadership cannot move to ${to} now`);
    }
    this.#d.kick();
    const deadline = this.#d.now() + 2 * this.#electionTimeoutMs;
    const led = await this.#d.waiters.wait(
      () => raft.basicStatus().leader === to,
      deadline,
      signal,
    );
    if (!led) throw new RaftkvError("unavailable", `${to} did not take over in time`, 1);
  }

  /**
   * At stop, a leader hands leadership to its most caught-up voter and waits (at most
   * an election timeout) until it no longer leads, so writes resume elsewhere at once.
   */
  async handOff(): Promise<void> {
    const raft = this.#d.raft;
    const s = raft.status();
    if (s.role !== "leader") return;
    let best: NodeId | null = null;
    let bestMatch = -1;
    for (const [id, p] of s.progress) {
      if (id !== this.#id && !p.isLearner && p.match > bestMatch) {
        best = id;
        bestMatch = p.match;
      }
    }
    if (best === null || !this.#d.guard(() => raft.transferLeader(best))) return;
    this.#d.log.log("info", "handing leadership to the most caught-up voter", { to: best });
    this.#d.kick();
    const deadline = this.#d.now() + this.#electionTimeoutMs;
    const handedOff = await this.#d.waiters.wait(
      () => raft.basicStatus().role !== "leader",
      deadline,
    );
    this.#d.log.log(
      handedOff ? "info" : "warn",
      handedOff ? "leadership handed off" : "leadership hand-off timed out",
      { to: best },
    );
  }

  #requireLeader(): void {
    const s = this.#d.raft.basicStatus();
    if (s.role !== "leader") throw refusalError("not_leader", s.leader, this.#id);
  }

  async #changeConf(cc: ConfChange, signal: AbortSignal): Promise<void> {
    const proposed = this.#d.guard(() => this.#d.raft.proposeConfChange(cc));
    if (!proposed.ok) throw refusalError(proposed.reason, proposed.leader, this.#id);
    this.#d.kick();
    await this.#d.awaitApplied(proposed.index, proposed.term, signal);
  }

  // ---- the leader's periodic work ------------------------------------------------

  /** On each tick: promotions that became possible, and catch-up reports. */
  onTick(): void {
    this.#maybePromote();
    this.#reportCatchUp();
  }

  /** The leader logs, every few seconds, how far behind each lagging member is. */
  #reportCatchUp(): void {
    const now = this.#d.now();
    if (now - this.#lastCatchUpReportMs < PROGRESS_EVERY_MS) return;
    const s = this.#d.raft.status();
    if (s.role !== "leader") return;
    this.#lastCatchUpReportMs = now;
    for (const [id, p] of s.progress) {
      const lag = s.lastIndex - p.match;
      if (id === this.#id || lag <= this.#d.config.promoteMaxLag) continue;
      this.#d.log.log("info", "member catching up", {
        id,
        learner: p.isLearner,
        match: p.match,
        lag,
        state: p.state,
      });
    }
  }

  /** One election timeout with this node's timings, in milliseconds. */
  get #electionTimeoutMs(): number {
    return this.#d.config.tickMs * this.#d.config.electionTicks;
  }

  /** Whether a member last heard from at `contact` was heard within an election timeout. */
  #heardRecently(contact: number | undefined, now: number): boolean {
    return contact !== undefined && now - contact < this.#electionTimeoutMs;
  }

  /**
   * Why learner `id` may not become a voter yet, or null when it may: it must have
   * acknowledged entries, answered within an election timeout, and be within
   * `--promote-max-lag`. Lag alone is not enough: in a young log a learner that was
   * never reached is "close", and promoting it adds a dead voter (with one voter, a
   * cluster that can no longer commit).
   */
  whyNotPromotable(id: NodeId, s: RaftStatus): string | null {
    const match = s.progress.get(id)?.match ?? 0;
    const contact = this.#lastContact.get(id);
    const now = this.#d.now();
    if (match === 0 || contact === undefined) return `${id} has not replicated anything yet`;
    if (!this.#heardRecently(contact, now)) {
      return `${id} has not been heard from for ${now - contact} ms`;
    }
    const lag = s.lastIndex - match;
    const maxLag = this.#d.config.promoteMaxLag;
    if (lag > maxLag) return `${id} is ${lag} entries behind (promotion allows ${maxLag})`;
    return null;
  }

  /** Promotes learners added as voters once they are within the allowed lag. */
  #maybePromote(): void {
    if (this.#pendingPromotions.size === 0) return;
    const raft = this.#d.raft;
    const s = raft.status();
    if (s.role !== "leader") return;
    for (const id of this.#pendingPromotions) {
      if (!s.conf.learners.includes(id)) {
        this.#pendingPromotions.delete(id);
        continue;
      }
      if (this.whyNotPromotable(id, s) !== null) continue;
      const proposed = raft.proposeConfChange({ type: "promote", nodeId: id, context: "" });
      if (proposed.ok) {
        this.#pendingPromotions.delete(id);
        const lag = s.lastIndex - (s.progress.get(id)?.match ?? 0);
        this.#d.log.log("info", "promoting caught-up learner", { id, lag });
      }
      return; // one change at a time
    }
  }
}
