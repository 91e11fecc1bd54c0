/**
 * `deno task bench:cluster`: raftkv and etcd 3.4 side by side on this machine, driven
 * by the same wrk Lua load generator, plus the machine's floors measured in the same
 * run. Prints a table and writes Markdown, JSON and SVG under results/ (git-ignored).
 * Next to ops/s, a second table gives CPU µs per operation of every member (leader
 * first) and in total, for raftkv and etcd, from /proc/PID/stat over each wrk run.
 * Every run is bounded in time; every process started here is stopped here.
 *
 * Options: --seconds 10  --conns 1,16,64,256  --rss-keys 1000000 (0 skips)  --workloads put,get,stale,mix
 *
 * @module
 */

import { parseArgs } from "node:util";
import { TestCluster, waitFor } from "../../integration/harness.ts";
import { startEtcd } from "./etcd.ts";
import { fdatasyncP50Us, loopbackRttP50Us, rssMiB, startHelloServer } from "./floors.ts";
import { bestEtcd, cpuTable, markdownTable, type Row, svgChart } from "./report.ts";
import { runWrk, type WrkResult, type WrkRun } from "./wrk.ts";
import { type CpuPerOp, formatCpu, measureCpu } from "./cpu.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "10" },
    conns: { type: "string", default: "1,16,64,256" },
    "rss-keys": { type: "string", default: "1000000" },
    workloads: { type: "string", default: "put,get,stale,mix" },
    out: { type: "string", default: "results" },
  },
});
const seconds = Number(values.seconds);
const connections = values.conns.split(",").map(Number);
const rssKeys = Number(values["rss-keys"]);
const workloads = values.workloads.split(",").filter((w) => w !== "") as (
  | "put"
  | "get"
  | "stale"
  | "mix"
)[];
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
    for (const c of connections) {
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
          connections.map((c) =>
            `c=${c}: ${Math.round(helloRuns[c]!.opsPerSec)}/s ${
              helloCpu[c]!.totalUs.toFixed(1)
            } µs CPU/req`
          ).join(", ")
        }`,
    );

    console.log("starting raftkv (3 nodes, fsync always)…");
    const raftkv = TestCluster.launch(3, ["--fsync", "always"]);
    cleanup.push(() => raftkv.stop());
    const raftkvUrl = (await raftkv.leader()).httpUrl;
    await preload(
      READ_KEYS,
      (k) => fetch(`${raftkvUrl}/v1/kv/${k}`, { method: "PUT", body: VALUE }),
    );

    console.log("starting etcd 3.4 (3 members)…");
    const etcd = startEtcd(`${root}/etcd`);
    cleanup.push(() => etcd.stop());
    const etcdUrl = await etcd.leaderUrl();
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

    for (const workload of workloads) {
      for (const c of connections) {
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
        const raftkvLeader = raftkv.nodes.findIndex((n) => n.httpUrl === raftkvUrl);
        const raftkvPids = raftkv.nodes.map((n) => n.process?.pid ?? 0);
        const etcdLeader = etcd.clientUrls.indexOf(etcdUrl);
        const ours = await measureCpu(
          raftkvPids,
          raftkvLeader,
          () => run(raftkvUrl, "raftkv"),
          succeeded,
        );
        const e2 = await measureCpu(etcd.pids, etcdLeader, () => run(etcdUrl, "etcd2"), succeeded);
        const e3 = await measureCpu(etcd.pids, etcdLeader, () => run(etcdUrl, "etcd3"), succeeded);
        const row: Row = {
          workload,
          connections: c,
          raftkv: ours.result,
          etcd2: e2.result,
          etcd3: e3.result,
          cpu: { raftkv: ours.cpu, etcd2: e2.cpu, etcd3: e3.cpu },
        };
        results.push(row);
        const best = bestEtcd(row)!;
        console.log(
          `${workload.padEnd(5)} c=${String(c).padStart(3)}  raftkv ${
            Math.round(row.raftkv!.opsPerSec)
          }/s ` +
            `p50 ${(row.raftkv!.p50Us / 1000).toFixed(2)} ms   etcd ${best.api} ${
              Math.round(best.result.opsPerSec)
            }/s ` +
            `p50 ${(best.result.p50Us / 1000).toFixed(2)} ms   ratio ${
              (row.raftkv!.opsPerSec / best.result.opsPerSec).toFixed(2)
            }×   CPU µs/op raftkv ${formatCpu(row.cpu?.raftkv)} etcd ${
              formatCpu(row.cpu?.[best.api === "v2" ? "etcd2" : "etcd3"])
            }`,
        );
      }
    }

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
        connections.map((c) =>
          `c=${c} ${Math.round(helloRuns[c]!.opsPerSec).toLocaleString("en-US")}/s ` +
          `(${helloCpu[c]!.totalUs.toFixed(1)} µs CPU/request)`
        ).join(", ")
      }`,
    ];
    const markdown = [
      `# raftkv vs etcd ${new Date().toISOString()}`,
      "",
      `${seconds} s per run, wrk, 3 nodes each on loopback, fsync on.`,
      "",
      table,
      "",
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
