/**
 * `deno run -A tests/bench/cluster/profile.ts`: where a 3-member cluster's CPU goes per
 * operation, from outside. Starts raftkv (fsync always) with V8's perf map on, preloads
 * the read keys, warms up, then for each case samples every member with `perf record`
 * over one bounded wrk run while reading their CPU time from /proc, and prints each
 * member's top symbols (JIT code by name through V8's perf map, the runtime, libc, the
 * kernel) as µs per operation: share of samples × (user + system) CPU per op.
 *
 * Options: --cases put,stale  --conns 64  --seconds 10  --top 25  --out results/profile
 *
 * @module
 */

import { parseArgs } from "node:util";
import { TestCluster, waitFor } from "../../integration/harness.ts";
import { cpuTimesUs } from "./cpu.ts";
import { runWrk, type WrkRun } from "./wrk.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    cases: { type: "string", default: "put,stale" },
    conns: { type: "string", default: "64" },
    seconds: { type: "string", default: "10" },
    top: { type: "string", default: "25" },
    out: { type: "string", default: "results/profile" },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.conns);
const top = Number(values.top);
const cases = values.cases.split(",") as WrkRun["op"][];
const READ_KEYS = 10_000;
const VALUE = "v".repeat(100);
/** Samples per second per CPU: enough for a stable top list, cheap enough not to skew it. */
const SAMPLE_HZ = 499;

/** One member's figures over one case. */
interface MemberProfile {
  id: string;
  role: "leader" | "follower";
  userUsPerOp: number;
  systemUsPerOp: number;
  /** [symbol, µs per op] by falling cost. */
  symbols: [string, number][];
  /** [where the code runs, µs per op] by falling cost. */
  split: [string, number][];
}

/**
 * Where code runs, by the DSO perf found it in: a split that stays right even where
 * names do not (V8 moves JIT code, so a perf map may name a sample after code that
 * used to live at that address; the runtime binary is stripped).
 */
function dsoKind(dso: string): string {
  if (dso.includes("kernel")) return "kernel (syscalls, TCP, scheduler, ext4)";
  if (dso.startsWith("[JIT]") || dso.startsWith("perf-")) return "JIT-compiled JavaScript";
  if (dso.startsWith("libc")) return "libc (malloc/free, memcpy)";
  if (dso === "deno") return "the runtime binary (V8, GC, builtins, Rust ops)";
  return `other (${dso})`;
}

/** Self samples per (pid, symbol) — or per DSO kind with `byDso` — from `perf report`. */
async function perfSymbols(
  data: string,
  byDso = false,
): Promise<Map<number, Map<string, number>>> {
  const key = byDso ? "dso" : "sym";
  const out = await new Deno.Command("perf", {
    args: [
      "report",
      "-i",
      data,
      "--stdio",
      "--no-children",
      "--sort",
      `pid,${key}`,
      "-F",
      `sample,pid,${key}`,
      "--field-separator",
      "\t",
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  const byPid = new Map<number, Map<string, number>>();
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const [samples, pidText, sym] = line.split("\t");
    const pid = Number(/(\d+):/.exec(pidText ?? "")?.[1] ?? NaN);
    if (!Number.isFinite(pid) || sym === undefined) continue;
    // "[.] LazyCompile:*foo file.ts:12:3" → "*foo file.ts:12"
    const name = byDso
      ? dsoKind(sym.trim())
      : sym.replace(/^\[[.k]\]\s+/, "").replace(/^(LazyCompile|Function|JS):/, "")
        .replace(/:\d+$/, "").trim();
    const table = byPid.get(pid) ?? new Map<string, number>();
    byPid.set(pid, table);
    table.set(name, (table.get(name) ?? 0) + Number(samples));
  }
  return byPid;
}

/** Thread id → process id, for every thread of `pids` (perf reports threads). */
async function threadOwners(pids: number[]): Promise<Map<number, number>> {
  const owners = new Map<number, number>();
  for (const pid of pids) {
    owners.set(pid, pid);
    try {
      for await (const task of Deno.readDir(`/proc/${pid}/task`)) {
        owners.set(Number(task.name), pid);
      }
    } catch { /* gone */ }
  }
  return owners;
}

/** Folds per-thread tables into per-process ones. */
function mergeThreads(
  byThread: Map<number, Map<string, number>>,
  owners: Map<number, number>,
): Map<number, Map<string, number>> {
  const byPid = new Map<number, Map<string, number>>();
  for (const [tid, table] of byThread) {
    const pid = owners.get(tid);
    if (pid === undefined) continue;
    const merged = byPid.get(pid) ?? new Map<string, number>();
    byPid.set(pid, merged);
    for (const [name, n] of table) merged.set(name, (merged.get(name) ?? 0) + n);
  }
  return byPid;
}

async function profileCase(
  cluster: TestCluster,
  leaderUrl: string,
  op: WrkRun["op"],
): Promise<MemberProfile[]> {
  const nodes = cluster.nodes;
  const pids = nodes.map((n) => n.process!.pid);
  // Warm-up: the JIT settles before anything is measured.
  await runWrk({ url: leaderUrl, system: "raftkv", op, connections, seconds: 2 });
  const data = `${values.out}/${op}.perf.data`;
  const before = await Promise.all(pids.map(cpuTimesUs));
  const recorder = new Deno.Command("perf", {
    args: [
      "record",
      "-F",
      String(SAMPLE_HZ),
      "-p",
      pids.join(","),
      "-o",
      data,
      "--",
      "sleep",
      String(seconds),
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const result = await runWrk({ url: leaderUrl, system: "raftkv", op, connections, seconds });
  const after = await Promise.all(pids.map(cpuTimesUs));
  await recorder.status;
  const ops = result.opsPerSec * result.durationUs / 1e6;
  console.log(
    `${op} c=${connections}: ${Math.round(result.opsPerSec)} ops/s, ${Math.round(ops)} ops`,
  );
  const threads = await threadOwners(pids);
  const symbols = mergeThreads(await perfSymbols(data), threads);
  const kinds = mergeThreads(await perfSymbols(data, true), threads);
  return nodes.map((node, i) => {
    const userUsPerOp = (after[i]!.userUs - before[i]!.userUs) / ops;
    const systemUsPerOp = (after[i]!.systemUs - before[i]!.systemUs) / ops;
    const table = symbols.get(pids[i]!) ?? new Map<string, number>();
    const total = [...table.values()].reduce((a, b) => a + b, 0) || 1;
    // Samples cover user and kernel time of every thread (GC helpers included).
    const perOp = userUsPerOp + systemUsPerOp;
    const ranked = [...table.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)
      .map(([name, n]): [string, number] => [name, (n / total) * perOp]);
    const kindTable = kinds.get(pids[i]!) ?? new Map<string, number>();
    const kindTotal = [...kindTable.values()].reduce((a, b) => a + b, 0) || 1;
    const split = [...kindTable.entries()].sort((a, b) => b[1] - a[1])
      .map(([name, n]): [string, number] => [name, (n / kindTotal) * perOp]);
    return {
      id: node.id,
      role: node.httpUrl === leaderUrl ? "leader" : "follower",
      userUsPerOp,
      systemUsPerOp,
      symbols: ranked,
      split,
    };
  });
}

function render(op: string, members: MemberProfile[]): string {
  const lines = [`## ${op}, ${connections} connections, ${seconds} s`];
  for (
    const m of members.sort((a, b) => (a.role === "leader" ? -1 : b.role === "leader" ? 1 : 0))
  ) {
    lines.push(
      "",
      `### ${m.id} (${m.role}): ${(m.userUsPerOp + m.systemUsPerOp).toFixed(1)} µs/op = user ${
        m.userUsPerOp.toFixed(1)
      } + kernel ${m.systemUsPerOp.toFixed(1)}`,
      "",
      "| µs/op | where (self time) |",
      "|---:|---|",
      ...m.split.map(([name, us]) => `| ${us.toFixed(2)} | ${name} |`),
      "",
      "| µs/op | symbol (self; JIT names may be stale, see dsoKind) |",
      "|---:|---|",
      ...m.symbols.map(([name, us]) => `| ${us.toFixed(2)} | \`${name.slice(0, 110)}\` |`),
    );
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  await Deno.mkdir(values.out, { recursive: true });
  // Children inherit it: V8 writes /tmp/perf-PID.map so perf can name JIT code. It also
  // writes isolate-*.log files into the working directory: run in the output folder.
  Deno.env.set("DENO_V8_FLAGS", "--perf-basic-prof");
  values.out = await Deno.realPath(values.out);
  Deno.chdir(values.out);
  const cluster = TestCluster.launch(3, ["--fsync", "always"]);
  try {
    const leaderUrl = (await cluster.leader()).httpUrl;
    let next = 1;
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (next <= READ_KEYS) {
        const key = `k${next++}`;
        await waitFor(`preload ${key}`, async () => {
          const res = await fetch(`${leaderUrl}/v1/kv/${key}`, { method: "PUT", body: VALUE });
          await res.body?.cancel();
          return res.ok ? true : undefined;
        });
      }
    }));
    const sections: string[] = [];
    for (const op of cases) sections.push(render(op, await profileCase(cluster, leaderUrl, op)));
    const text = sections.join("\n\n") + "\n";
    console.log("\n" + text);
    await Deno.writeTextFile(`${values.out}/profile.md`, text);
  } finally {
    await cluster.stop();
  }
}

await main();
