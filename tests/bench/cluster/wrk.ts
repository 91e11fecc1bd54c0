/**
 * Runs wrk with the shared Lua load generator and parses its result line.
 *
 * @module
 */

const SCRIPT = new URL("./load.lua", import.meta.url).pathname;

/** One wrk run's figures. */
export interface WrkResult {
  requests: number;
  durationUs: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  meanUs: number;
  errConnect: number;
  errRead: number;
  errWrite: number;
  errStatus: number;
  errTimeout: number;
  /** Successful requests per second. */
  opsPerSec: number;
}

/** Options of one run. */
export interface WrkRun {
  url: string;
  system: "raftkv" | "etcd2" | "etcd3";
  op: "put" | "get" | "stale" | "mix" | "txn";
  connections: number;
  seconds: number;
  keyspace?: number;
  readKeys?: number;
  /** Stops wrk early (SIGTERM) when aborted. */
  signal?: AbortSignal;
}

/** Runs wrk once. Throws when wrk prints no result. */
export async function runWrk(run: WrkRun): Promise<WrkResult> {
  const threads = Math.min(2, run.connections);
  const out = await new Deno.Command("wrk", {
    args: [
      `-t${threads}`,
      `-c${run.connections}`,
      `-d${run.seconds}s`,
      "--timeout",
      "10s",
      "-s",
      SCRIPT,
      run.url,
      "--",
      run.system,
      run.op,
      String(run.keyspace ?? 100_000),
      String(run.readKeys ?? 10_000),
    ],
    stdout: "piped",
    stderr: "piped",
    ...(run.signal ? { signal: run.signal } : {}),
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const line = text.split("\n").find((l) => l.startsWith("RESULT "));
  if (!line) {
    throw new Error(`wrk printed no result: ${text}\n${new TextDecoder().decode(out.stderr)}`);
  }
  const r = JSON.parse(line.slice("RESULT ".length)) as Omit<WrkResult, "opsPerSec">;
  const ok = r.requests - r.errStatus;
  return { ...r, opsPerSec: ok / (r.durationUs / 1e6) };
}
