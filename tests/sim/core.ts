/**
 * Loads the Raft core the simulated nodes run. By default that is `src/raft/raft.ts`;
 * setting `RAFTKV_SIM_CORE` to another directory (e.g. a deliberately broken copy)
 * runs the simulator's nodes on it instead. Tests wrap {@link Core.newRaft} to tamper
 * with one node's core.
 *
 * @module
 */

import type { Raft, RaftConfig } from "../../src/raft/raft.ts";

/** Environment variable naming a directory that holds raft.ts. */
export const CORE_DIR_ENV = "RAFTKV_SIM_CORE";

/** Everything the simulator takes from the core. */
export interface Core {
  /** Where it was loaded from, for reports. */
  dir: string;
  /** Builds one node's core. */
  newRaft(config: RaftConfig): Raft;
}

interface RaftModule {
  Raft: new (config: RaftConfig) => Raft;
}

/** The directory the core is loaded from: `$RAFTKV_SIM_CORE` or `src/raft/`. */
export function coreDir(): string {
  let fromEnv: string | undefined;
  try {
    fromEnv = Deno.env.get(CORE_DIR_ENV);
  } catch {
    fromEnv = undefined; // no env permission: use the default core
  }
  if (fromEnv !== undefined && fromEnv !== "") {
    const abs = fromEnv.startsWith("/") ? fromEnv : `${Deno.cwd()}/${fromEnv}`;
    return abs.endsWith("/") ? abs : abs + "/";
  }
  return new URL("../../src/raft/", import.meta.url).pathname;
}

/** Imports the core from {@link coreDir}. */
export async function loadCore(dir: string = coreDir()): Promise<Core> {
  const raft = await import(new URL("raft.ts", new URL(`file://${dir}`)).href) as RaftModule;
  return { dir, newRaft: (config) => new raft.Raft(config) };
}
