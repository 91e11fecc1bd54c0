/**
 * The HTTP layer's own cost per request, in process: the Hono app over a node that
 * answers at once, with metrics on as in a real node. Sockets and the runtime's HTTP
 * server are left out (the cluster benchmark has them), so this isolates what the
 * app's routing, middleware, validation and response building cost.
 *
 * `deno run -A tests/bench/http_bench.ts [--requests 200000]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  createApp,
  DEFAULT_HTTP_OPTIONS,
  type NodeApi,
  type NodeStatus,
} from "../../src/http/app.ts";
import { RaftkvMetrics } from "../../src/node/metrics.ts";
import type { ApplyResult, KeyValue, KvCommand } from "../../src/kv/types.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { requests: { type: "string", default: "200000" } },
});
const REQUESTS = Number(values.requests);

const VALUE = new TextEncoder().encode("v".repeat(100));
const status: NodeStatus = {
  id: "n1",
  role: "leader",
  term: 2,
  leader: "n1",
  leaderHttpUrl: "http://127.0.0.1:8101",
  commitIndex: 10,
  appliedIndex: 10,
  ready: true,
  removed: false,
};
let revision = 1;
const stored: KeyValue = {
  key: "k1",
  value: VALUE,
  createRevision: 1,
  modRevision: 1,
  version: 1,
  expiresAtMs: null,
  lease: null,
};

/** A node that has every key and applies every write at once. */
const node: NodeApi = {
  write(command: KvCommand): Promise<ApplyResult> {
    if (command.op !== "put") throw new Error("only puts are benchmarked");
    revision++;
    return Promise.resolve({
      ok: true,
      value: { key: command.key, revision, modRevision: revision, createRevision: 1, version: 2 },
    } as ApplyResult);
  },
  get(key: string) {
    return Promise.resolve({ kv: { ...stored, key }, revision });
  },
  list() {
    return Promise.resolve({ items: [], more: false, revision });
  },
  watch() {
    throw new Error("not benchmarked");
  },
  status: () => status,
  keepalive: notBenchmarked,
  lease: notBenchmarked,
  leases: notBenchmarked,
  readTxn: notBenchmarked,
};

function notBenchmarked(): never {
  throw new Error("not benchmarked");
}

const app = createApp(node, { ...DEFAULT_HTTP_OPTIONS, metrics: new RaftkvMetrics() });
const BASE = "http://127.0.0.1:8101";

async function measure(name: string, request: (i: number) => Request): Promise<void> {
  // Warm up the JIT first, then time.
  for (let i = 0; i < 20_000; i++) await (await app.fetch(request(i))).arrayBuffer();
  const started = performance.now();
  for (let i = 0; i < REQUESTS; i++) {
    const res = await app.fetch(request(i));
    if (!res.ok) throw new Error(`${name}: status ${res.status}: ${await res.text()}`);
    await res.arrayBuffer();
  }
  const us = ((performance.now() - started) * 1000) / REQUESTS;
  console.log(
    `${name.padEnd(28)} ${us.toFixed(2)} µs/request (${
      Math.round(1e6 / us)
    } requests/s on one core)`,
  );
}

await measure("GET linearizable", (i) => new Request(`${BASE}/v1/kv/k${i % 10_000}`));
await measure(
  "GET stale",
  (i) => new Request(`${BASE}/v1/kv/k${i % 10_000}?consistency=stale`),
);
await measure(
  "PUT 100 B",
  (i) => new Request(`${BASE}/v1/kv/k${i % 100_000}`, { method: "PUT", body: VALUE }),
);
