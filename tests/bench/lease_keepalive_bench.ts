/**
 * What keepalives cost: 10,000 leases each kept alive every ttl/3 (ttl 3 s: 10,000
 * keepalives a second), through a real node (Raft core, driver, lease batching, apply)
 * over in-memory storage and transport, and again through the HTTP app (Hono routing,
 * no sockets, at a quarter of that rate). Prints log entries per second, ids per entry,
 * and CPU µs per keepalive.
 * Bounded: about 5 s per phase.
 *
 * `deno task bench lease_keepalive`
 *
 * @module
 */

import process from "node:process";
import { RaftkvNode } from "../../src/node/node.ts";
import { bootstrapEntries } from "../../src/node/bootstrap.ts";
import { silentLogger } from "../../src/node/log.ts";
import { MemoryStorage } from "../../src/storage/memory_storage.ts";
import { MemoryNetwork, MemoryTransport } from "../../src/transport/memory_transport.ts";
import type { Entry, HardState } from "../../src/raft/messages.ts";
import { createApp, DEFAULT_HTTP_OPTIONS } from "../../src/http/app.ts";
import type { LeaseGrantResult } from "../../src/kv/types.ts";
import { testNodeConfig } from "../node/test_config.ts";

const LEASES = 10_000;
const TTL_MS = 3_000;
/** Each lease is kept alive every ttl/3. */
const PER_SECOND = LEASES / (TTL_MS / 3 / 1000);
const PHASE_MS = 5_000;
const SLICE_MS = 10;

class CountingStorage extends MemoryStorage {
  saved = 0;
  override save(hardState: HardState | null, entries: Entry[]): Promise<void> {
    this.saved += entries.length;
    return super.save(hardState, entries);
  }
}

const dataDir = await Deno.makeTempDir({ prefix: "raftkv-keepalive-bench-" });
const initialCluster = new Map([["n1", { peerAddr: "mem:n1", httpUrl: null }]]);
const config = testNodeConfig({
  id: "n1",
  advertiseHttpUrl: "http://127.0.0.1:1",
  dataDir,
  initialCluster,
});
const storage = new CountingStorage();
const boot = bootstrapEntries(initialCluster);
await storage.save(boot.hardState, boot.entries);
const node = await RaftkvNode.start({
  config,
  storage,
  transport: new MemoryTransport(new MemoryNetwork(), "n1"),
  log: silentLogger,
  seed: 1,
});
while (node.status().role !== "leader") await new Promise((r) => setTimeout(r, 20));
const never = new AbortController().signal;

const ids: string[] = [];
for (let i = 0; i < LEASES; i += 1000) {
  const batch = await Promise.all(
    Array.from(
      { length: 1000 },
      () =>
        node.write({ op: "leaseGrant", ttlMs: 60_000 }, { idempotencyKey: null, signal: never }),
    ),
  );
  for (const r of batch) if (r.ok) ids.push((r.value as LeaseGrantResult).lease.id);
}
console.log(
  `${ids.length} leases granted; keepalive rate ${PER_SECOND}/s (every ttl/3, ttl ${
    TTL_MS / 1000
  } s)`,
);

const app = createApp(node, DEFAULT_HTTP_OPTIONS);
const viaNode = (id: string) => node.keepalive(id, never).then((v) => v !== null);
const viaHttp = (id: string) =>
  Promise.resolve(
    app.fetch(new Request(`http://bench/v1/leases/${id}/keepalive`, { method: "POST" })),
  )
    .then(async (res) => {
      await res.arrayBuffer();
      return res.status === 200;
    });

/** Sends keepalives at `perSecond`, spread over the phase in 10 ms slices. */
async function phase(
  name: string,
  perSecond: number,
  send: (id: string) => Promise<boolean>,
): Promise<void> {
  const entriesBefore = storage.saved;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const pending: Promise<boolean>[] = [];
  let next = 0;
  let sent = 0;
  while (performance.now() - started < PHASE_MS) {
    const due = Math.floor(((performance.now() - started) / 1000) * perSecond);
    for (; sent < due; sent++) pending.push(send(ids[next++ % ids.length] as string));
    await new Promise((r) => setTimeout(r, SLICE_MS));
  }
  const renewed = (await Promise.all(pending)).filter(Boolean).length;
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const cpuUs = cpu.user + cpu.system;
  const entries = storage.saved - entriesBefore;
  console.log(
    `${name.padEnd(6)} ${sent} keepalives (${renewed} renewed) in ${seconds.toFixed(1)} s: ` +
      `${(entries / seconds).toFixed(1)} log entries/s, ${
        (sent / Math.max(1, entries)).toFixed(0)
      } ids/entry, ` +
      `${(cpuUs / sent).toFixed(1)} µs CPU per keepalive (${
        ((cpuUs / 1e6 / seconds) * 100).toFixed(0)
      }% of a core)`,
  );
}

await phase("node", PER_SECOND, viaNode);
// In-process HTTP costs tens of µs a request on its own (routing, JSON): at 10,000/s it
// would measure a saturated core, not keepalives. A quarter of the rate (ttl 12 s).
await phase("http", PER_SECOND / 4, viaHttp);
await node.stop();
await Deno.remove(dataDir, { recursive: true });
