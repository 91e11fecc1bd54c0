/**
 * Simulator CLI.
 *
 *   deno task sim --seeds 500 --steps 5000 [--start 1] [--workers 2]
 *       runs seeds start..start+N-1 over worker threads and prints one summary line;
 *   deno task sim --seed 42 [--steps 5000] --trace
 *       replays one seed in-process, printing every step;
 *   --voters N pins the cluster size, --no-joiners keeps fresh hosts out of membership
 *   changes (useful to look past a known bug while it is being fixed).
 *
 * Any failure prints the seed, the step and the invariant, and the exit code is 1.
 * `RAFTKV_SIM_CORE=/path/to/dir` runs against another copy of the core.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { loadCore } from "./core.ts";
import { type RunResult, runSimulation } from "./run.ts";
import type { RunShape } from "./run_config.ts";
import type { WorkerJob } from "./worker.ts";

/** Failures printed in full; the rest are listed by seed only. */
export const MAX_FAILURES_DETAILED = 3;
/** Default steps per seed. */
export const DEFAULT_STEPS = 5000;

function parse() {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seeds: { type: "string" },
      steps: { type: "string", default: String(DEFAULT_STEPS) },
      start: { type: "string", default: "1" },
      seed: { type: "string" },
      trace: { type: "boolean", default: false },
      workers: { type: "string" },
      voters: { type: "string" },
      "no-joiners": { type: "boolean", default: false },
    },
  });
  const int = (s: string | undefined, name: string): number | undefined => {
    if (s === undefined) return undefined;
    const n = Number(s);
    if (!Number.isSafeInteger(n)) throw new Error(`--${name} must be an integer, got ${s}`);
    return n;
  };
  return {
    seeds: int(values.seeds, "seeds"),
    steps: int(values.steps, "steps") ?? DEFAULT_STEPS,
    start: int(values.start, "start") ?? 1,
    seed: int(values.seed, "seed"),
    trace: values.trace,
    workers: int(values.workers, "workers"),
    voters: int(values.voters, "voters"),
    joiners: !values["no-joiners"],
  };
}

/** The command that replays `r` with a full trace. */
export function replayCommand(r: RunResult): string {
  const extra = (r.shape.voters === undefined ? "" : ` --voters ${r.shape.voters}`) +
    (r.shape.joiners === false ? " --no-joiners" : "");
  return `deno task sim --seed ${r.seed} --steps ${r.stepsRequested}${extra} --trace`;
}

/** Prints a failed run: seed, step, invariant, message and the trace leading to it. */
export function printFailure(r: RunResult, detailed: boolean): void {
  const f = r.failure;
  if (f === null) return;
  console.log(`FAIL seed=${r.seed} step=${f.step} t=${f.atMs}ms invariant=${f.invariant}`);
  console.log(`  ${f.message}`);
  if (!detailed) return;
  console.log(`  config: ${r.config}`);
  console.log(`  replay: ${replayCommand(r)}`);
  if (f.invariant === "core-exception") console.log(f.stack);
  console.log("  last trace lines:");
  for (const line of f.trace) console.log(`    ${line}`);
}

async function replayOne(seed: number, steps: number, verbose: boolean, shape: RunShape) {
  const core = await loadCore();
  const r = await runSimulation({ seed, steps, core, verbose, shape });
  printFailure(r, true);
  console.log(
    `seed ${seed}: ${r.failure === null ? "ok" : "FAILED"} after ${r.steps} steps, ` +
      `${r.virtualMs}ms virtual; ${JSON.stringify(r.stats)}`,
  );
  return r.failure === null;
}

/** Seeds one worker runs before it is replaced by a fresh one (bounds its heap). */
const SEEDS_PER_WORKER = 250;

async function runMany(
  start: number,
  count: number,
  steps: number,
  workers: number,
  shape: RunShape,
) {
  const t0 = performance.now();
  const results: RunResult[] = [];
  let next = start;
  const end = start + count;
  // One worker slot runs seeds until none are left, in fresh workers of at most
  // SEEDS_PER_WORKER seeds each: a worker's heap grew by about 1.3 MB a seed (a 10,000-seed
  // run died at V8's 4 GB heap limit), so no worker lives long enough to reach it.
  const slot = async () => {
    while (next < end) await runWorker();
  };
  const runWorker = () =>
    new Promise<void>((resolve, reject) => {
      const w = new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
      let ran = 0;
      const feed = () => {
        if (next >= end || ran >= SEEDS_PER_WORKER) {
          w.terminate();
          resolve();
          return;
        }
        ran++;
        const job: WorkerJob = { seed: next++, steps, shape };
        w.postMessage(job);
      };
      w.onmessage = (ev: MessageEvent<RunResult | "ready">) => {
        if (ev.data !== "ready") {
          results.push(ev.data);
          if (ev.data.failure !== null) printFailure(ev.data, false);
        }
        feed();
      };
      w.onerror = (e) => {
        e.preventDefault();
        w.terminate();
        reject(new Error(`worker failed: ${e.message}`));
      };
    });
  await Promise.all(Array.from({ length: workers }, slot));
  const seconds = (performance.now() - t0) / 1000;
  return summarize(results.sort((a, b) => a.seed - b.seed), steps, seconds);
}

function summarize(results: RunResult[], steps: number, seconds: number): boolean {
  const failed = results.filter((r) => r.failure !== null);
  failed.slice(0, MAX_FAILURES_DETAILED).forEach((r) => printFailure(r, true));
  const sum = (k: keyof RunResult["stats"]) => results.reduce((a, r) => a + r.stats[k], 0);
  const virtualS = results.reduce((a, r) => a + r.virtualMs, 0) / 1000;
  const figures = [
    `acked writes ${sum("writesAcked")}`,
    `reads ${sum("readsServed")}`,
    `unknown outcomes ${sum("unknownOutcomes")} (write deadlines ${sum("writeDeadlines")})`,
    `ttl puts ${sum("ttlAcked")}`,
    `leases ${sum("leasesGranted")} (keepalives ${sum("keepalivesAcked")}, expiries ${
      sum("leasesExpired")
    })`,
    `leader terms ${sum("leaderTerms")}`,
    `crashes ${sum("crashes")}`,
    `wipes ${sum("wipes")} (lost-log stops ${sum("lostLogStops")})`,
    `pauses ${sum("pauses")}`,
    `partitions ${sum("partitions")}`,
    `conf changes ${sum("confChanges")}`,
    `snapshots sent ${sum("snapshotsSent")} (cut ${sum("snapshotsCut")})`,
    `compactions ${sum("compactions")}`,
    `transfers ${sum("transfers")}`,
  ].join(", ");
  console.log(
    `sim: ${results.length} seeds × ${steps} steps: ${results.length - failed.length} passed, ` +
      `${failed.length} failed in ${seconds.toFixed(1)}s (${virtualS.toFixed(0)}s virtual; ` +
      `${figures})` +
      (failed.length > 0 ? ` failing seeds: ${failed.map((r) => r.seed).join(" ")}` : ""),
  );
  return failed.length === 0;
}

if (import.meta.main) {
  const args = parse();
  const shape: RunShape = { joiners: args.joiners };
  if (args.voters !== undefined) shape.voters = args.voters;
  let ok: boolean;
  if (args.seed !== undefined) {
    ok = await replayOne(args.seed, args.steps, args.trace, shape);
  } else {
    const count = args.seeds ?? 1;
    const workers = args.workers ?? Math.max(1, Math.min(navigator.hardwareConcurrency, count));
    ok = await runMany(args.start, count, args.steps, workers, shape);
  }
  Deno.exit(ok ? 0 : 1);
}
