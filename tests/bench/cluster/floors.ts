/**
 * What this machine can do at best, measured in the same run as the systems: the
 * fdatasync latency of the disk, a loopback TCP round trip between two processes, and
 * a hello-world Deno.serve under the same wrk load.
 *
 * @module
 */

import { freePorts, waitFor } from "../../integration/harness.ts";

/** p50 of `samples` (microseconds). */
function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** p50 latency of a 4 KiB append + fdatasync, in microseconds. */
export async function fdatasyncP50Us(dir: string, count = 1000): Promise<number> {
  const file = await Deno.open(`${dir}/fsync-probe`, { write: true, create: true });
  const block = new Uint8Array(4096).fill(7);
  const samples: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const start = performance.now();
      await file.write(block);
      await file.syncData();
      samples.push((performance.now() - start) * 1000);
    }
  } finally {
    file.close();
  }
  return median(samples);
}

const ECHO_SERVER = `
const l = Deno.listen({ hostname: "127.0.0.1", port: Number(Deno.args[0]) });
for await (const c of l) (async () => { const b = new Uint8Array(64);
  for (;;) { const n = await c.read(b); if (n === null) break; await c.write(b.subarray(0, n)); } })();
`;

/** p50 round trip of 16 bytes to an echo server in another process, in microseconds. */
export async function loopbackRttP50Us(count = 5000): Promise<number> {
  const [port] = freePorts(1);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", ECHO_SERVER, String(port)],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const conn = await waitFor(
      "echo server",
      () => Deno.connect({ hostname: "127.0.0.1", port: port! }),
    );
    conn.setNoDelay(true);
    const msg = new Uint8Array(16);
    const buf = new Uint8Array(64);
    const samples: number[] = [];
    for (let i = 0; i < count; i++) {
      const start = performance.now();
      await conn.write(msg);
      let got = 0;
      while (got < msg.length) got += (await conn.read(buf)) ?? msg.length;
      samples.push((performance.now() - start) * 1000);
    }
    conn.close();
    return median(samples);
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
}

const HELLO_SERVER =
  `Deno.serve({ hostname: "127.0.0.1", port: Number(Deno.args[0]), onListen() {} },
  () => new Response("hello"));`;

/**
 * Spawns a hello-world Deno.serve in its own process and returns at once, so the caller
 * can register `stop()` before awaiting `ready`.
 */
export function startHelloServer(): {
  url: string;
  /** The server's process, for its CPU time. */
  pid: number;
  ready: Promise<void>;
  stop: () => Promise<void>;
} {
  const [port] = freePorts(1);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", HELLO_SERVER, String(port)],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  const ready = waitFor("hello server", async () => {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await res.body?.cancel();
    return res.ok ? true : undefined;
  }).then(() => {});
  return {
    url,
    pid: child.pid,
    ready,
    async stop() {
      child.kill("SIGKILL");
      await child.status;
    },
  };
}

/** Resident set size of a process in MiB, from /proc. */
export async function rssMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? "0");
  return kb / 1024;
}
