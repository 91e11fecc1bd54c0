/**
 * A 3-member etcd 3.4 cluster on loopback ports in a temp folder, for benchmarks.
 *
 * @module
 */

import { freePorts, waitFor } from "../../integration/harness.ts";

/** A running etcd cluster. */
export interface EtcdCluster {
  clientUrls: string[];
  pids: number[];
  leaderUrl(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Spawns etcd members e1..e3 with `--enable-v2=true` and their default fsync, and returns
 * at once so the caller can register `stop()` first; `leaderUrl()` waits for a leader.
 */
export function startEtcd(root: string): EtcdCluster {
  const ports = freePorts(6);
  const names = ["e1", "e2", "e3"];
  const peer = (i: number) => `http://127.0.0.1:${ports[2 * i + 1]}`;
  const client = (i: number) => `http://127.0.0.1:${ports[2 * i]}`;
  const initial = names.map((n, i) => `${n}=${peer(i)}`).join(",");
  const children = names.map((name, i) =>
    new Deno.Command("etcd", {
      args: [
        "--name",
        name,
        "--data-dir",
        `${root}/${name}`,
        "--listen-client-urls",
        client(i),
        "--advertise-client-urls",
        client(i),
        "--listen-peer-urls",
        peer(i),
        "--initial-advertise-peer-urls",
        peer(i),
        "--initial-cluster",
        initial,
        "--initial-cluster-state",
        "new",
        "--initial-cluster-token",
        "raftkv-bench",
        "--enable-v2=true",
        "--logger",
        "zap",
        "--log-level",
        "error",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn()
  );
  const clientUrls = names.map((_, i) => client(i));
  const leaderUrl = async () =>
    await waitFor(
      "etcd leader",
      async () => {
        for (const url of clientUrls) {
          const res = await fetch(`${url}/v3/maintenance/status`, {
            method: "POST",
            body: "{}",
            signal: AbortSignal.timeout(2_000),
          });
          const status = await res.json() as { header: { member_id: string }; leader: string };
          if (status.leader && status.leader === status.header.member_id) return url;
        }
        return undefined;
      },
      30_000,
      200,
    );
  return {
    clientUrls,
    pids: children.map((c) => c.pid),
    leaderUrl,
    async stop() {
      for (const c of children) {
        try {
          c.kill("SIGTERM");
        } catch { /* gone */ }
      }
      await Promise.all(children.map((c) => c.status));
    },
  };
}
