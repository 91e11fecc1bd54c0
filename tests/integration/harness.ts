/**
 * Starts real raftkv node processes on loopback for integration tests, and stops them
 * (by PID) however a test ends.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseRuntimeName, runArgs, runtimeExecutable } from "../../src/runtime/command.ts";
import type { RuntimeName } from "../../src/runtime/runtime.ts";
import { freePorts } from "./ports.ts";

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

/**
 * The runtime test nodes run on unless a test says otherwise: `RAFTKV_TEST_RUNTIME=bun`
 * runs the integration suite against Bun nodes (the test process itself stays on Deno).
 */
export const TEST_RUNTIME: RuntimeName = parseRuntimeName(
  Deno.env.get("RAFTKV_TEST_RUNTIME") ?? "deno",
);

/** Options of {@link TestCluster.start} and {@link TestCluster.launch}. */
export interface LaunchOptions {
  scheme?: "http" | "https";
  caCert?: string;
  token?: string;
  /**
   * false: --initial-cluster lists only `id=host:port` (the `@http://…` part is
   * optional), so members must learn each other's HTTP URLs themselves. Default true.
   */
  httpUrlsInInitialCluster?: boolean;
  /** Runtime of each node in turn (n1 gets the first); defaults to {@link TEST_RUNTIME}. */
  runtimes?: RuntimeName[];
  /**
   * How many of the voters (n1 first) are spawned at launch; the rest are listed in
   * --initial-cluster but wait for {@link TestCluster.spawn} (a founder started late).
   * Default: all.
   */
  spawned?: number;
}

/** One node process of a test cluster. */
export interface TestNode {
  id: string;
  peerAddr: string;
  httpUrl: string;
  dataDir: string;
  process: Deno.ChildProcess | null;
  /** What the node's process runs on (change it between stop and spawn to switch). */
  runtime: RuntimeName;
  /** Extra flags this node is started with. */
  flags: string[];
  /** Joined an existing cluster rather than founding it. */
  joined?: boolean;
}

/** Loopback ports claimed for the whole run (see ports.ts for why not port 0). */
export { freePorts };

/** Polls `check` until it returns a value (not undefined) or the deadline passes. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (e) {
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}` +
      (lastError ? ` (last error: ${lastError})` : ""),
  );
}

/** A cluster of node processes with fresh data directories. */
export class TestCluster {
  readonly nodes: TestNode[] = [];
  readonly root: string;
  #logs = new Map<string, string[]>();
  #client: Deno.HttpClient | null = null;
  #headers: Record<string, string> = {};
  /** Whether --initial-cluster names each member's HTTP URL (`id=peer@http://…`). */
  #httpUrlsInInitialCluster = true;

  /** fetch with the cluster's CA and token, for the harness's own calls. */
  fetch(url: string, init: RequestInit = {}): Promise<Response> {
    return fetch(url, {
      ...init,
      headers: { ...this.#headers, ...(init.headers as Record<string, string> | undefined) },
      ...(this.#client ? { client: this.#client } : {}),
    });
  }

  private constructor(root: string) {
    this.root = root;
  }

  /** Starts `voters` nodes with the given extra flags and waits for a leader. */
  static async start(
    voters: number,
    flags: string[] = [],
    options: LaunchOptions = {},
  ): Promise<TestCluster> {
    const cluster = TestCluster.launch(voters, flags, options);
    try {
      await cluster.leader();
    } catch (error) {
      await cluster.stop(); // no node outlives a cluster that never came up
      throw error;
    }
    return cluster;
  }

  /**
   * Spawns `voters` nodes and returns at once, so a caller can register `stop()` before
   * waiting (with `leader()`) for the cluster to come up.
   */
  static launch(
    voters: number,
    flags: string[] = [],
    options: LaunchOptions = {},
  ): TestCluster {
    const runtimes = options.runtimes ?? [TEST_RUNTIME];
    const scheme = options.scheme ?? "http";
    const cluster = new TestCluster(Deno.makeTempDirSync({ prefix: "raftkv-it-" }));
    cluster.#httpUrlsInInitialCluster = options.httpUrlsInInitialCluster ?? true;
    if (options.caCert) cluster.#client = Deno.createHttpClient({ caCerts: [options.caCert] });
    if (options.token) cluster.#headers = { authorization: `Bearer ${options.token}` };
    const ports = freePorts(voters * 2);
    for (let i = 0; i < voters; i++) {
      cluster.nodes.push({
        id: `n${i + 1}`,
        peerAddr: `127.0.0.1:${ports[2 * i]}`,
        httpUrl: `${scheme}://127.0.0.1:${ports[2 * i + 1]}`,
        dataDir: `${cluster.root}/n${i + 1}`,
        process: null,
        runtime: runtimes[i % runtimes.length] ?? TEST_RUNTIME,
        flags,
      });
    }
    for (const node of cluster.nodes.slice(0, options.spawned ?? voters)) cluster.spawn(node);
    return cluster;
  }

  /** The --initial-cluster value for the voters. */
  initialCluster(): string {
    return this.nodes.filter((n) => !n.joined)
      .map((n) => `${n.id}=${n.peerAddr}${this.#httpUrlsInInitialCluster ? `@${n.httpUrl}` : ""}`)
      .join(",");
  }

  /**
   * Adds a fresh node that joins through `via` (a learner unless `voter`). It is not in
   * --initial-cluster; restarts of it rejoin with the same flags.
   */
  join(
    via: TestNode,
    options: { voter?: boolean; flags?: string[]; runtime?: RuntimeName } = {},
  ): TestNode {
    const [peerPort, httpPort] = freePorts(2);
    const id = `n${this.nodes.length + 1}`;
    const node: TestNode = {
      id,
      peerAddr: `127.0.0.1:${peerPort}`,
      httpUrl: `http://127.0.0.1:${httpPort}`,
      dataDir: `${this.root}/${id}`,
      process: null,
      runtime: options.runtime ?? TEST_RUNTIME,
      flags: [
        "--join",
        via.httpUrl,
        ...(options.voter ? [] : ["--learner"]),
        ...(options.flags ?? this.nodes[0]?.flags ?? []),
      ],
      joined: true,
    };
    this.nodes.push(node);
    this.spawn(node);
    return node;
  }

  /** Starts (or restarts) a node's process with its data directory. */
  spawn(node: TestNode): void {
    assert.equal(node.process, null, `${node.id} is already running`);
    const args = [
      ...runArgs(node.runtime, MAIN),
      "--id",
      node.id,
      "--peer-addr",
      node.peerAddr,
      "--http-addr",
      node.httpUrl.replace(/^https?:\/\//, ""),
      "--data-dir",
      node.dataDir,
      ...(node.joined ? [] : ["--initial-cluster", this.initialCluster()]),
      ...node.flags,
    ];
    const child = new Deno.Command(runtimeExecutable(node.runtime), {
      args,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    node.process = child;
    const lines = this.#logs.get(node.id) ?? [];
    this.#logs.set(node.id, lines);
    void collect(child.stdout, lines);
    void collect(child.stderr, lines);
  }

  /** SIGKILLs a node (no clean shutdown) and waits for it to die. */
  async kill(node: TestNode, signal: Deno.Signal = "SIGKILL"): Promise<void> {
    const child = node.process;
    if (!child) return;
    try {
      child.kill(signal);
    } catch { /* already exited */ }
    await child.status;
    node.process = null;
  }

  /** Finds the node every live node agrees is leader. */
  async leader(timeoutMs = 10_000): Promise<TestNode> {
    return await waitFor("a leader", async () => {
      for (const node of this.nodes) {
        if (!node.process) continue;
        const status = await this.status(node).catch(() => null);
        if (status?.role === "leader") return node;
      }
      return undefined;
    }, timeoutMs);
  }

  /** GET /v1/status of a node. */
  async status(
    node: TestNode,
  ): Promise<
    { role: string; leader: string | null; term: number; commitIndex: number; appliedIndex: number }
  > {
    const res = await this.fetch(`${node.httpUrl}/v1/status`, {
      signal: AbortSignal.timeout(1000),
    });
    return await res.json();
  }

  /** PUT `key` = "v" through `node`, which must answer 200. */
  async putOk(node: TestNode, key: string): Promise<void> {
    const res = await this.fetch(`${node.httpUrl}/v1/kv/${key}`, { method: "PUT", body: "v" });
    assert.equal(res.status, 200, await res.text());
  }

  /** Waits until `node` has applied everything the (current) leader has committed. */
  async caughtUp(node: TestNode): Promise<void> {
    await waitFor(
      `${node.id} to catch up`,
      async () => {
        const leader = await this.status(await this.leader());
        const mine = await this.status(node);
        return mine.appliedIndex >= leader.commitIndex ? true : undefined;
      },
      30_000,
      100,
    );
  }

  /** GET /v1/cluster through a node (forwarded to the leader). */
  async clusterInfo(via?: TestNode): Promise<{
    leader: string | null;
    members: { id: string; role: string; matchIndex: number | null; lag: number | null }[];
  }> {
    const node = via ?? await this.leader();
    const res = await this.fetch(`${node.httpUrl}/v1/cluster`, {
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) throw new Error(`GET /v1/cluster: ${res.status} ${await res.text()}`);
    return await res.json();
  }

  /**
   * Sends an admin request to the leader; returns status and parsed body. A 503 (the
   * leader moved between finding it and asking it) is retried until `timeoutMs`.
   */
  async admin(
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = 15_000,
  ): Promise<{ status: number; body: unknown }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const leader = await this.leader();
      const res = await this.fetch(`${leader.httpUrl}${path}`, {
        method,
        headers: { "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(15_000),
      });
      const text = await res.text();
      const answer = { status: res.status, body: text ? JSON.parse(text) : null };
      if (res.status !== 503 || Date.now() > deadline) return answer;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The node object by id. */
  node(id: string): TestNode {
    const node = this.nodes.find((n) => n.id === id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  /** The log lines a node printed (for failure messages). */
  logs(node: TestNode): string {
    return (this.#logs.get(node.id) ?? []).join("\n");
  }

  /** Kills every node and removes the data directories. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.kill(n)));
    this.#client?.close();
    await Deno.remove(this.root, { recursive: true }).catch(() => {});
  }
}

async function collect(stream: ReadableStream<Uint8Array>, lines: string[]): Promise<void> {
  try {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      lines.push(text);
      if (lines.length > 5000) lines.splice(0, 1000);
    }
  } catch { /* process killed */ }
}
