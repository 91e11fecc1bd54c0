/**
 * `deno task node` (or `bun run src/main.ts`): flags and environment → config → storage, transport, node and the
 * HTTP front door. SIGINT/SIGTERM stop accepting requests, hand leadership away,
 * flush, and exit 0.
 *
 * @module
 */

import { ConfigError, type NodeConfig } from "./node/config.ts";
import { helpText, parseNodeArgs } from "./node/cli.ts";
import { createLogger, type Logger } from "./node/log.ts";
import { RaftkvNode } from "./node/node.ts";
import { openStorage, type RaftStorage } from "./storage/raft_storage.ts";
import { bootstrapEntries } from "./node/bootstrap.ts";
import { TcpTransport } from "./transport/tcp_transport.ts";
import { createApp } from "./http/app.ts";
import { checkHostPort, isLoopbackHost } from "./node/config.ts";
import { joinCluster } from "./node/join.ts";
import { refuseWipedFounder } from "./node/founder_check.ts";
import { restoreBackup } from "./node/restore.ts";
import { runtime } from "./runtime/current.ts";
import { type NodeClock, nodeClock } from "./node/clock.ts";

/**
 * Opens the data directory, seeding it with the bootstrap membership when new.
 * `fresh` is true when the directory held no log and no snapshot. `checkFounder` runs
 * before a new founding member writes its bootstrap entries, and may refuse the start
 * (see founder_check.ts); the directory is then left empty.
 */
export async function openNodeStorage(
  config: NodeConfig,
  log: Logger,
  checkFounder: () => Promise<void> = () => Promise.resolve(),
): Promise<{ storage: RaftStorage; fresh: boolean }> {
  const options = { fsync: config.fsync, trailingEntries: config.snapshotTrailingEntries };
  const storage = await openStorage(config.dataDir, options);
  const fresh = storage.lastIndex() === 0 && storage.snapshotMeta().index === 0;
  if (config.restore !== null) {
    if (!fresh) {
      log.log("info", "data directory already holds state: --restore ignored", {
        dataDir: config.dataDir,
      });
    } else {
      const keys = await restoreBackup(config, storage, config.restore);
      log.log("info", "restored a backup as a new single-node cluster", {
        file: config.restore,
        keys,
      });
    }
  } else if (fresh && config.initialCluster.size > 0) {
    try {
      await checkFounder();
    } catch (e) {
      await storage.close();
      throw e;
    }
    const { hardState, entries } = bootstrapEntries(config.initialCluster);
    await storage.save(hardState, entries);
    log.log("info", "bootstrapped a new cluster", { voters: [...config.initialCluster.keys()] });
  } else if (fresh) {
    if (config.join === null) {
      // It would hear the leader but could never answer: replies need the leader's
      // address, and only the log (which it cannot get) or a join would tell it.
      await storage.close();
      throw new Error(
        `node ${config.id} has no data, no --initial-cluster and no --join, so it could ` +
          `never reach the other members. Start a founding voter with --initial-cluster, or ` +
          `a new member with --join <any member's HTTP URL> (also after an operator added ` +
          `it with POST /v1/cluster/members)`,
      );
    }
    log.log("info", "no membership yet: joining through --join", { join: config.join });
  }
  return { storage, fresh };
}

/**
 * fetch for calls to other members (forwarded writes, joins). It never reuses a
 * connection: a pooled one that died under a request makes fetch retry on a new
 * connection and report only that connect failure, although the first attempt may have
 * reached the leader; a forwarded write would then be answered "never sent" (503) when
 * it may have been applied. With fresh connections, a connect failure means exactly
 * that. It also trusts --tls-ca in addition to the system CAs.
 */
async function fetchForMembers(config: NodeConfig): Promise<typeof fetch> {
  const caCerts = config.tlsCaFile === null
    ? []
    : [await runtime.fs.readTextFile(config.tlsCaFile)];
  return runtime.memberFetch(caCerts);
}

/**
 * Starts a node and its HTTP server; resolves with a stop function. `clock` is the one
 * clock the node, its join and its startup checks run on (the runtime's by default).
 */
export async function runNode(
  config: NodeConfig,
  log: Logger,
  clock: NodeClock = nodeClock(),
): Promise<() => Promise<void>> {
  if (config.fsync === "never") {
    log.log("warn", "fsync is OFF: acknowledged writes can be lost on a crash (tests only)");
  }
  const memberFetch = await fetchForMembers(config);
  const { storage, fresh } = await openNodeStorage(
    config,
    log,
    () => refuseWipedFounder(config, log, { fetch: memberFetch, clock }),
  );
  const peerTls = config.peerTls && config.tls && config.tlsCaFile
    ? {
      cert: await runtime.fs.readTextFile(config.tls.certFile),
      key: await runtime.fs.readTextFile(config.tls.keyFile),
      caCerts: [await runtime.fs.readTextFile(config.tlsCaFile)],
    }
    : null;
  const transport = new TcpTransport({
    id: config.id,
    clusterId: config.clusterId,
    listenAddr: config.peerAddr,
    httpUrl: config.advertiseHttpUrl,
    ...(config.peerSecret === null ? {} : { secret: config.peerSecret }),
    ...(peerTls === null ? {} : { tls: peerTls }),
    log: (level, msg, fields) => log.log(level, msg, fields),
  });
  const node = await RaftkvNode.start({
    config,
    storage,
    transport,
    log,
    now: clock.now,
    monotonicMs: clock.monotonicMs,
    scheduler: clock.scheduler,
    timers: clock.timers,
  });
  const app = createApp(node, {
    maxKeyBytes: config.maxKeyBytes,
    maxValueBytes: config.maxValueBytes,
    maxWatchers: 1000,
    corsOrigins: config.corsOrigins,
    requestTimeoutMs: config.writeTimeoutMs,
    fetch: memberFetch,
    auth: { tokens: config.tokens, adminToken: config.adminToken },
    metrics: node.metrics,
    minLeaseTtlMs: 1.5 * config.tickMs * config.electionTicks,
  }, node);
  const [hostname, port] = checkHostPort(config.httpAddr, "--http-addr");
  const tls = config.tls === null ? {} : {
    tls: {
      cert: await runtime.fs.readTextFile(config.tls.certFile),
      key: await runtime.fs.readTextFile(config.tls.keyFile),
    },
  };
  const server = await runtime.serve({ hostname, port, ...tls }, (request) => app.fetch(request));
  if (config.tokens.length === 0) {
    const local = isLoopbackHost(hostname);
    log.log(
      local ? "info" : "warn",
      local
        ? "no client token configured: serving on loopback only"
        : "no client token configured and not on loopback: anyone who can reach it can read and write",
      { http: config.httpAddr },
    );
  }
  log.log("info", "node started", {
    http: config.advertiseHttpUrl,
    peer: config.peerAddr,
    dataDir: config.dataDir,
    runtime: runtime.name,
  });
  // Only an empty node asks to join; a restarted one already has its membership in its log.
  if (config.join !== null && fresh) {
    await joinCluster(
      config,
      log,
      (members) => node.rememberMembers(members),
      config.adminToken ?? config.tokens.find((t) => t.scope === "readwrite")?.token,
      { fetch: memberFetch, clock },
    );
  }
  return async () => {
    await node.beginStop(); // hand-off and watches first: the server waits for both
    await server.shutdown();
    await node.stop();
  };
}

if (import.meta.main) {
  let config: NodeConfig | "help";
  try {
    config = parseNodeArgs(runtime.args, (name) => runtime.env(name));
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    console.error(`raftkv: ${e.message}`);
    runtime.exit(2);
  }
  if (config === "help") {
    console.log(helpText());
    runtime.exit(0);
  }
  const log = createLogger(config.id, config.logLevel);
  let stop: () => Promise<void>;
  try {
    stop = await runNode(config, log);
  } catch (e) {
    log.log("error", "could not start", { error: e instanceof Error ? e.message : String(e) });
    runtime.exit(1);
  }
  const offSignals: (() => void)[] = [];
  let stopping = false;
  const onSignal = async () => {
    if (stopping) return;
    stopping = true;
    log.log("info", "stopping: handing off leadership if leader, then flushing");
    await stop();
    log.log("info", "stopped cleanly");
    // Leave by draining the event loop (lets --cpu-prof write a full profile); a handle
    // left open by mistake must not keep a stopped node alive, hence the fallback.
    for (const off of offSignals) off();
    runtime.unrefTimer(setTimeout(() => runtime.exit(0), 2_000));
  };
  offSignals.push(runtime.onSignal("SIGINT", onSignal), runtime.onSignal("SIGTERM", onSignal));
}
