/**
 * The node processes of a chaos run: five voters and one learner, each started as a
 * real `deno run src/main.ts` process, inside its own network namespace when a
 * {@link NetnsNetwork} is given, else on 127.0.0.1. The cluster kills, pauses and
 * restarts them for the nemesis and notices any process that exits on its own.
 *
 * @module
 */

import { freePorts, waitFor } from "../integration/harness.ts";
import assert from "node:assert/strict";
import type { NetnsNetwork } from "./netns.ts";
import { runArgs, runtimeExecutable } from "../../src/runtime/command.ts";
import type { RuntimeName } from "../../src/runtime/runtime.ts";

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

/** Log lines kept in memory per node (the full log goes to a file). */
export const MAX_TAIL_LINES = 200;
/** Deadline of the harness's own status calls. */
const STATUS_TIMEOUT_MS = 1000;
/** Port every node uses inside its namespace (each namespace has its own ports). */
const NETNS_PEER_PORT = 7000;
const NETNS_HTTP_PORT = 8000;

/** One node process and what the nemesis did to it. */
export interface ChaosNode {
  id: string;
  learner: boolean;
  peerAddr: string;
  httpUrl: string;
  dataDir: string;
  logPath: string;
  process: Deno.ChildProcess | null;
  /** What the node runs on. */
  runtime: RuntimeName;
  paused: boolean;
  /** Bumped on every start: readers use it to tell restarts apart. */
  incarnation: number;
  /** Set while the harness itself stops the process, so the exit is expected. */
  stopping: boolean;
}

/** A process that exited without the harness asking. */
export interface UnexpectedExit {
  node: string;
  code: number;
  signal: string | null;
  tail: string;
}

/** What {@link ChaosCluster.start} needs. */
export interface ClusterOptions {
  voters: number;
  learners: number;
  /** Working directory: data and logs go below it. */
  root: string;
  /** Namespaces to run in; null runs everything on 127.0.0.1. */
  network: NetnsNetwork | null;
  /** Extra flags for every node. */
  flags: string[];
  /** Runtime of each node in turn (n1 gets the first); Deno when absent. */
  runtimes?: RuntimeName[];
}

/** Ids of a cluster's nodes: voters n1..nV, then learners. */
export function nodeIds(voters: number, learners: number): string[] {
  return Array.from({ length: voters + learners }, (_, i) => `n${i + 1}`);
}

/** The node processes of one run. */
export class ChaosCluster {
  readonly nodes: ChaosNode[] = [];
  readonly unexpectedExits: UnexpectedExit[] = [];
  readonly #options: ClusterOptions;
  readonly #tails = new Map<string, string[]>();
  readonly #logFiles = new Map<string, Deno.FsFile>();

  private constructor(options: ClusterOptions) {
    this.#options = options;
  }

  /** Starts the voters, waits for a leader, then joins the learners and waits for them. */
  static async start(options: ClusterOptions): Promise<ChaosCluster> {
    const cluster = new ChaosCluster(options);
    const ids = nodeIds(options.voters, options.learners);
    const ports = options.network ? [] : freePorts(ids.length * 2);
    for (const [i, id] of ids.entries()) {
      const host = options.network?.ip(id) ?? "127.0.0.1";
      const peerPort = options.network ? NETNS_PEER_PORT : ports[2 * i];
      const httpPort = options.network ? NETNS_HTTP_PORT : ports[2 * i + 1];
      cluster.nodes.push({
        id,
        learner: i >= options.voters,
        peerAddr: `${host}:${peerPort}`,
        httpUrl: `http://${host}:${httpPort}`,
        dataDir: `${options.root}/data/${id}`,
        logPath: `${options.root}/logs/${id}.log`,
        process: null,
        runtime: options.runtimes?.[i % options.runtimes.length] ?? "deno",
        paused: false,
        incarnation: 0,
        stopping: false,
      });
    }
    await Deno.mkdir(`${options.root}/logs`, { recursive: true });
    await Deno.mkdir(`${options.root}/data`, { recursive: true });
    for (const node of cluster.voters()) cluster.spawn(node);
    await cluster.waitForLeader(30_000);
    for (const node of cluster.learners()) {
      cluster.spawn(node);
      await waitFor(`${node.id} to join`, async () => {
        const s = await cluster.status(node);
        return s !== null && s.leader !== null && s.appliedIndex > 0 ? true : undefined;
      }, 30_000);
    }
    return cluster;
  }

  /** The voting members. */
  voters(): ChaosNode[] {
    return this.nodes.filter((n) => !n.learner);
  }

  /** The learners. */
  learners(): ChaosNode[] {
    return this.nodes.filter((n) => n.learner);
  }

  /** The --initial-cluster value. */
  initialCluster(): string {
    return this.voters().map((n) => `${n.id}=${n.peerAddr}@${n.httpUrl}`).join(",");
  }

  /** Starts (or restarts) a node on its data directory. */
  spawn(node: ChaosNode): void {
    assert.equal(node.process, null, `${node.id} is already running`);
    const seed = this.voters()[0];
    assert(seed !== undefined, "a cluster has voters");
    const argv = [
      runtimeExecutable(node.runtime),
      ...runArgs(node.runtime, MAIN),
      "--id",
      node.id,
      "--peer-addr",
      node.peerAddr,
      "--http-addr",
      node.httpUrl.replace(/^http:\/\//, ""),
      "--data-dir",
      node.dataDir,
      // Namespace addresses are not loopback; nothing outside this machine can reach them.
      "--allow-unauthenticated",
      ...(node.learner
        ? ["--join", seed.httpUrl, "--learner"]
        : ["--initial-cluster", this.initialCluster()]),
      ...this.#options.flags,
    ];
    const full = this.#options.network ? this.#options.network.wrap(node.id, argv) : argv;
    const [cmd, ...args] = full;
    assert(cmd !== undefined, "a command");
    const child = new Deno.Command(cmd, {
      args,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    node.process = child;
    node.paused = false;
    node.stopping = false;
    node.incarnation++;
    this.#pipeLogs(node, child);
    void child.status.then((status) => {
      if (node.process === child) node.process = null;
      if (node.stopping) return;
      this.unexpectedExits.push({
        node: node.id,
        code: status.code,
        signal: status.signal,
        tail: this.tail(node, 40),
      });
    });
  }

  /** SIGKILLs a node and waits until it is gone. */
  async kill(node: ChaosNode): Promise<void> {
    const child = node.process;
    if (child === null) return;
    node.stopping = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await child.status;
    node.process = null;
    node.paused = false;
  }

  /** SIGSTOPs a node (it keeps its sockets but answers nothing). */
  pause(node: ChaosNode): void {
    if (node.process === null || node.paused) return;
    node.process.kill("SIGSTOP");
    node.paused = true;
  }

  /** SIGCONTs a paused node. */
  resume(node: ChaosNode): void {
    if (node.process === null || !node.paused) return;
    node.process.kill("SIGCONT");
    node.paused = false;
  }

  /** Resumes paused nodes and restarts dead ones. */
  reviveAll(): void {
    for (const node of this.nodes) {
      if (node.process === null) this.spawn(node);
      else this.resume(node);
    }
  }

  /** GET /v1/status of a node, or null if it does not answer in time. */
  async status(node: ChaosNode): Promise<NodeStatusView | null> {
    try {
      const res = await fetch(`${node.httpUrl}/v1/status`, {
        signal: AbortSignal.timeout(STATUS_TIMEOUT_MS),
      });
      if (!res.ok) {
        await res.body?.cancel();
        return null;
      }
      return await res.json() as NodeStatusView;
    } catch {
      return null;
    }
  }

  /** The current leader as the nodes report it, or null when none is known right now. */
  async leader(): Promise<ChaosNode | null> {
    const live = this.voters().filter((n) => n.process !== null && !n.paused);
    const statuses = await Promise.all(live.map((n) => this.status(n)));
    // The highest term's leader wins: an isolated old leader may still believe it leads.
    let best: { node: ChaosNode; term: number } | null = null;
    for (const [i, s] of statuses.entries()) {
      const node = live[i];
      if (s === null || s.role !== "leader" || node === undefined) continue;
      if (best === null || s.term > best.term) best = { node, term: s.term };
    }
    return best?.node ?? null;
  }

  /** Waits until some node is leader. */
  async waitForLeader(timeoutMs: number): Promise<ChaosNode> {
    return await waitFor("a leader", async () => (await this.leader()) ?? undefined, timeoutMs);
  }

  /** Waits until every node answers /health; returns the ids of those that never did. */
  async waitUntilServing(timeoutMs: number): Promise<string[]> {
    const pending = new Set(this.nodes.map((n) => n.id));
    await waitFor("every node to serve HTTP", async () => {
      await Promise.all(
        this.nodes.filter((n) => pending.has(n.id)).map(async (node) => {
          const res = await fetch(`${node.httpUrl}/health`, {
            signal: AbortSignal.timeout(STATUS_TIMEOUT_MS),
          }).catch(() => null);
          await res?.body?.cancel();
          if (res?.ok) pending.delete(node.id);
        }),
      );
      return pending.size === 0 ? true : undefined;
    }, timeoutMs).catch(() => {});
    return [...pending];
  }

  /** The last `lines` lines a node logged. */
  tail(node: ChaosNode, lines: number): string {
    return (this.#tails.get(node.id) ?? []).slice(-lines).join("\n");
  }

  /** Kills every node (expected exits) and closes the log files. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.kill(n)));
    for (const file of this.#logFiles.values()) {
      try {
        file.close();
      } catch { /* closed */ }
    }
    this.#logFiles.clear();
  }

  #pipeLogs(node: ChaosNode, child: Deno.ChildProcess): void {
    let file = this.#logFiles.get(node.id);
    if (file === undefined) {
      file = Deno.openSync(node.logPath, { create: true, append: true });
      this.#logFiles.set(node.id, file);
    }
    const tail = this.#tails.get(node.id) ?? [];
    this.#tails.set(node.id, tail);
    const banner = `--- ${new Date().toISOString()} start #${node.incarnation} of ${node.id}\n`;
    file.writeSync(new TextEncoder().encode(banner));
    tail.push(banner.trimEnd());
    const sink = file;
    for (const stream of [child.stdout, child.stderr]) {
      void (async () => {
        try {
          for await (const chunk of stream) {
            sink.writeSync(chunk);
            for (const line of new TextDecoder().decode(chunk).split("\n")) {
              if (line !== "") tail.push(line);
            }
            if (tail.length > MAX_TAIL_LINES) tail.splice(0, tail.length - MAX_TAIL_LINES);
          }
        } catch { /* process gone or file closed */ }
      })();
    }
  }
}

/** The parts of GET /v1/status the harness reads. */
export interface NodeStatusView {
  id: string;
  role: string;
  term: number;
  leader: string | null;
  commitIndex: number;
  appliedIndex: number;
}

/** Polls a check until it returns a value; shared with the integration tests. */
export { waitFor };
