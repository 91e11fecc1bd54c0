/**
 * Peer transport benchmark between two processes on loopback. Prints figures; asserts
 * nothing. Run: `deno run -A tests/bench/transport_bench.ts [--seconds 5]` (0: latency only).
 *
 * The parent (node n1) spawns a child Deno process (node n2) that counts Appends and
 * answers every Heartbeat with a HeartbeatResponse. Figures:
 * - Append throughput (1 and 64 entries of 100 bytes per message): messages/s, entries/s,
 *   MB/s of entry payload and of wire bytes. A heartbeat sent after the last Append
 *   marks the end: the connection is ordered, so its response means all arrived.
 * - Round trip p50/p99 of heartbeat → heartbeat response, next to a raw TCP echo of a
 *   similar size against the child, measured in the same run.
 *
 * @module
 */

import { cpuUsage } from "node:process";
import { parseArgs } from "node:util";
import { type AppendMessage, type Message, MessageType } from "../../src/raft/messages.ts";
import { TcpTransport } from "../../src/transport/tcp_transport.ts";

const ENTRY_BYTES = 100;
const LATENCY_SAMPLES = 3_000;
const QUEUE_HIGH_WATER = 6_000;

const args = parseArgs({
  args: Deno.args,
  options: {
    role: { type: "string", default: "parent" },
    peer: { type: "string", default: "" },
    seconds: { type: "string", default: "5" },
  },
});

if (args.values.role === "child") await child(args.values.peer);
else await parent(Number(args.values.seconds));

/** Receiver process: counts Appends, answers Heartbeats, runs a raw echo server. */
async function child(parentAddr: string): Promise<void> {
  const t = new TcpTransport({ id: "n2", clusterId: "bench", listenAddr: "127.0.0.1:0" });
  let appends = 0;
  t.onMessage = (m) => {
    if (m.type === MessageType.Append) appends++;
    else if (m.type === MessageType.Heartbeat) {
      t.send({
        type: MessageType.HeartbeatResponse,
        from: "n2",
        to: "n1",
        term: m.term,
        context: m.context,
      });
    }
  };
  await t.start();
  t.setPeers(new Map([["n1", parentAddr]]));
  const echo = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const conn of echo) {
      conn.setNoDelay(true);
      (async () => {
        const buf = new Uint8Array(64 * 1024);
        try {
          for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
            let at = 0;
            while (at < n) at += await conn.write(buf.subarray(at, n));
          }
        } catch {
          // Parent went away.
        }
      })();
    }
  })();
  console.log(`READY ${t.listenAddr} 127.0.0.1:${echo.addr.port}`);
  // Exit when the parent closes our stdin (or kills us).
  for await (const _ of Deno.stdin.readable) { /* drain */ }
  const cpu = cpuUsage();
  console.error(
    `receiver: ${appends} appends, ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU in total ` +
      `(${
        ((cpu.user + cpu.system) / Math.max(1, appends)).toFixed(2)
      } µs per append, handshakes and latency runs included)`,
  );
  Deno.exit(0);
}

function appendMessage(index: number, entriesPerMessage: number, data: Uint8Array): AppendMessage {
  const entries = Array.from({ length: entriesPerMessage }, (_, i) => ({
    term: 1,
    index: index + i,
    type: 0 as const,
    data,
  }));
  return {
    type: MessageType.Append,
    from: "n1",
    to: "n2",
    term: 1,
    prevIndex: index - 1,
    prevTerm: 1,
    commit: index,
    entries,
  };
}

async function parent(seconds: number): Promise<void> {
  const t = new TcpTransport({ id: "n1", clusterId: "bench", listenAddr: "127.0.0.1:0" });
  const waiters = new Map<number, () => void>();
  t.onMessage = (m: Message) => {
    if (m.type === MessageType.HeartbeatResponse) waiters.get(m.context)?.();
  };
  await t.start();
  const childProc = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--role",
      "child",
      "--peer",
      t.listenAddr,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const { peerAddr, echoAddr } = await readReady(childProc.stdout);
    t.setPeers(new Map([["n2", peerAddr]]));
    let context = 1;
    const roundTrip = (): Promise<void> => {
      const c = context++;
      const p = new Promise<void>((resolve) => waiters.set(c, resolve));
      t.send({ type: MessageType.Heartbeat, from: "n1", to: "n2", term: 1, commit: 0, context: c });
      return p.then(() => void waiters.delete(c));
    };
    await roundTrip(); // connected both ways
    const load = Deno.loadavg().map((x) => x.toFixed(1)).join(" ");
    console.log(
      `transport bench: 2 processes on loopback, ${ENTRY_BYTES}-byte entries, ~${seconds}s per run; ` +
        `${navigator.hardwareConcurrency} CPUs, load average ${load}`,
    );
    for (const perMessage of seconds > 0 ? [1, 64] : []) {
      await throughput(t, perMessage, seconds, roundTrip);
    }
    await latency(roundTrip, echoAddr);
  } finally {
    await childProc.stdin.close().catch(() => {});
    try {
      childProc.kill("SIGTERM");
    } catch {
      // Already exited.
    }
    await childProc.status;
    await t.close();
  }
}

async function readReady(
  stdout: ReadableStream<Uint8Array>,
): Promise<{ peerAddr: string; echoAddr: string }> {
  const reader = stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = Date.now() + 15_000;
  while (!text.includes("\n")) {
    if (Date.now() > deadline) throw new Error("child did not start");
    const { value, done } = await reader.read();
    if (done) throw new Error("child exited early");
    text += value;
  }
  reader.releaseLock();
  const [, peerAddr, echoAddr] = text.trim().split(" ");
  if (!peerAddr || !echoAddr) throw new Error(`bad READY line: ${text}`);
  return { peerAddr, echoAddr };
}

async function throughput(
  t: TcpTransport,
  perMessage: number,
  seconds: number,
  roundTrip: () => Promise<void>,
): Promise<void> {
  const data = crypto.getRandomValues(new Uint8Array(ENTRY_BYTES));
  const pool = Array.from(
    { length: 1024 },
    (_, i) => appendMessage(1 + i * perMessage, perMessage, data),
  );
  const before = t.stats();
  const cpuBefore = cpuUsage();
  const started = performance.now();
  const stopAt = started + seconds * 1000;
  let sent = 0;
  while (performance.now() < stopAt) {
    const room = QUEUE_HIGH_WATER - t.stats().queued;
    for (let i = 0; i < room; i++) t.send(pool[sent++ % pool.length]!);
    await new Promise((r) => setTimeout(r, 0));
  }
  await roundTrip(); // ordered channel: every Append before it has arrived
  const elapsedS = (performance.now() - started) / 1000;
  const after = t.stats();
  const cpu = cpuUsage(cpuBefore);
  const cpuPerMessageUs = (cpu.user + cpu.system) / sent;
  const dropped = after.dropped - before.dropped;
  const wireMB = (after.bytesSent - before.bytesSent) / 1e6;
  const payloadMB = (sent * perMessage * ENTRY_BYTES) / 1e6;
  console.log(
    `append x${perMessage} entries: ${fmt(sent / elapsedS)} msg/s, ${
      fmt((sent * perMessage) / elapsedS)
    } entries/s, ` +
      `${(payloadMB / elapsedS).toFixed(1)} MB/s payload, ${
        (wireMB / elapsedS).toFixed(1)
      } MB/s wire ` +
      `(${sent} messages in ${elapsedS.toFixed(2)}s, dropped ${dropped}, ` +
      `sender CPU ${cpuPerMessageUs.toFixed(2)} µs/message)`,
  );
}

async function latency(roundTrip: () => Promise<void>, echoAddr: string): Promise<void> {
  const [hostname, port] = echoAddr.split(":");
  const conn = await Deno.connect({ hostname: hostname ?? "", port: Number(port) });
  conn.setNoDelay(true);
  const ping = new Uint8Array(40); // about a framed heartbeat's size
  const pong = new Uint8Array(40);
  const raw: number[] = [];
  const hb: number[] = [];
  try {
    // Interleave blocks so both see the same machine conditions.
    for (let block = 0; block < 10; block++) {
      for (let i = 0; i < LATENCY_SAMPLES / 10; i++) {
        const t0 = performance.now();
        await conn.write(ping);
        let got = 0;
        while (got < pong.length) {
          const n = await conn.read(pong.subarray(got));
          if (n === null) throw new Error("echo closed");
          got += n;
        }
        raw.push(performance.now() - t0);
      }
      for (let i = 0; i < LATENCY_SAMPLES / 10; i++) {
        const t0 = performance.now();
        await roundTrip();
        hb.push(performance.now() - t0);
      }
    }
  } finally {
    conn.close();
  }
  const p = (xs: number[], q: number) =>
    [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))]!;
  const rawP50 = p(raw, 0.5);
  const hbP50 = p(hb, 0.5);
  console.log(
    `round trip p50: heartbeat ${(hbP50 * 1000).toFixed(0)} µs vs raw TCP echo ${
      (rawP50 * 1000).toFixed(0)
    } µs ` +
      `(ratio ${(hbP50 / rawP50).toFixed(2)}x); p99 ${(p(hb, 0.99) * 1000).toFixed(0)} µs vs ${
        (p(raw, 0.99) * 1000).toFixed(0)
      } µs`,
  );
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}
