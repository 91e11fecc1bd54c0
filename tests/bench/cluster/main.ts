/**
 * `deno task bench:cluster`: raftkv and etcd 3.4 side by side on this machine, driven
 * by the same wrk Lua load generator, plus the machine's floors measured in the same
 * run. Prints a table and writes Markdown, JSON and SVG under results/ (git-ignored).
 * Next to ops/s, a second table gives CPU µs per operation of every member (leader
 * first) and in total, for raftkv and etcd, from /proc/PID/stat over each wrk run.
 * Every run is bounded in time; every process started here is stopped here.
 *
 * Options: --seconds 10  --conns 1,16,64,256  --rss-keys 1000000 (0 skips)
 *   --workloads put,get,stale,mix,txn,lock
 *   --only txn,lock   just these rows: no hello-world floor, no memory figure, no preload
 *                     unless a read workload is among them (a quick look at new rows)
 *   --runtimes deno,bun  one raftkv cluster per runtime, measured one after the other
 *                     beside the same etcd
 *
 * `txn` (2 compares + 2 puts, wrk) runs at {@link TXN_CONNECTIONS} connections only;
 * `lock` (acquire+release of one shared lock, lock_load.ts: raftkv through `kv.lock`,
 * etcd through the same recipe on its v3 gateway) at {@link LOCK_CONTENDERS} contenders.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { TestCluster, waitFor } from "../../integration/harness.ts";
import { parseRuntimeName } from "../../../src/runtime/command.ts";
import { startEtcd } from "./etcd.ts";
import { fdatasyncP50Us, loopbackRttP50Us, rssMiB, startHelloServer } from "./floors.ts";
import { bestEtcd, cpuTable, markdownTable, type Row, svgChart } from "./report.ts";
import { runWrk, type WrkResult, type WrkRun } from "./wrk.ts";
import { runLockLoad } from "./lock_load.ts";
import { etcdLock } from "./etcd_lock.ts";
import { createClient } from "../../../mod.ts";

/** Connections of the txn row (the goal is stated at 64). */
const TXN_CONNECTIONS = [64];
/** Contenders of the lock rows: uncontended, and a busy lock. */
const LOCK_CONTENDERS = [1, 16];
/** Lease TTL of a raftkv bench lock (outlasts any wait of a run). */
const LOCK_TTL_SECONDS = 60;
const WRK_WORKLOADS = ["put", "get", "stale", "mix", "txn"] as const;
type WrkWorkload = typeof WRK_WORKLOADS[number];
import { type CpuPerOp, formatCpu, measureCpu } from "./cpu.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "10" },
    conns: { type: "string", default: "1,16,64,256" },
    "rss-keys": { type: "string", default: "1000000" },
    workloads: { type: "string", default: "put,get,stale,mix,txn,lock" },
    only: { type: "string" },
    out: { type: "string", default: "results" },
    runtimes: { type: "string", default: "deno" },
  },
});
const runtimes = values.runtimes.split(",").filter((r) => r !== "").map(parseRuntimeName);
/** Rows are labelled with their runtime only when more than one is compared. */
const labelled = runtimes.length > 1;
const seconds = Number(values.seconds);
const connections = values.conns.split(",").map(Number);
const only = values.only !== undefined;
const rssKeys = only ? 0 : Number(values["rss-keys"]);
const selected = (values.only ?? values.workloads).split(",").filter((w) => w !== "");
for (const w of selected) {
  if (w !== "lock" && !(WRK_WORKLOADS as readonly string[]).includes(w)) {
    throw new Error(`unknown workload ${w}; use ${[...WRK_WORKLOADS, "lock"].join(",")}`);
  }
}
const workloads = selected.filter((w) => w !== "lock") as WrkWorkload[];
const withLock = selected.includes("lock");
/** Whether any selected workload reads the preloaded keys. */
const needsPreload = workloads.some((w) => w === "get" || w === "stale" || w === "mix");
const READ_KEYS = 10_000;

async function ensureTools(): Promise<void> {
  const have = async (cmd: string) =>
    (await new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" }).output())
      .success;
  if (await have("etcd") && await have("wrk")) return;
  console.log("installing etcd-server and wrk with apt-get…");
  for (
    const args of [["update", "-qq"], ["install", "-y", "-qq", "etcd-server", "etcd-client", "wrk"]]
  ) {
    const { success } = await new Deno.Command("apt-get", { args, stdout: "null" }).output();
    if (!success) throw new Error(`apt-get ${args.join(" ")} failed`);
  }
}

/** PUTs k1..kN with bounded concurrency through `put`. */
async function preload(count: number, put: (key: string) => Promise<Response>): Promise<void> {
  let next = 1;
  await Promise.all(Array.from({ length: 128 }, async () => {
    while (next <= count) {
      const key = `k${next++}`;
      await waitFor(`preload ${key}`, async () => {
        const res = await put(key);
        await res.body?.cancel();
        return res.ok ? true : undefined;
      });
    }
  }));
}

const b64 = (s: string) => btoa(s);
/** Successful operations of a wrk run (what CPU per operation divides by). */
const succeeded = (r: WrkResult) => r.opsPerSec * r.durationUs / 1e6;
const VALUE = "v".repeat(100);

/** Preloads the read keys into etcd through both APIs (each reads its own). */
async function preloadEtcd(etcdUrl: string): Promise<void> {
  await preload(READ_KEYS, (k) =>
    fetch(`${etcdUrl}/v2/keys/${k}`, {
      method: "PUT",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `value=${VALUE}`,
    }));
  await preload(
    READ_KEYS,
    (k) =>
      fetch(`${etcdUrl}/v3/kv/put`, {
        method: "POST",
        body: JSON.stringify({ key: b64(k), value: b64(VALUE) }),
      }),
  );
}

/** One progress line per row. */
function printRow(row: Row): void {
  const best = bestEtcd(row);
  const c = row.connections;
  console.log(
    `${row.workload.padEnd(5)} c=${String(c).padStart(3)}  raftkv${
      row.runtime ? ` (${row.runtime})` : ""
    } ${Math.round(row.raftkv?.opsPerSec ?? 0)}/s p50 ${
      ((row.raftkv?.p50Us ?? 0) / 1000).toFixed(2)
    } ms   etcd ${best?.api ?? "-"} ${Math.round(best?.result.opsPerSec ?? 0)}/s p50 ${
      ((best?.result.p50Us ?? 0) / 1000).toFixed(2)
    } ms   ratio ${
      row.raftkv && best ? (row.raftkv.opsPerSec / best.result.opsPerSec).toFixed(2) : "-"
    }×${
      row.cpu
        ? `   CPU µs/op raftkv ${formatCpu(row.cpu.raftkv)} etcd ${
          formatCpu(best ? row.cpu[best.api === "v2" ? "etcd2" : "etcd3"] : undefined)
        }`
        : ""
    }`,
  );
}

/** Issue 17's goals for the coordination rows, against this run's figures. */
function goalLines(rows: Row[]): string[] {
  const lines: string[] = [];
  const txn = rows.find((r) => r.workload === "txn" && r.connections === 64);
  const etcdTxn = txn && bestEtcd(txn);
  if (txn?.raftkv && etcdTxn) {
    const ratio = txn.raftkv.opsPerSec / etcdTxn.result.opsPerSec;
    lines.push(
      `Goal: transactions at 64 connections ≥ 2× etcd: ${ratio.toFixed(2)}× ` +
        `(${Math.round(txn.raftkv.opsPerSec)}/s against ${
          Math.round(etcdTxn.result.opsPerSec)
        }/s): ${ratio >= 2 ? "holds" : "does not hold"}`,
    );
  }
  const lock = rows.find((r) => r.workload === "lock" && r.connections === 1);
  if (lock?.raftkv) {
    const p50Ms = lock.raftkv.p50Us / 1000;
    lines.push(
      `Goal: uncontended lock acquire+release p50 ≤ 3 ms: ${p50Ms.toFixed(2)} ms ` +
        `(etcd ${((lock.etcd3?.p50Us ?? 0) / 1000).toFixed(2)} ms): ${
          p50Ms <= 3 ? "holds" : "does not hold"
        }`,
    );
  }
  return lines;
}

function printGoals(rows: Row[]): void {
  for (const line of goalLines(rows)) console.log(line);
}

async function main(): Promise<void> {
  await ensureTools();
  const root = await Deno.makeTempDir({ prefix: "raftkv-bench-" });
  const results: Row[] = [];
  const cleanup: (() => Promise<void>)[] = [];
  let stopped: Promise<void> | null = null;
  // Once, whichever comes first: the end of the run, an error, or a signal.
  const stopEverything = () =>
    stopped ??= (async () => {
      for (const stop of cleanup.reverse()) await stop().catch(() => {});
      await Deno.remove(root, { recursive: true }).catch(() => {});
    })();
  // Ctrl-C or a SIGTERM (e.g. from `timeout`) must not leave clusters or wrk behind.
  const interrupted = new AbortController();
  const signals: [Deno.Signal, number][] = [["SIGINT", 130], ["SIGTERM", 143]];
  const listeners = signals.map(([signal, code]) => {
    const listener = () => {
      console.error(`\n${signal}: stopping everything this run started…`);
      interrupted.abort();
      stopEverything().finally(() => Deno.exit(code));
    };
    Deno.addSignalListener(signal, listener);
    return [signal, listener] as const;
  });
  try {
    console.log("measuring floors…");
    const fsyncUs = await fdatasyncP50Us(root);
    const rttUs = await loopbackRttP50Us();
    const hello = startHelloServer();
    cleanup.push(hello.stop);
    await hello.ready;
    const helloRuns: Record<number, WrkResult> = {};
    const helloCpu: Record<number, CpuPerOp> = {};
    for (const c of only ? [] : connections) {
      const measured = await measureCpu([hello.pid], 0, () =>
        runWrk({
          signal: interrupted.signal,
          url: hello.url,
          system: "raftkv",
          op: "stale",
          connections: c,
          seconds,
        }), succeeded);
      helloRuns[c] = measured.result;
      helloCpu[c] = measured.cpu;
    }
    await hello.stop();
    cleanup.pop();
    console.log(
      `fdatasync p50 ${fsyncUs.toFixed(0)} µs, loopback RTT p50 ${rttUs.toFixed(0)} µs, ` +
        `hello-world HTTP ${
          Object.entries(helloRuns).map(([c, r]) =>
            `c=${c}: ${Math.round(r.opsPerSec)}/s ${
              helloCpu[Number(c)]!.totalUs.toFixed(1)
            } µs CPU/req`
          ).join(", ") || "skipped"
        }`,
    );

    const clusters: { runtime: string; cluster: TestCluster; url: string }[] = [];
    for (const runtime of runtimes) {
      console.log(`starting raftkv on ${runtime} (3 nodes, fsync always)…`);
      const cluster = TestCluster.launch(3, ["--fsync", "always"], { runtimes: [runtime] });
      cleanup.push(() => cluster.stop());
      const url = (await cluster.leader(30_000)).httpUrl;
      if (needsPreload) {
        await preload(READ_KEYS, (k) => fetch(`${url}/v1/kv/${k}`, { method: "PUT", body: VALUE }));
      }
      clusters.push({ runtime, cluster, url });
    }
    const raftkv = clusters[0]!.cluster;
    const raftkvUrl = clusters[0]!.url;

    console.log("starting etcd 3.4 (3 members)…");
    const etcd = startEtcd(`${root}/etcd`);
    cleanup.push(() => etcd.stop());
    const etcdUrl = await etcd.leaderUrl();
    if (needsPreload) await preloadEtcd(etcdUrl);

    for (const workload of workloads) {
      const conns = workload === "txn" ? TXN_CONNECTIONS : connections;
      for (const c of conns) {
        const run = (url: string, system: WrkRun["system"]) =>
          runWrk({
            signal: interrupted.signal,
            url,
            system,
            op: workload,
            connections: c,
            seconds,
            readKeys: READ_KEYS,
          });
        // CPU of every member over each run: leader first in what is printed.
        const etcdLeader = etcd.clientUrls.indexOf(etcdUrl);
        const raftkvRuns = [];
        for (const k of clusters) {
          const leader = k.cluster.nodes.findIndex((n) => n.httpUrl === k.url);
          const pids = k.cluster.nodes.map((n) => n.process?.pid ?? 0);
          raftkvRuns.push(await measureCpu(pids, leader, () => run(k.url, "raftkv"), succeeded));
        }
        // etcd's v2 API has no multi-key transaction.
        const e2 = workload === "txn"
          ? null
          : await measureCpu(etcd.pids, etcdLeader, () => run(etcdUrl, "etcd2"), succeeded);
        const e3 = await measureCpu(etcd.pids, etcdLeader, () => run(etcdUrl, "etcd3"), succeeded);
        for (const [i, k] of clusters.entries()) {
          const ours = raftkvRuns[i]!;
          const row: Row = {
            workload,
            connections: c,
            ...(labelled ? { runtime: k.runtime } : {}),
            raftkv: ours.result,
            etcd2: e2?.result ?? null,
            etcd3: e3.result,
            cpu: { raftkv: ours.cpu, ...(e2 ? { etcd2: e2.cpu } : {}), etcd3: e3.cpu },
          };
          results.push(row);
          printRow(row);
        }
      }
    }

    if (withLock) {
      const kv = createClient({ endpoints: [raftkvUrl] });
      for (const c of LOCK_CONTENDERS) {
        const lockRun = (acquire: Parameters<typeof runLockLoad>[0]["acquire"]) =>
          runLockLoad({ contenders: c, seconds, acquire, signal: interrupted.signal });
        const row: Row = {
          workload: "lock",
          connections: c,
          raftkv: await lockRun(async (signal) => {
            const lock = await kv.lock(`bench-lock-${c}`, { ttlSeconds: LOCK_TTL_SECONDS, signal });
            return () => lock.release();
          }),
          etcd2: null,
          etcd3: await lockRun(etcdLock(etcdUrl, `bench-lock-${c}`)),
        };
        results.push(row);
        printRow(row);
      }
    }
    printGoals(results);

    const rss: { raftkv: number[]; etcd: number[]; keys: number } = {
      raftkv: [],
      etcd: [],
      keys: rssKeys,
    };
    if (rssKeys > 0) {
      console.log(`loading ${rssKeys} keys into each system for the memory figure…`);
      // Loading is not what is measured, so a bounded loader that stops at the exact
      // count does it (wrk cannot stop at a count).
      const t1 = performance.now();
      await preload(
        rssKeys,
        (k) => fetch(`${raftkvUrl}/v1/kv/${k}`, { method: "PUT", body: VALUE }),
      );
      const t2 = performance.now();
      await preload(rssKeys, (k) =>
        fetch(`${etcdUrl}/v3/kv/put`, {
          method: "POST",
          body: JSON.stringify({ key: b64(k), value: b64(VALUE) }),
        }));
      const t3 = performance.now();
      console.log(
        `loaded ${rssKeys} keys: raftkv in ${((t2 - t1) / 1000).toFixed(0)} s, ` +
          `etcd v3 in ${((t3 - t2) / 1000).toFixed(0)} s`,
      );
      for (const n of raftkv.nodes) rss.raftkv.push(await rssMiB(n.process!.pid));
      for (const pid of etcd.pids) rss.etcd.push(await rssMiB(pid));
    }

    const floors = {
      fdatasyncP50Us: fsyncUs,
      loopbackRttP50Us: rttUs,
      writeFloorUs: fsyncUs + rttUs,
      helloWorld: helloRuns,
    };
    const table = markdownTable(results) + "\n\n" + cpuTable(results);
    const rssLine = rss.keys > 0
      ? `RSS after ${rss.keys.toLocaleString("en-US")} keys of 100 bytes: raftkv nodes ${
        rss.raftkv.map((m) => m.toFixed(0)).join(", ")
      } MiB; etcd members ${rss.etcd.map((m) => m.toFixed(0)).join(", ")} MiB`
      : "RSS: skipped";
    const floorLines = [
      `Floors (same run): fdatasync p50 ${fsyncUs.toFixed(0)} µs; loopback RTT p50 ${
        rttUs.toFixed(0)
      } µs; ` +
      `write floor (one fdatasync + one RTT) ${((fsyncUs + rttUs) / 1000).toFixed(2)} ms`,
      `Hello-world Deno.serve: ${
        Object.entries(helloRuns).map(([c, r]) =>
          `c=${c} ${Math.round(r.opsPerSec).toLocaleString("en-US")}/s ` +
          `(${helloCpu[Number(c)]!.totalUs.toFixed(1)} µs CPU/request)`
        ).join(", ") || "skipped (--only)"
      }`,
    ];
    const markdown = [
      `# raftkv vs etcd ${new Date().toISOString()}`,
      "",
      `${seconds} s per run, wrk, 3 nodes each on loopback, fsync on.`,
      "",
      table,
      "",
      ...(withLock
        ? [
          "lock rows: conns = contenders of one lock; one op = acquire+release (raftkv " +
          "`kv.lock`, etcd the same recipe on its v3 gateway).",
          "",
        ]
        : []),
      ...goalLines(results).flatMap((l) => [l, ""]),
      ...floorLines,
      "",
      rssLine,
      "",
    ].join("\n");
    console.log("\n" + markdown);
    await Deno.mkdir(values.out, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    await Deno.writeTextFile(`${values.out}/cluster-${stamp}.md`, markdown);
    await Deno.writeTextFile(
      `${values.out}/cluster-${stamp}.json`,
      JSON.stringify({ seconds, results, floors: { ...floors, helloCpu }, rss }, null, 2),
    );
    await Deno.writeTextFile(
      `${values.out}/cluster-${stamp}.svg`,
      svgChart(results, "raftkv vs etcd 3.4 (ops/s)"),
    );
    console.log(`written to ${values.out}/cluster-${stamp}.{md,json,svg}`);
  } finally {
    await stopEverything();
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  }
}

await main();
