/**
 * The CI pass of the chaos harness: one short run per fault kind against real node
 * processes (in network namespaces when running as root), each of which must pass
 * every check: linearizability of single-key operations and multi-key transactions,
 * and an exact counter under the fenced lock. Longer runs: `deno task chaos --time 600 --seed S`.
 */

import assert from "node:assert/strict";
import { type ChaosReport, DEFAULT_OPTIONS, runChaos } from "./run.ts";
import type { FaultKind } from "./nemesis.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** Seconds of faults per run: three runs plus start-up and checks stay under 3 minutes. */
const RUN_SECONDS = 20;
/** Fixed seeds so CI failures reproduce; override with CHAOS_SEED. */
const SEEDS: Record<FaultKind, number> = { kill: 101, pause: 202, partition: 303 };

function describe(report: ChaosReport): string {
  return `seed ${report.seed}: ${report.ops} ops, ${report.faults.length} faults, ` +
    `checker ${report.checkerMs.toFixed(0)} ms\n` + report.failures.join("\n\n") +
    (report.resultsPath ? `\nresults in ${report.resultsPath}` : "");
}

for (const kind of ["kill", "pause", "partition"] as const) {
  Deno.test(
    `a cluster under ${kind} faults stays linearizable and loses no write`,
    opts,
    async () => {
      const override = Deno.env.get("CHAOS_SEED");
      const seed = override === undefined ? SEEDS[kind] : Number(override);
      const lines: string[] = [];
      const report = await runChaos({
        ...DEFAULT_OPTIONS,
        seed,
        timeSec: RUN_SECONDS,
        kinds: [kind],
        checkTimeoutMs: 30_000,
        log: (line) => lines.push(line),
      });
      if (report.network === "loopback" && kind === "partition") {
        console.log(`partitions skipped: ${report.networkNote}`);
      } else {
        assert(report.faults.length > 0, `no ${kind} fault was injected (seed ${seed})`);
      }
      assert(report.ops > 100, `only ${report.ops} operations (seed ${seed})`);
      // The run mixes in multi-key transactions and the fenced-lock workload.
      assert(report.stats.txns > 0, `no transaction was answered (seed ${seed})`);
      assert(report.lock !== null && report.lock.acked > 0, `no fenced increment (seed ${seed})`);
      assert(report.passed, `chaos run failed, ${describe(report)}\n${lines.join("\n")}`);
    },
  );
}
