/**
 * Probe, not a test: how long does Deno.serve keep a connection whose request head
 * never completes? Opens three kinds of slow connection against a bare Deno.serve on
 * 127.0.0.1 and reports when (if ever) the server hangs up, within PROBE_MS.
 *
 *   deno run -A tests/fuzz/slow_header_probe.ts [seconds] [port]
 *
 * With a port, the probe targets a server already listening on 127.0.0.1:port (e.g. a
 * running raftkv node) instead of starting a bare Deno.serve.
 *
 * Deno 2.9.6 answer: never (no header read timeout, no idle timeout before the first
 * request). Kinds: "idle" connects and sends nothing; "partial" sends a request line
 * and one header, then nothing; "drip" sends one header byte per second.
 *
 * @module
 */

const PROBE_MS = 1000 * Number(Deno.args[0] ?? 45);
const encoder = new TextEncoder();

const targetPort = Deno.args[1] === undefined ? null : Number(Deno.args[1]);
const server = targetPort === null
  ? Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response("hi"))
  : null;
const port = targetPort ?? server?.addr.port ?? 0;

async function probe(kind: "idle" | "partial" | "drip"): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const started = Date.now();
  let closedAfterMs: number | null = null;
  const reading = (async () => {
    const buffer = new Uint8Array(4096);
    try {
      while ((await conn.read(buffer)) !== null) { /* a hang-up is all we wait for */ }
    } catch { /* reset counts as closed */ }
    closedAfterMs = Date.now() - started;
  })();
  const head = encoder.encode("GET / HTTP/1.1\r\nHost: a\r\nX-Slow: " + "a".repeat(1000));
  if (kind === "partial") await conn.write(encoder.encode("GET / HTTP/1.1\r\nHost: a\r\n"));
  let sent = 0;
  while (closedAfterMs === null && Date.now() - started < PROBE_MS) {
    if (kind === "drip" && sent < head.length) {
      await conn.write(head.subarray(sent, sent + 1)).catch(() => {});
      sent++;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  try {
    conn.close();
  } catch { /* closed */ }
  await reading;
  const closed: number | null = closedAfterMs;
  return closed !== null && closed < PROBE_MS
    ? `${kind}: the server hung up after ${closed} ms`
    : `${kind}: still open after ${PROBE_MS} ms (${sent} bytes dripped)`;
}

console.log(`Deno ${Deno.version.deno}: slow request heads, watched for ${PROBE_MS} ms`);
for (const line of await Promise.all([probe("idle"), probe("partial"), probe("drip")])) {
  console.log(line);
}
await server?.shutdown();
