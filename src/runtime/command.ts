/**
 * How to start a raftkv script on a given runtime from any runtime (the local cluster,
 * mixed-runtime tests, chaos and benchmarks): the executable's real path (never an npx
 * wrapper, so a signal reaches the node itself) and the arguments before the script's.
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { runtime } from "./current.ts";
import type { RuntimeName } from "./runtime.ts";

/** The npm packages that provide each runtime when it is not the one running. */
export const RUNTIME_NPM_SPECS: Record<RuntimeName, string> = {
  deno: "deno@2.9.6",
  bun: "bun@1.4.4",
};

/** Environment variables that name a runtime's executable, skipping the npx look-up. */
export const RUNTIME_PATH_VARIABLES: Record<RuntimeName, string> = {
  deno: "RAFTKV_DENO_PATH",
  bun: "RAFTKV_BUN_PATH",
};

const PRINT_PATH = "console.log(process.execPath)";
const resolved = new Map<RuntimeName, string>();

/** The executable of `name`: this process's own, a configured path, or npx's copy. */
export function runtimeExecutable(name: RuntimeName): string {
  if (name === runtime.name) return runtime.execPath;
  const configured = runtime.env(RUNTIME_PATH_VARIABLES[name]);
  if (configured) return configured;
  const known = resolved.get(name);
  if (known !== undefined) return known;
  // Asked once: npx prints nothing else with -y, and the runtime reports its own path.
  const path = execFileSync(
    "npx",
    ["-y", RUNTIME_NPM_SPECS[name], name === "deno" ? "eval" : "-e", PRINT_PATH],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
  ).trim().split("\n").pop() ?? "";
  if (path === "") throw new Error(`could not find the ${name} executable through npx`);
  resolved.set(name, path);
  return path;
}

/** Arguments that run `script` (with all permissions on Deno), before the script's own. */
export function runArgs(name: RuntimeName, script: string): string[] {
  return name === "deno" ? ["run", "-A", script] : ["run", script];
}

/** Parses a runtime name ("deno" or "bun"); throws on anything else. */
export function parseRuntimeName(text: string): RuntimeName {
  if (text === "deno" || text === "bun") return text;
  throw new Error(`unknown runtime "${text}": expected deno or bun`);
}
