/**
 * Slow-loris clients against a live 3-node cluster. A drip-fed body is cut off at
 * BODY_READ_TIMEOUT_MS. Drip-fed *headers* cannot be bounded from the app (Deno.serve
 * has no header read timeout; see slow_header_probe.ts), so the test shows instead that
 * hundreds of such connections cost little and do not stop other clients being served.
 *
 * @module
 */

import assert from "node:assert/strict";
import { BODY_READ_TIMEOUT_MS } from "../../src/http/body.ts";
import { TestCluster } from "../integration/harness.ts";
import {
  ADMIN_TOKEN,
  assertAllAlive,
  AUTH_FLAGS,
  httpPort,
  RW_TOKEN,
  unexpectedHttpErrors,
} from "./live_checks.ts";
import { bodyText, isJsonError, readResponse, writeAll } from "./raw_http.ts";

/** Slow connections held open at once in the flood test. */
const SLOW_CONNECTIONS = 500;
/** How long the normal client keeps working while the slow connections drip. */
const FLOOD_DURATION_MS = 6_000;

const encoder = new TextEncoder();

function rssKiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

Deno.test("a body dripped at 1 byte/s is abandoned at the body deadline with a 400 JSON, writing nothing", async () => {
  const cluster = await TestCluster.start(3, AUTH_FLAGS, { token: ADMIN_TOKEN });
  let conn: Deno.Conn | null = null;
  let drip: ReturnType<typeof setInterval> | undefined;
  try {
    const leader = await cluster.leader();
    conn = await Deno.connect({ hostname: "127.0.0.1", port: httpPort(leader) });
    const started = Date.now();
    await writeAll(
      conn,
      encoder.encode(
        `PUT /v1/kv/slow HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${RW_TOKEN}\r\n` +
          "Content-Length: 1000\r\n\r\n",
      ),
    );
    const socket = conn;
    drip = setInterval(() => void socket.write(encoder.encode("a")).catch(() => {}), 1000);
    const outcome = await readResponse(conn, started + BODY_READ_TIMEOUT_MS + 10_000, false);
    const elapsedMs = Date.now() - started;
    console.log(`drip-fed body answered after ${elapsedMs} ms`);
    assert.equal(outcome.kind, "response", JSON.stringify(outcome));
    assert(outcome.kind === "response");
    assert.equal(outcome.response.status, 400, bodyText(outcome.response));
    assert(isJsonError(outcome.response));
    assert.match(bodyText(outcome.response), /did not arrive within 10000 ms/);
    const res = await cluster.fetch(`${leader.httpUrl}/v1/kv/slow`);
    await res.body?.cancel();
    assert.equal(res.status, 404, "nothing was written");
    assert.deepEqual(unexpectedHttpErrors(cluster), []);
  } finally {
    clearInterval(drip);
    conn?.close();
    await cluster.stop();
  }
});

Deno.test("500 connections dripping headers do not stop other clients from being served", async () => {
  const cluster = await TestCluster.start(3, AUTH_FLAGS, { token: ADMIN_TOKEN });
  const slow: Deno.Conn[] = [];
  let drip: ReturnType<typeof setInterval> | undefined;
  try {
    const leader = await cluster.leader();
    const pid = leader.process?.pid;
    assert(pid !== undefined);
    const rssBefore = rssKiB(pid);
    for (let i = 0; i < SLOW_CONNECTIONS; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: httpPort(leader) });
      await writeAll(conn, encoder.encode("PUT /v1/kv/loris HTTP/1.1\r\nHost: t\r\nX-Slow: "));
      slow.push(conn);
    }
    let closedByServer = 0;
    drip = setInterval(() => {
      for (const conn of slow) {
        conn.write(encoder.encode("a")).catch(() => closedByServer++);
      }
    }, 1000);
    // Let every slow connection reach the server's parser before measuring its cost.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const rssSlow = rssKiB(pid);
    const latencies: number[] = [];
    const failures: string[] = [];
    const until = Date.now() + FLOOD_DURATION_MS;
    for (let i = 0; Date.now() < until; i++) {
      const started = performance.now();
      const res = await cluster.fetch(`${leader.httpUrl}/v1/kv/normal-${Math.floor(i / 2) % 10}`, {
        method: i % 2 === 0 ? "PUT" : "GET",
        body: i % 2 === 0 ? `v${i}` : null,
        signal: AbortSignal.timeout(10_000),
      });
      await res.body?.cancel();
      latencies.push(performance.now() - started);
      if (res.status !== 200) failures.push(`#${i}: ${res.status}`);
    }
    const rssAfter = rssKiB(pid);
    latencies.sort((a, b) => a - b);
    const p50 = percentile(latencies, 0.5).toFixed(1);
    const p99 = percentile(latencies, 0.99).toFixed(1);
    const perConnection = ((rssSlow - rssBefore) / SLOW_CONNECTIONS).toFixed(1);
    console.log(
      `${SLOW_CONNECTIONS} header-dripping connections on the leader: ${latencies.length} ` +
        `normal requests in ${FLOOD_DURATION_MS} ms, p50 ${p50} ms, p99 ${p99} ms; ` +
        `leader RSS ${rssBefore} KiB idle, ${rssSlow} KiB with the slow connections ` +
        `(~${perConnection} KiB each), ${rssAfter} KiB after the normal traffic; ` +
        `slow connections closed by the server: ${closedByServer}`,
    );
    assert.deepEqual(failures, []);
    assert(latencies.length > 0);
    await assertAllAlive(cluster);
  } finally {
    clearInterval(drip);
    for (const conn of slow) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
    await cluster.stop();
  }
});
