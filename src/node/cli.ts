/**
 * Turns command-line flags and `RAFTKV_*` environment variables into a
 * {@link NodeConfig}. Flags win over the environment; both win over defaults.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { parseTokenFile } from "../http/auth.ts";
import {
  checkHostPort,
  ConfigError,
  DEFAULTS,
  isLoopbackHost,
  type NodeConfig,
  normalizeUrl,
  parseInitialCluster,
} from "./config.ts";
import { isValidNodeId } from "../node_id.ts";
import { runtime } from "../runtime/current.ts";

/** One documented option. */
interface OptionSpec {
  type: "string" | "boolean";
  help: string;
}

/**
 * Largest `--max-value-bytes`: one entry must fit in one peer frame (16 MiB, with the
 * key and the envelope) and leave room beside it, so 8 MiB.
 */
export const MAX_VALUE_BYTES_FLAG = 8 * 1024 * 1024;
/** Largest `--max-key-bytes`. */
export const MAX_KEY_BYTES_FLAG = 64 * 1024;

/** Every flag the node accepts; the environment variable is RAFTKV_ + NAME_IN_CAPS. */
export const OPTIONS: Record<string, OptionSpec> = {
  "id": { type: "string", help: "node id, e.g. n1 (required)" },
  "cluster-id": {
    type: "string",
    help: `cluster name both sides must share (${DEFAULTS.clusterId})`,
  },
  "peer-addr": { type: "string", help: `peer-protocol listen address (${DEFAULTS.peerAddr})` },
  "http-addr": { type: "string", help: `HTTP listen address (${DEFAULTS.httpAddr})` },
  "advertise-http": { type: "string", help: "HTTP URL other members use (http://<http-addr>)" },
  "data-dir": { type: "string", help: "data directory (./data/<id>)" },
  "initial-cluster": {
    type: "string",
    help: "bootstrap voters: n1=127.0.0.1:7001[@http://127.0.0.1:8001],n2=… " +
      "(without @http, members announce their --advertise-http to each other)",
  },
  "fsync": {
    type: "string",
    help: `always | never (${DEFAULTS.fsync}; never: tests and benchmarks only)`,
  },
  "tick-ms": { type: "string", help: `milliseconds per Raft tick (${DEFAULTS.tickMs})` },
  "election-ticks": {
    type: "string",
    help: `election timeout in ticks (${DEFAULTS.electionTicks})`,
  },
  "heartbeat-ticks": {
    type: "string",
    help: `heartbeat interval in ticks (${DEFAULTS.heartbeatTicks})`,
  },
  "peer-secret": { type: "string", help: "shared secret for the peer handshake (HMAC-SHA-256)" },
  "snapshot-entries": {
    type: "string",
    help:
      `snapshot every N applied entries, each member at its own phase, 0 = never (${DEFAULTS.snapshotEntries})`,
  },
  "snapshot-interval-s": {
    type: "string",
    help: "also snapshot every T seconds when anything changed, 0 = never (0)",
  },
  "log-level": { type: "string", help: "debug | info | warn | error (info)" },
  "snapshot-trailing": {
    type: "string",
    help: `entries kept behind a snapshot (${DEFAULTS.snapshotTrailingEntries})`,
  },
  "write-timeout-ms": {
    type: "string",
    help: `deadline of a write before 504 (${DEFAULTS.writeTimeoutMs})`,
  },
  "max-key-bytes": { type: "string", help: `largest key in bytes (${DEFAULTS.maxKeyBytes})` },
  "max-value-bytes": { type: "string", help: `largest value in bytes (${DEFAULTS.maxValueBytes})` },
  "cors-origins": { type: "string", help: "comma-separated allowed origins, or * (none)" },
  "join": { type: "string", help: "HTTP URL of any member: ask the cluster to add this node" },
  "learner": { type: "boolean", help: "with --join: stay a non-voting read replica" },
  "promote-max-lag": {
    type: "string",
    help: `a learner this close (entries) may be promoted (${DEFAULTS.promoteMaxLag})`,
  },
  "token": { type: "string", help: "read-write client bearer token(s), comma-separated" },
  "read-token": { type: "string", help: "read-only client bearer token(s), comma-separated" },
  "admin-token": { type: "string", help: "bearer token for /v1/cluster changes" },
  "token-file": {
    type: "string",
    help: "file of '<read|readwrite|admin> <token>' lines (keeps tokens out of ps)",
  },
  "tls-cert": { type: "string", help: "PEM certificate: serve HTTPS" },
  "tls-key": { type: "string", help: "PEM private key for --tls-cert" },
  "tls-ca": { type: "string", help: "PEM CA trusted when calling other members over HTTPS" },
  "peer-tls": {
    type: "boolean",
    help: "peer protocol over TLS too (uses --tls-cert/--tls-key, verifies peers with --tls-ca)",
  },
  "allow-unauthenticated": {
    type: "boolean",
    help:
      "serve a non-loopback --http-addr without tokens, or --peer-addr without a secret (not recommended)",
  },
  "restore": {
    type: "string",
    help: "backup file (GET /v1/cluster/snapshot): seed a new single-node cluster from it",
  },
  "help": { type: "boolean", help: "print this help" },
};

/** Name of the environment variable that backs a flag. */
export function envName(flag: string): string {
  return "RAFTKV_" + flag.toUpperCase().replaceAll("-", "_");
}

/** The `--help` text. */
export function helpText(): string {
  const lines = ["Usage: deno task node --id n1 [options]", "", "Options (env var in brackets):"];
  const width = Math.max(...Object.keys(OPTIONS).map((name) => name.length));
  for (const [name, spec] of Object.entries(OPTIONS)) {
    // --help is read from the command line only.
    const env = name === "help" ? "" : ` [${envName(name)}]`;
    lines.push(`  --${name.padEnd(width)}  ${spec.help}${env}`);
  }
  return lines.join("\n");
}

/** Throws unless `addr` is loopback, its credential is set, or unauthenticated use is allowed. */
function requireCredential(
  flagName: string,
  addr: string,
  hasCredential: boolean,
  credential: string,
  remedy: string,
  allowUnauthenticated: boolean,
): void {
  const [host] = checkHostPort(addr, flagName);
  if (isLoopbackHost(host) || hasCredential || allowUnauthenticated) return;
  throw new ConfigError(
    `${flagName} ${addr} is reachable from other machines but no ${credential} is set; ` +
      `set ${remedy}, or pass --allow-unauthenticated if that is really intended`,
  );
}

/** Parses argv plus environment into a config, or returns "help". Throws ConfigError. */
export function parseNodeArgs(
  argv: string[],
  env: (name: string) => string | undefined,
): NodeConfig | "help" {
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(
      Object.entries(OPTIONS).map(([k, v]) => [k, { type: v.type }]),
    ) as Record<string, { type: "string" | "boolean" }>;
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw new ConfigError(`${(e as Error).message} (see --help)`);
  }
  if (values["help"]) return "help";
  const get = (flag: string): string | undefined => {
    const v = values[flag];
    return typeof v === "string" ? v : env(envName(flag));
  };
  const flag = (name: string): boolean => {
    const v = values[name];
    if (typeof v === "boolean") return v;
    const e = env(envName(name));
    return e !== undefined && ["1", "true", "yes"].includes(e.toLowerCase());
  };
  const id = get("id");
  if (!id || !isValidNodeId(id)) {
    throw new ConfigError("--id is required: 1-64 letters, digits, '_', '.', '-' (e.g. n1)");
  }
  const peerAddr = get("peer-addr") ?? DEFAULTS.peerAddr;
  const httpAddr = get("http-addr") ?? DEFAULTS.httpAddr;
  checkHostPort(httpAddr, "--http-addr");
  const fsync = get("fsync") ?? DEFAULTS.fsync;
  if (fsync !== "always" && fsync !== "never") {
    throw new ConfigError(`--fsync must be always or never, not "${fsync}"`);
  }
  const initialCluster = parseInitialCluster(get("initial-cluster") ?? "");
  if (initialCluster.size > 0 && !initialCluster.has(id)) {
    throw new ConfigError(`--initial-cluster does not list this node's id ${id}`);
  }
  const cors = get("cors-origins");
  const auth = parseAuth(get);
  const certFile = get("tls-cert");
  const keyFile = get("tls-key");
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigError("--tls-cert and --tls-key go together");
  }
  const tls = certFile && keyFile ? { certFile, keyFile } : null;
  if (flag("peer-tls") && (tls === null || get("tls-ca") === undefined)) {
    throw new ConfigError("--peer-tls needs --tls-cert, --tls-key and --tls-ca");
  }
  // A listener other machines can reach needs its credential: without tokens anyone
  // could read and write; without a peer secret anyone could speak Raft to this node or
  // tie up its memory with large frames.
  const allowUnauthenticated = flag("allow-unauthenticated");
  requireCredential(
    "--http-addr",
    httpAddr,
    auth.tokens.length > 0,
    "--token",
    "--token/--token-file",
    allowUnauthenticated,
  );
  requireCredential(
    "--peer-addr",
    peerAddr,
    get("peer-secret") !== undefined,
    "--peer-secret",
    "--peer-secret",
    allowUnauthenticated,
  );
  const join = get("join");
  if (join !== undefined && initialCluster.size > 0) {
    throw new ConfigError(
      "--join and --initial-cluster exclude each other: join an existing cluster or bootstrap a new one",
    );
  }
  if (get("restore") !== undefined && (join !== undefined || initialCluster.size > 1)) {
    throw new ConfigError(
      "--restore starts a new single-node cluster: drop --join / other members",
    );
  }
  if (flag("learner") && join === undefined) {
    throw new ConfigError("--learner needs --join <url of a member>");
  }
  return {
    id,
    clusterId: get("cluster-id") ?? DEFAULTS.clusterId,
    peerAddr,
    httpAddr,
    advertiseHttpUrl: normalizeUrl(
      get("advertise-http") ?? `${tls ? "https" : "http"}://${httpAddr}`,
    ),
    dataDir: get("data-dir") ?? `./data/${id}`,
    initialCluster,
    fsync,
    tickMs: int(get, "tick-ms", DEFAULTS.tickMs, 1, 60_000),
    electionTicks: int(get, "election-ticks", DEFAULTS.electionTicks, 3, 1000),
    heartbeatTicks: int(get, "heartbeat-ticks", DEFAULTS.heartbeatTicks, 1, 1000),
    peerSecret: get("peer-secret") ?? null,
    snapshotEntries: int(get, "snapshot-entries", DEFAULTS.snapshotEntries, 0, 1e9),
    snapshotIntervalMs: int(get, "snapshot-interval-s", 0, 0, 86_400 * 30) * 1000,
    logLevel: parseLogLevel(get("log-level") ?? "info"),
    snapshotTrailingEntries: int(
      get,
      "snapshot-trailing",
      DEFAULTS.snapshotTrailingEntries,
      0,
      1e9,
    ),
    writeTimeoutMs: int(get, "write-timeout-ms", DEFAULTS.writeTimeoutMs, 100, 600_000),
    maxKeyBytes: int(get, "max-key-bytes", DEFAULTS.maxKeyBytes, 1, MAX_KEY_BYTES_FLAG),
    maxValueBytes: int(get, "max-value-bytes", DEFAULTS.maxValueBytes, 1, MAX_VALUE_BYTES_FLAG),
    corsOrigins: cors ? cors.split(",").map((s) => s.trim()).filter((s) => s !== "") : [],
    join: join === undefined ? null : normalizeUrl(join),
    learner: flag("learner"),
    promoteMaxLag: int(get, "promote-max-lag", DEFAULTS.promoteMaxLag, 0, 1e9),
    tokens: auth.tokens,
    adminToken: auth.adminToken,
    tls,
    tlsCaFile: get("tls-ca") ?? null,
    peerTls: flag("peer-tls"),
    allowUnauthenticated: flag("allow-unauthenticated"),
    restore: get("restore") ?? null,
  };
}

function int(
  get: (flag: string) => string | undefined,
  flag: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const text = get(flag);
  if (text === undefined) return fallback;
  // Decimal digits only: Number() also took "", "0x10" and "1e3" (0, 16 and 1000).
  const n = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`--${flag} must be an integer from ${min} to ${max}, not "${text}"`);
  }
  return n;
}

/** Minimum token length: shorter ones are guessable. */
export const MIN_TOKEN_CHARS = 16;

function parseAuth(get: (flag: string) => string | undefined): {
  tokens: { token: string; scope: "read" | "readwrite" }[];
  adminToken: string | null;
} {
  const list = (flag: string) =>
    (get(flag) ?? "").split(",").map((t) => t.trim()).filter((t) => t !== "");
  const tokens = [
    ...list("token").map((token) => ({ token, scope: "readwrite" as const })),
    ...list("read-token").map((token) => ({ token, scope: "read" as const })),
  ];
  let adminToken = get("admin-token") ?? null;
  const file = get("token-file");
  if (file !== undefined) {
    let text: string;
    try {
      text = runtime.fs.readTextFileSync(file);
    } catch (e) {
      throw new ConfigError(`--token-file ${file}: ${(e as Error).message}`);
    }
    try {
      const parsed = parseTokenFile(text, file);
      tokens.push(...parsed.tokens);
      adminToken = parsed.adminToken ?? adminToken;
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
  }
  for (const t of [...tokens.map((t) => t.token), ...(adminToken ? [adminToken] : [])]) {
    if (t.length < MIN_TOKEN_CHARS) {
      throw new ConfigError(`tokens must be at least ${MIN_TOKEN_CHARS} characters long`);
    }
  }
  return { tokens, adminToken };
}

function parseLogLevel(text: string): "debug" | "info" | "warn" | "error" {
  if (text === "debug" || text === "info" || text === "warn" || text === "error") return text;
  throw new ConfigError(`--log-level must be debug, info, warn or error, not "${text}"`);
}
