/**
 * A Web Worker that runs simulation seeds handed to it by `main.ts`, one at a time, so
 * `--seeds N` spreads over the machine's cores.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { loadCore } from "./core.ts";
import { runSimulation } from "./run.ts";
import type { RunShape } from "./run_config.ts";

/** A request from the parent: run this seed. */
export interface WorkerJob {
  seed: number;
  steps: number;
  shape: RunShape;
}

const core = await loadCore();

self.onmessage = async (ev: MessageEvent<WorkerJob>) => {
  const { seed, steps, shape } = ev.data;
  const result = await runSimulation({ seed, steps, core, shape });
  self.postMessage(result);
};
self.postMessage("ready");
