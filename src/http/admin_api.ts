/**
 * The cluster-administration view of a node, behind `/v1/cluster`. Kept apart from
 * {@link NodeApi} so that key-value routes and tests need none of it.
 *
 * @module
 */

/** One member as the leader sees it. */
export interface MemberInfo {
  id: string;
  role: "voter" | "learner";
  peerAddr: string | null;
  httpUrl: string | null;
  /** Highest log index known replicated to the member (leader's view), or null. */
  matchIndex: number | null;
  /** Entries the member is behind the leader's last index, or null when unknown. */
  lag: number | null;
  /** Milliseconds since this node last heard from the member, or null. */
  lastContactMs: number | null;
  /** Whether the member answered within the last election timeout (leader's view). */
  reachable: boolean | null;
}

/** What `GET /v1/cluster` answers. */
export interface ClusterInfo {
  clusterId: string;
  /** The node that answered. */
  self: string;
  leader: string | null;
  term: number;
  commitIndex: number;
  members: MemberInfo[];
}

/** A request to add a member. */
export interface AddMemberRequest {
  id: string;
  peerAddr: string;
  httpUrl: string;
  /** `voter` adds a learner first and promotes it once caught up. */
  role: "learner" | "voter";
}

/** Membership and maintenance operations. Mutations must run on the leader. */
export interface AdminApi {
  /** Membership and replication progress as this node knows it. */
  cluster(): ClusterInfo;
  /** Adds a member; resolves once the change is applied (promotion may follow later). */
  addMember(request: AddMemberRequest, signal: AbortSignal): Promise<MemberInfo>;
  /** Promotes a caught-up learner; throws `conflict` while it lags. */
  promote(id: string, signal: AbortSignal): Promise<void>;
  /** Removes a member (the leader too: it steps down once the change commits). */
  removeMember(id: string, signal: AbortSignal): Promise<void>;
  /** Hands leadership to `to`; resolves once `to` leads or throws after a timeout. */
  transferLeader(to: string, signal: AbortSignal): Promise<void>;
  /** Takes a snapshot now. */
  snapshot(): Promise<{ index: number; term: number }>;
  /**
   * A consistent backup: the state as of a linearizable read, streamed. Restore it with
   * `deno task node --restore <file>`.
   */
  backup(signal: AbortSignal): Promise<{ index: number; chunks: AsyncIterable<Uint8Array> }>;
}
