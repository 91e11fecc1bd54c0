/**
 * The runtime this process runs on, picked once at start: Bun when `globalThis.Bun`
 * exists, Deno otherwise.
 *
 * @module
 */

import { bunRuntime } from "./bun_runtime.ts";
import { denoRuntime } from "./deno_runtime.ts";
import type { Runtime } from "./runtime.ts";

/** The process's runtime seam. */
export const runtime: Runtime = "Bun" in globalThis ? bunRuntime() : denoRuntime();
