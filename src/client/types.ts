/**
 * The shapes the client returns. Plain data plus a `text()` helper for values; the
 * client keeps its own copies so it shares no code with the server.
 *
 * @module
 */

/**
 * How fresh a read must be: `stale` may be served by any node, even a lagging one.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * const nearby = await kv.get("config/mode", { consistency: "stale" });
 * ```
 */
export type Consistency = "linearizable" | "lease" | "stale";

/**
 * A key read with `get`.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * const result = await kv.get("config/mode");
 * if (result !== null) console.log(result.text(), result.modRevision, result.revision);
 * ```
 */
export interface GetResult {
  /** The raw value bytes. */
  value: Uint8Array;
  /** The value decoded as UTF-8 (invalid sequences become U+FFFD). */
  text(): string;
  /** Store revision of the key's last change (its `ETag`). */
  modRevision: number;
  /** Store revision at which the key was created, when the server said. */
  createRevision?: number;
  /** Number of changes since creation, when the server said. */
  version?: number;
  /** When the key expires, or null for never; absent when the server did not say. */
  expiresAt?: Date | null;
  /** The lease the key is attached to, or null. */
  lease: string | null;
  /** The store revision the read observed. */
  revision: number;
}

/**
 * Result of a put.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * const { modRevision } = await kv.put("config/mode", "blue");
 * await kv.put("config/mode", "green", { ifRevision: modRevision });
 * ```
 */
export interface PutResult {
  /** The key written. */
  key: string;
  /** Store revision at which the key was (last) created. */
  createRevision: number;
  /** Store revision of this write: pass it as `ifRevision` to compare-and-set. */
  modRevision: number;
  /** Number of changes since creation (1 after a create). */
  version: number;
}

/**
 * Result of a single-key delete.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * const { deleted, revision } = await kv.delete("config/mode");
 * console.log(deleted ? `deleted at ${revision}` : "was not there");
 * ```
 */
export interface DeleteResult {
  /** False when the key did not exist. */
  deleted: boolean;
  /** Store revision after the delete (or at which the key was seen missing). */
  revision: number;
}

/**
 * Result of a prefix delete.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * const { deleted } = await kv.deletePrefix("sessions/");
 * console.log(`${deleted} sessions dropped`);
 * ```
 */
export interface DeletePrefixResult {
  /** Number of keys deleted. */
  deleted: number;
  /** Store revision after the delete. */
  revision: number;
}

/**
 * One key yielded by `list`.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * for await (const item of kv.list("users/")) console.log(item.key, item.text(), item.version);
 * ```
 */
export interface ListItem {
  /** The key. */
  key: string;
  /** The raw value bytes (decoded from UTF-8 text or base64 as the server sent them). */
  value: Uint8Array;
  /** The value decoded as UTF-8 (invalid sequences become U+FFFD). */
  text(): string;
  /** Store revision at which the key was (last) created. */
  createRevision: number;
  /** Store revision of the key's last change. */
  modRevision: number;
  /** Number of changes since creation. */
  version: number;
  /** When the key expires, or null for never. */
  expiresAt: Date | null;
  /** The lease the key is attached to, or null (also null from servers without leases). */
  lease: string | null;
}

/**
 * One change yielded by `watch`.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * for await (const event of kv.watch("jobs/")) {
 *   console.log(event.revision, event.type, event.key, event.text());
 * }
 * ```
 */
export interface WatchEvent {
  /** What happened to the key. */
  type: "put" | "delete";
  /** The key that changed. */
  key: string;
  /** The new value of a put; null for a delete. */
  value: Uint8Array | null;
  /** The value decoded as UTF-8, or null for a delete. */
  text(): string | null;
  /** Store revision of this change. Several events may share one (a prefix delete). */
  revision: number;
  /** Store revision at which the key was created (0 for a delete, as etcd reports it). */
  createRevision: number;
  /** Number of changes since creation (0 for a delete). */
  version: number;
  /** The lease the key is attached to after this change, or null. */
  lease: string | null;
}

/**
 * What `GET /v1/status` reports about the node that answered.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * const status = await kv.cluster.status();
 * console.log(status.id, status.role, status.leaderHttpUrl);
 * ```
 */
export interface Status {
  /** The answering node's id. */
  id: string;
  /** Its Raft role right now. */
  role: "follower" | "precandidate" | "candidate" | "leader" | "learner";
  /** Its current Raft term. */
  term: number;
  /** Id of the leader this node knows of, or null. */
  leader: string | null;
  /** Base URL of the leader's HTTP API, or null if unknown. */
  leaderHttpUrl: string | null;
  /** Highest log index it knows committed. */
  commitIndex: number;
  /** Highest log index it applied to its key-value store. */
  appliedIndex: number;
  /** True when the node can serve requests. */
  ready: boolean;
}

/**
 * One member, as `GET /v1/cluster` reports it.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * const { members } = await kv.cluster.info();
 * for (const member of members) console.log(member.id, member.role, member.lag);
 * ```
 */
export interface ClusterMember {
  /** The member's id. */
  id: string;
  /** Whether it votes or only replicates. */
  role: "voter" | "learner";
  /** Its Raft peer address, if known. */
  peerAddr: string | null;
  /** Base URL of its HTTP API, if known. */
  httpUrl: string | null;
  /** Highest log index known replicated to it (leader's view), or null. */
  matchIndex: number | null;
  /** Entries it is behind the leader, or null when unknown. */
  lag: number | null;
  /** Milliseconds since the answering node last heard from it, or null. */
  lastContactMs: number | null;
  /** Whether it answered within the last election timeout, or null when unknown. */
  reachable: boolean | null;
}

/**
 * Membership as `GET /v1/cluster` reports it (admin).
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * const info = await kv.cluster.info();
 * console.log(info.clusterId, info.leader, info.members.length);
 * ```
 */
export interface ClusterInfo {
  /** The cluster's id. */
  clusterId: string;
  /** The node that answered. */
  self: string;
  /** The leader's id as the answering node knows it, or null. */
  leader: string | null;
  /** The answering node's term. */
  term: number;
  /** The answering node's commit index. */
  commitIndex: number;
  /** Every member. */
  members: ClusterMember[];
}
