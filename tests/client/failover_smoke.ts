/**
 * Failover smoke (standalone, not a unit test): starts three real raftkv nodes
 * (`src/main.ts`, fsync off, ports from 18910), writes through the client while the
 * leader is SIGKILLed, and checks every write landed once and a watch saw each revision
 * exactly once. Prints its figures; exits non-zero on a failed check.
 *
 *   deno run -A tests/client/failover_smoke.ts [writes=300]
 *
 * @module
 */

import { createClient, OutcomeUnknown } from "../../src/client/mod.ts";

const WRITES = Number(Deno.args[0] ?? "300");
const KILL_AT = Math.floor(WRITES / 3);
const BASE_PEER_PORT = 17910;
const BASE_HTTP_PORT = 18910;
const READY_DEADLINE_MS = 20_000;

const ids = ["n1", "n2", "n3"];
const urls = ids.map((_, i) => `http://127.0.0.1:${BASE_HTTP_PORT + i}`);
const initialCluster = ids
  .map((id, i) => `${id}=127.0.0.1:${BASE_PEER_PORT + i}@${urls[i]}`)
  .join(",");
const dataDir = await Deno.makeTempDir({ prefix: "raftkv-failover-" });
const children = new Map<string, Deno.ChildProcess>();

try {
  ids.forEach((id, i) => {
    const args = [
      "run",
      "-A",
      new URL("../../src/main.ts", import.meta.url).pathname,
      `--id=${id}`,
      `--peer-addr=127.0.0.1:${BASE_PEER_PORT + i}`,
      `--http-addr=127.0.0.1:${BASE_HTTP_PORT + i}`,
      `--data-dir=${dataDir}/${id}`,
      `--initial-cluster=${initialCluster}`,
      "--fsync=never",
    ];
    children.set(
      id,
      new Deno.Command(Deno.execPath(), { args, stdout: "null", stderr: "null" }).spawn(),
    );
  });
  const kv = createClient({ endpoints: urls, timeoutMs: 2_000, retries: 8 });
  await waitForLeader(kv);

  const revisions: number[] = [];
  const controller = new AbortController();
  const watching = (async () => {
    for await (const event of kv.watch("f/", { fromRevision: 1, signal: controller.signal })) {
      revisions.push(event.revision);
    }
  })();

  let unknown = 0;
  let killedAtMs = 0;
  let slowestWriteMs = 0;
  const started = performance.now();
  for (let i = 0; i < WRITES; i++) {
    if (i === KILL_AT) {
      const leader = (await kv.cluster.status()).leader;
      const child = leader === null ? undefined : children.get(leader);
      if (child === undefined) throw new Error(`no leader to kill (${leader})`);
      child.kill("SIGKILL");
      killedAtMs = performance.now();
      console.log(`killed leader ${leader} before write ${i}`);
    }
    const before = performance.now();
    try {
      await kv.put(`f/${String(i).padStart(5, "0")}`, String(i));
    } catch (error) {
      if (!(error instanceof OutcomeUnknown)) throw error;
      unknown++;
    }
    slowestWriteMs = Math.max(slowestWriteMs, performance.now() - before);
  }
  const elapsedMs = performance.now() - started;
  const watchedWhenWritesEnded = revisions.length;
  let listed = 0;
  for await (const _ of kv.list("f/")) listed++;
  const catchUpStarted = performance.now();
  await waitUntil(() => revisions.length >= WRITES - unknown, "the watch to catch up");
  const watchCatchUpMs = performance.now() - catchUpStarted;
  controller.abort();
  await watching;
  const duplicates = revisions.length - new Set(revisions).size;
  console.log(JSON.stringify({
    writes: WRITES,
    outcomeUnknown: unknown,
    listed,
    watched: revisions.length,
    duplicates,
    elapsedMs: Math.round(elapsedMs),
    slowestWriteMs: Math.round(slowestWriteMs),
    watchedWhenWritesEnded,
    watchCatchUpMs: Math.round(watchCatchUpMs),
    writesAfterKillMs: Math.round(started + elapsedMs - killedAtMs),
  }));
  if (listed !== WRITES || duplicates !== 0 || revisions.length !== WRITES) {
    throw new Error("failover smoke failed: lost, repeated or missing writes");
  }
  console.log("ok");
} finally {
  for (const child of children.values()) {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
  }
  await Deno.remove(dataDir, { recursive: true });
}

async function waitForLeader(kv: ReturnType<typeof createClient>): Promise<void> {
  const deadline = Date.now() + READY_DEADLINE_MS;
  for (;;) {
    const status = await kv.cluster.status().catch(() => null);
    if (status?.leader !== null && status?.leader !== undefined && status.ready) return;
    if (Date.now() > deadline) throw new Error("no leader elected in time");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + READY_DEADLINE_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
