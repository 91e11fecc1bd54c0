/**
 * A node's configuration: what the CLI and environment produce, with the defaults a
 * local cluster needs, and validation with messages that say what to fix.
 *
 * @module
 */

import { MAX_KEY_BYTES, MAX_VALUE_BYTES } from "../kv/limits.ts";
import type { NodeId } from "../raft/messages.ts";

/** Where a member can be reached. */
export interface MemberAddress {
  /** Peer-protocol TCP address, "host:port". */
  peerAddr: string;
  /** HTTP base URL, e.g. "http://127.0.0.1:8001", or null when not known. */
  httpUrl: string | null;
  /**
   * True when `httpUrl` is what the member announced in its peer handshake (none came
   * from flags or a membership change): its next announcement replaces it, so a member
   * restarted on another `--http-addr` is found there.
   */
  learned?: boolean;
}

/** Everything a node needs to start. */
export interface NodeConfig {
  id: NodeId;
  clusterId: string;
  /** TCP listen address of the peer protocol. */
  peerAddr: string;
  /** HTTP listen address, "host:port". */
  httpAddr: string;
  /** HTTP URL other members use to forward requests here. */
  advertiseHttpUrl: string;
  dataDir: string;
  /** Static bootstrap membership (voters); empty when joining or restarting. */
  initialCluster: Map<NodeId, MemberAddress>;
  fsync: "always" | "never";
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  /** Shared secret proving cluster membership on the peer port, or null. */
  peerSecret: string | null;
  /** Take a snapshot every this many applied entries (0: never by count). */
  snapshotEntries: number;
  /** Also snapshot this often (ms) when anything changed; 0 turns the timer off. */
  snapshotIntervalMs: number;
  /** Least severe log level written. */
  logLevel: "debug" | "info" | "warn" | "error";
  /** Entries kept behind a snapshot for slow followers. */
  snapshotTrailingEntries: number;
  /** A write not applied within this many ms answers 504 outcome_unknown. */
  writeTimeoutMs: number;
  maxKeyBytes: number;
  maxValueBytes: number;
  /** Allowed CORS origins ("*" for any); empty disables CORS headers. */
  corsOrigins: string[];
  /** HTTP URL of a member to ask for admission, or null. */
  join: string | null;
  /** With `join`: stay a non-voting learner instead of becoming a voter once caught up. */
  learner: boolean;
  /** A learner within this many entries of the leader may be promoted. */
  promoteMaxLag: number;
  /** Client bearer tokens with their scopes (empty: no authentication). */
  tokens: { token: string; scope: "read" | "readwrite" }[];
  /** Bearer token for membership changes, or null. */
  adminToken: string | null;
  /** Serve HTTPS with this certificate and key (PEM file paths), or null for HTTP. */
  tls: { certFile: string; keyFile: string } | null;
  /** Extra CA certificate (PEM file) trusted when calling other members over HTTPS. */
  tlsCaFile: string | null;
  /** Also run the peer protocol over TLS (same certificate; peers verified against tlsCaFile). */
  peerTls: boolean;
  /** Allow a non-loopback HTTP address without any token. */
  allowUnauthenticated: boolean;
  /** Seed an empty data directory from this backup file, or null. */
  restore: string | null;
}

/** True for addresses that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\./.test(host);
}

/** Defaults: heartbeat ≈ 100 ms, election ≈ 1 s, fsync on. */
export const DEFAULTS = {
  clusterId: "raftkv",
  peerAddr: "127.0.0.1:7001",
  httpAddr: "127.0.0.1:8001",
  fsync: "always",
  tickMs: 100,
  electionTicks: 10,
  heartbeatTicks: 1,
  // etcd's default too: a snapshot streams the whole state, so not too often.
  snapshotEntries: 100_000,
  snapshotTrailingEntries: 10_000,
  writeTimeoutMs: 5_000,
  maxKeyBytes: MAX_KEY_BYTES,
  maxValueBytes: MAX_VALUE_BYTES,
  promoteMaxLag: 1000,
} as const;

/** Thrown for a configuration a node cannot start with; the message says what to fix. */
export class ConfigError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * Parses `n1=127.0.0.1:7001,n2=127.0.0.1:7002`. A member may also name its HTTP URL
 * after `@` (`n1=127.0.0.1:7001@http://127.0.0.1:8001`) so followers can forward to it.
 */
export function parseInitialCluster(text: string): Map<NodeId, MemberAddress> {
  const members = new Map<NodeId, MemberAddress>();
  if (text.trim() === "") return members;
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new ConfigError(`--initial-cluster: "${part}" is not id=host:port`);
    const id = part.slice(0, eq).trim();
    const [peerAddr, httpUrl] = part.slice(eq + 1).trim().split("@", 2) as [string, string?];
    checkHostPort(peerAddr, `--initial-cluster member ${id}`);
    if (members.has(id)) throw new ConfigError(`--initial-cluster names ${id} twice`);
    members.set(id, { peerAddr, httpUrl: httpUrl ? normalizeUrl(httpUrl) : null });
  }
  return members;
}

/** Checks "host:port" and returns [host, port]. */
export function checkHostPort(addr: string, what: string): [string, number] {
  const colon = addr.lastIndexOf(":");
  const host = addr.slice(0, colon);
  const port = Number(addr.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`${what}: "${addr}" is not host:port`);
  }
  return [host, port];
}

/** Adds "http://" when a URL has no scheme and removes a trailing slash. */
export function normalizeUrl(url: string): string {
  const withScheme = /^https?:\/\//.test(url) ? url : `http://${url}`;
  return withScheme.replace(/\/+$/, "");
}

/**
 * The state machine's size limits from the flags. Apply refuses what exceeds them, so
 * every member must run with the same `--max-key-bytes` and `--max-value-bytes`.
 */
export function kvLimitsOf(config: Pick<NodeConfig, "maxKeyBytes" | "maxValueBytes">): {
  maxKeyBytes: number;
  maxValueBytes: number;
} {
  return { maxKeyBytes: config.maxKeyBytes, maxValueBytes: config.maxValueBytes };
}
