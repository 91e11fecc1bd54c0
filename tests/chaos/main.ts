/**
 * `deno task chaos`: a Jepsen-style run against real node processes.
 *
 * ```sh
 * deno task chaos --time 30 --seed 42 [--schedules kill,pause,partition]
 * ```
 *
 * Exits 1 when any check fails; the history, fault log and node logs are then saved
 * under results/chaos-<seed>/. The same seed replays the same fault schedule and the
 * same client choices (timing still varies).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { parseRuntimeName } from "../../src/runtime/command.ts";
import { DEFAULT_OPTIONS, runChaos } from "./run.ts";
import { FAULT_KINDS, type FaultKind } from "./nemesis.ts";

const USAGE = `Usage: deno task chaos [--time SECONDS] [--seed N] [--schedules kill,pause,partition]
  [--clients N] [--keys N] [--learner-readers N] [--lock-clients N] [--check-timeout SECONDS]
  [--node-flag F]...
  [--distrust-503]   record writes refused with 503 as unknown instead of leaving them out
  [--no-netns]       run on 127.0.0.1 without namespaces (kill and pause only)
  [--runtimes deno,bun]  runtime of each node in turn (n1, n2, …): a mixed cluster`;

function intFlag(values: Record<string, unknown>, name: string, fallback: number): number {
  const text = values[name];
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name} must be a non-negative integer, not ${text}\n${USAGE}`);
    Deno.exit(2);
  }
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      time: { type: "string" },
      seed: { type: "string" },
      schedules: { type: "string" },
      clients: { type: "string" },
      keys: { type: "string" },
      "learner-readers": { type: "string" },
      "lock-clients": { type: "string" },
      "check-timeout": { type: "string" },
      "node-flag": { type: "string", multiple: true },
      "distrust-503": { type: "boolean" },
      "no-netns": { type: "boolean" },
      runtimes: { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const kinds = (values.schedules ?? FAULT_KINDS.join(",")).split(",").filter((k) => k !== "");
  const unknown = kinds.filter((k) => !FAULT_KINDS.includes(k as FaultKind));
  if (unknown.length > 0) {
    console.error(`unknown schedule(s) ${unknown.join(",")}; use ${FAULT_KINDS.join(",")}`);
    return 2;
  }
  const seed = intFlag(values, "seed", Math.floor(Math.random() * 2 ** 31));
  const options = {
    ...DEFAULT_OPTIONS,
    seed,
    timeSec: intFlag(values, "time", DEFAULT_OPTIONS.timeSec),
    kinds: kinds as FaultKind[],
    clients: intFlag(values, "clients", DEFAULT_OPTIONS.clients),
    keys: Math.max(1, intFlag(values, "keys", DEFAULT_OPTIONS.keys)),
    learnerReaders: intFlag(values, "learner-readers", DEFAULT_OPTIONS.learnerReaders),
    lockClients: intFlag(values, "lock-clients", DEFAULT_OPTIONS.lockClients),
    checkTimeoutMs: intFlag(values, "check-timeout", DEFAULT_OPTIONS.checkTimeoutMs / 1000) *
      1000,
    trustRefusals: !values["distrust-503"],
    netns: !values["no-netns"],
    nodeFlags: [...DEFAULT_OPTIONS.nodeFlags, ...(values["node-flag"] ?? [])],
    ...(values.runtimes ? { runtimes: values.runtimes.split(",").map(parseRuntimeName) } : {}),
    log: (line: string) => console.log(line),
  };
  console.log(
    `chaos: seed ${seed}, ${options.timeSec} s, faults ${kinds.join(",") || "none"}, ` +
      `${options.clients} clients on ${options.keys} keys, ${options.lockClients} lock clients`,
  );
  const report = await runChaos(options);
  const s = report.stats;
  const byKind = new Map<string, number>();
  for (const f of report.faults) byKind.set(f.kind, (byKind.get(f.kind) ?? 0) + 1);
  const c = report.counts;
  console.log("");
  console.log(
    `network:  ${report.network}${report.networkNote ? ` (${report.networkNote})` : ""}`,
  );
  console.log(
    `ops:      ${report.ops} checked: ${c.ok} ok, ${c.failed} failed (CAS/compare lost), ` +
      `${c.unknown} unknown; ${report.leftOut} left out (never sent, refused, unanswered reads)`,
  );
  console.log(`txns:     ${s.txns} answered, ${s.txnFailed} took the failure branch`);
  console.log(
    `requests: without a definite answer: ` +
      Object.entries(s.unknown).map(([k, v]) => `${k} ${v}`).join(", "),
  );
  console.log(`learner:  ${s.learnerReads} stale reads`);
  const l = report.lock;
  if (l !== null) {
    console.log(
      `lock:     ${l.acquired} holdings (${l.acquireFailed} acquires gave up); fenced ` +
        `increments ${l.acked} acked, ${l.fenced} fenced out (${l.staleFenced} of them ` +
        `stalled holders), ${l.unknown} unknown ` +
        `(${l.unknownApplied} seen applied); counter ends at ${l.finalCount}`,
    );
  }
  console.log(
    `faults:   ${report.faults.length} injected (` +
      `${[...byKind].map(([k, v]) => `${k} ${v}`).join(", ") || "none"})`,
  );
  console.log(
    `heal:     first write accepted ${
      report.writeAfterHealMs === null ? "never" : `${report.writeAfterHealMs.toFixed(0)} ms`
    } after healing`,
  );
  console.log(`checker:  ${report.checker} in ${report.checkerMs.toFixed(0)} ms`);
  if (!report.passed) {
    console.log(`\nFAILED (seed ${seed}):\n`);
    for (const f of report.failures) console.log(`- ${f}\n`);
    console.log(`results saved in ${report.resultsPath}`);
    console.log(
      `reproduce: deno task chaos --time ${options.timeSec} --seed ${seed} ` +
        `--schedules ${kinds.join(",")}` +
        (options.runtimes ? ` --runtimes ${options.runtimes.join(",")}` : ""),
    );
    return 1;
  }
  console.log(`\nPASSED (seed ${seed})`);
  return 0;
}

if (import.meta.main) Deno.exit(await main());
