/**
 * Graceful stop of a leader that has watchers, with real processes. An audit found a
 * SIGTERMed leader with one open SSE watch and one long poll still alive a minute later:
 * its HTTP server, closing, waited for those requests, which never end by themselves,
 * and the node kept its leadership behind a closed port, so every write sent through a
 * follower answered 503 until the watchers left. Now the leader hands off and ends its
 * watch streams first (watchers resume by revision elsewhere), then closes.
 */

import assert from "node:assert/strict";
import { TestCluster, waitFor } from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** The stopped leader must have exited within this long of its SIGTERM. */
const MAX_EXIT_MS = 10_000;
/** A write through a survivor must succeed within this long of the SIGTERM. */
const MAX_WRITE_GAP_MS = 10_000;

Deno.test(
  "SIGTERM to a leader with an open SSE watch and long poll: the watches end, it exits 0, writes go on",
  opts,
  async () => {
    const cluster = await TestCluster.start(3);
    try {
      const leader = await cluster.leader();
      const via = cluster.nodes.find((n) => n !== leader)!;
      const put = await fetch(`${leader.httpUrl}/v1/kv/w/a`, { method: "PUT", body: "1" });
      assert.equal(put.status, 200);
      await put.body?.cancel();

      // An SSE stream that has delivered its first event, and a long poll waiting for one.
      const sse = await fetch(`${leader.httpUrl}/v1/watch?prefix=w/&fromRevision=1`);
      assert.equal(sse.status, 200);
      const reader = sse.body!.getReader();
      const decoder = new TextDecoder();
      let seen = "";
      await waitFor("the SSE stream's first event", async () => {
        const { value, done } = await reader.read();
        if (done) throw new Error("the stream ended before its first event");
        seen += decoder.decode(value, { stream: true });
        return seen.includes("id: ") ? true : undefined;
      });
      // A long poll waiting for an event that never comes. It may still be on its way
      // when the SIGTERM lands; either way it must settle, not hang.
      const longPoll = fetch(`${leader.httpUrl}/v1/watch?prefix=none/&wait=true&timeout=300`)
        .then(async (res) => `${res.status} ${await res.text()}`, (e) => `no answer: ${e}`);

      const child = leader.process!;
      const sigtermAt = performance.now();
      child.kill("SIGTERM");
      const exited = child.status.then((s) => ({ code: s.code, at: performance.now() }));

      // The SSE stream ends (after an error event naming the stop), the long poll answers.
      const sseEnded = (async () => {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return seen;
          seen += decoder.decode(value, { stream: true });
        }
      })();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the stopped leader ran ${MAX_EXIT_MS} ms after SIGTERM`)),
          MAX_EXIT_MS,
        );
      });
      const { code, at } = await Promise.race([exited, deadline]);
      leader.process = null;
      assert.equal(code, 0, `exit code ${code}:\n${cluster.logs(leader)}`);
      console.log(`leader ${leader.id} exited ${(at - sigtermAt).toFixed(0)} ms after SIGTERM`);
      assert.match(await sseEnded, /event: error\n[^\n]*is stopping; resume on another member/);
      const polled = await Promise.race([longPoll, deadline]);
      clearTimeout(timer);
      assert.match(polled, /^(200 |503 |no answer)/, `long poll: ${polled}`);

      // Writes through a survivor go through (a new leader took over by hand-off).
      const wrote = await waitFor("a write through a survivor", async () => {
        const res = await fetch(`${via.httpUrl}/v1/kv/w/b`, { method: "PUT", body: "2" });
        await res.body?.cancel();
        return res.status === 200 ? performance.now() : undefined;
      }, MAX_WRITE_GAP_MS);
      assert.ok(wrote - sigtermAt < MAX_WRITE_GAP_MS);
      assert.match(cluster.logs(leader), /leadership handed off/);
    } finally {
      await cluster.stop();
    }
  },
);
