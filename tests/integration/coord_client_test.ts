/**
 * The client's coordination recipes against real node processes (issue 17): a lock
 * holder killed with kill -9 frees the lock within its TTL plus an election timeout;
 * 20 keepalive loops survive a leader kill and no lease expires early; 8 clients × 15
 * fenced read-modify-write increments under `kv.lock` across a leader kill end at
 * exactly 120 with no two holders at once. Figures are printed.
 */

import assert from "node:assert/strict";
import { TestCluster, waitFor } from "./harness.ts";
import { createClient, type LeaseHandle, type RaftkvClient } from "../../src/client/mod.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const HOLDER = new URL("./lock_holder.ts", import.meta.url).pathname;
/** The node's default election timeout is randomized in [1 s, 2 s): its upper end. */
const ELECTION_TIMEOUT_MS = 2_000;
/** Seed of the increment test's schedule (which increment triggers the kill). */
const SEED = Number(Deno.env.get("COORD_TEST_SEED") ?? "1717");

function clientOf(cluster: TestCluster): RaftkvClient {
  const endpoints = cluster.nodes.filter((n) => n.process).map((n) => n.httpUrl);
  return createClient({ endpoints, timeoutMs: 2_000, retries: 30, backoff: { maxMs: 500 } });
}

Deno.test(
  "a lock holder killed with kill -9 frees the lock within its TTL plus an election timeout",
  opts,
  async () => {
    const cluster = await TestCluster.start(3);
    const ttlSeconds = 3;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        HOLDER,
        "it/kill-lock",
        String(ttlSeconds),
        ...cluster.nodes.map((n) => n.httpUrl),
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let killed = false;
    try {
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const first = await Promise.race([
        reader.read(),
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error("holder did not lock in 20 s")), 20_000)
        ),
      ]);
      const held = JSON.parse(String(first.value).split("\n")[0]!);
      reader.releaseLock();
      const kv = clientOf(cluster);
      // A waiter queues behind the child before it dies.
      const waiting = kv.lock("it/kill-lock", { ttlSeconds });
      await waitFor("the waiter to queue", async () => {
        let n = 0;
        for await (const _ of kv.list("it/kill-lock/")) n++;
        return n === 2 || undefined;
      });
      const killedAt = performance.now();
      child.kill("SIGKILL");
      killed = true;
      await child.status;
      const lock = await waiting;
      const freedMs = performance.now() - killedAt;
      console.log(
        `kill -9 lock: ttl ${ttlSeconds * 1000} ms, freed ${
          freedMs.toFixed(0)
        } ms after the kill ` +
          `(bound ttl + election timeout = ${ttlSeconds * 1000 + ELECTION_TIMEOUT_MS} ms), ` +
          `fencing token ${held.revision} -> ${lock.revision}`,
      );
      // Never early: the holder's last keepalive was at most ttl/3 before the kill.
      assert.ok(freedMs >= (ttlSeconds * 1000 * 2) / 3 - 100, `freed too early: ${freedMs} ms`);
      assert.ok(freedMs <= ttlSeconds * 1000 + ELECTION_TIMEOUT_MS, `freed late: ${freedMs} ms`);
      assert.ok(lock.revision > held.revision);
      await lock.release();
    } finally {
      if (!killed) {
        try {
          child.kill("SIGKILL");
        } catch { /* exited */ }
      }
      await child.status;
      await child.stderr.cancel().catch(() => {});
      await cluster.stop();
    }
  },
);

Deno.test("20 keepalive loops survive a leader kill; no lease expires early", opts, async () => {
  const cluster = await TestCluster.start(3);
  const leases: LeaseHandle[] = [];
  let sampling = true;
  try {
    const kv = clientOf(cluster);
    const ttlSeconds = 4;
    for (let i = 0; i < 20; i++) {
      const lease = await kv.lease(ttlSeconds);
      leases.push(lease);
      await kv.put(`it/ka/${i}`, String(i), { lease });
    }
    // Leases granted and never renewed: they must outlive ttl after their grant.
    const bare: { id: string; grantedAt: number }[] = [];
    for (let i = 0; i < 3; i++) {
      const grantedAt = performance.now();
      const res = await cluster.admin("POST", "/v1/leases", { ttlSeconds });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      bare.push({ id: (res.body as { id: string }).id, grantedAt });
    }
    let minRemainingMs = Infinity;
    const sampler = (async () => {
      while (sampling) {
        for (const lease of leases) minRemainingMs = Math.min(minRemainingMs, lease.remainingMs());
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const leader = await cluster.leader();
    const killedAt = performance.now();
    await cluster.kill(leader);
    const next = await cluster.leader(15_000);
    const electedMs = performance.now() - killedAt;
    // The bare leases are still there just before ttl after their grant...
    const checkAt = bare[0]!.grantedAt + ttlSeconds * 1000 - 500;
    await new Promise((r) => setTimeout(r, Math.max(0, checkAt - performance.now())));
    for (const { id } of bare) {
      const res = await cluster.fetch(`${next.httpUrl}/v1/leases/${id}`);
      await res.body?.cancel();
      assert.equal(res.status, 200, `bare lease ${id} expired before its ttl`);
    }
    // ...and gone later (a leader change does not renew them).
    const goneMs = await waitFor(
      "the bare leases to expire",
      async () => {
        for (const { id } of bare) {
          const res = await cluster.fetch(`${next.httpUrl}/v1/leases/${id}`);
          await res.body?.cancel();
          if (res.status !== 404) return undefined;
        }
        return performance.now() - bare[0]!.grantedAt;
      },
      20_000,
      100,
    );
    // Two more TTLs of keepalives on the new leader.
    await new Promise((r) => setTimeout(r, 2 * ttlSeconds * 1000));
    sampling = false;
    await sampler;
    const lost = await Promise.race([
      Promise.race(leases.map((l) => l.lost.then((x) => `${l.id}: ${x.reason}`))),
      new Promise<null>((r) => setTimeout(r, 0, null)),
    ]);
    assert.equal(lost, null, `a kept lease was lost: ${lost}`);
    const kv2 = clientOf(cluster);
    let keys = 0;
    for await (const item of kv2.list("it/ka/")) {
      keys++;
      assert.ok(leases.some((l) => l.id === item.lease));
    }
    assert.equal(keys, 20);
    console.log(
      `keepalive: 20 leases of ${ttlSeconds} s across a leader kill (new leader after ` +
        `${electedMs.toFixed(0)} ms): none lost, least local time left ${
          minRemainingMs.toFixed(0)
        } ms; ` +
        `3 unrenewed leases lived past ttl - 0.5 s and were gone ${
          goneMs.toFixed(0)
        } ms after grant`,
    );
    assert.ok(minRemainingMs > 0);
  } finally {
    sampling = false;
    await Promise.all(leases.map((l) => l.revoke().catch(() => {})));
    await cluster.stop();
  }
});

Deno.test(
  "8 clients × 15 fenced increments under kv.lock across a leader kill end at exactly 120",
  opts,
  async () => {
    const cluster = await TestCluster.start(3);
    const CLIENTS = 8;
    const PER_CLIENT = 15;
    const deadline = performance.now() + 90_000;
    const intervals: { client: number; token: number; start: number; end: number }[] = [];
    let done = 0;
    let fenced = 0;
    let retriedErrors = 0;
    const killAfter = 20 + (SEED % 60);
    let killed: Promise<void> | null = null;
    try {
      const setup = clientOf(cluster);
      await setup.put("it/counter", "0");
      const worker = async (id: number) => {
        const kv = clientOf(cluster);
        let mine = 0;
        while (mine < PER_CLIENT) {
          if (performance.now() > deadline) {
            throw new Error(
              `client ${id} ran out of time at ${mine}`,
            );
          }
          let lock;
          try {
            lock = await kv.lock("it/counter-lock", { ttlSeconds: 3 });
          } catch (error) {
            retriedErrors++;
            console.log(`client ${id}: lock failed (${(error as Error).message}); again`);
            continue;
          }
          const start = performance.now();
          try {
            const current = await kv.get("it/counter").catch(() => undefined);
            if (current === undefined) {
              retriedErrors++; // a read during the election ran out of retries: go again
              continue;
            }
            const next = String(Number(current?.text()) + 1);
            const { succeeded } = await kv.txn({
              compare: [lock.fence],
              success: [{ put: { key: "it/counter", value: next } }],
            });
            if (succeeded) {
              mine++;
              done++;
              if (done === killAfter) killed = cluster.leader().then((l) => cluster.kill(l));
            } else fenced++;
          } finally {
            const end = performance.now();
            intervals.push({ client: id, token: lock.revision, start, end });
            await lock.release().catch(() => {});
          }
        }
      };
      const started = performance.now();
      await Promise.all(Array.from({ length: CLIENTS }, (_, i) => worker(i)));
      const tookMs = performance.now() - started;
      await killed;
      const final = await clientOf(cluster).get("it/counter");
      intervals.sort((a, b) => a.start - b.start);
      let overlaps = 0;
      for (let i = 1; i < intervals.length; i++) {
        if (intervals[i]!.start < intervals[i - 1]!.end) overlaps++;
        assert.ok(
          intervals[i]!.token > intervals[i - 1]!.token,
          "fencing tokens grow with holders",
        );
      }
      console.log(
        `lock increments (seed ${SEED}): ${CLIENTS}×${PER_CLIENT} -> counter ${final?.text()} in ` +
          `${
            tookMs.toFixed(0)
          } ms, leader killed after increment ${killAfter}, ${intervals.length} ` +
          `holdings, ${overlaps} overlapping, ${fenced} fenced writes, ${retriedErrors} lock calls retried`,
      );
      assert.equal(final?.text(), String(CLIENTS * PER_CLIENT));
      assert.equal(overlaps, 0, "two holders at once");
    } finally {
      await killed;
      await cluster.stop();
    }
  },
);

Deno.test(
  "an election on real nodes: campaign, proclaim, observe, resign hand over",
  opts,
  async () => {
    const cluster = await TestCluster.start(3);
    const controller = new AbortController();
    try {
      const a = clientOf(cluster).election("it/leader", { ttlSeconds: 3 });
      const b = clientOf(cluster).election("it/leader", { ttlSeconds: 3 });
      const seen: (string | null)[] = [];
      const observing = (async () => {
        for await (const leader of a.observe({ signal: controller.signal })) {
          seen.push(leader?.text() ?? null);
        }
      })();
      await waitFor("the first observation", () => seen.length === 1 || undefined);
      const won = await a.campaign("a");
      const bWins = b.campaign("b");
      await a.proclaim("a2");
      assert.equal((await b.leader())?.text(), "a2");
      await a.resign();
      const bLead = await bWins;
      assert.ok(bLead.revision > won.revision);
      await waitFor("b observed", () => seen.at(-1) === "b" || undefined);
      await b.resign();
      await waitFor(
        "no leader observed",
        () => (seen.length > 3 && seen.at(-1) === null) || undefined,
      );
      controller.abort();
      await observing;
      assert.deepEqual(seen, [null, "a", "a2", "b", null]);
    } finally {
      controller.abort();
      await cluster.stop();
    }
  },
);

/** Reads the child's stdout as JSON lines, each awaited with a deadline. */
class JsonLines {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }

  async next(what: string, timeoutMs: number): Promise<Record<string, unknown>> {
    const deadline = performance.now() + timeoutMs;
    while (!this.#buffer.includes("\n")) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const chunk = await Promise.race([
        this.#reader.read(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no ${what} within ${timeoutMs} ms`)),
            Math.max(0, deadline - performance.now()),
          );
        }),
      ]).finally(() => clearTimeout(timer));
      if (chunk.done) throw new Error(`the child ended before ${what}`);
      this.#buffer += chunk.value;
    }
    const end = this.#buffer.indexOf("\n");
    const line = this.#buffer.slice(0, end);
    this.#buffer = this.#buffer.slice(end + 1);
    return JSON.parse(line);
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

Deno.test(
  "a paused lock holder (SIGSTOP past its TTL) is fenced off: its late write fails",
  opts,
  async () => {
    const cluster = await TestCluster.start(3);
    const ttlSeconds = 2;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        HOLDER,
        "it/pause-lock",
        String(ttlSeconds),
        ...cluster.nodes.map((n) => n.httpUrl),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const lines = new JsonLines(child.stdout);
    const writer = child.stdin.getWriter();
    try {
      const held = await lines.next("the lock", 20_000);
      const kv = clientOf(cluster);
      await writer.write(new TextEncoder().encode("write it/fenced first\n"));
      assert.deepEqual(await lines.next("the first write", 10_000), { write: true });
      child.kill("SIGSTOP");
      const pausedAt = performance.now();
      // The paused holder stops renewing: the next waiter gets the lock once its lease expires.
      const next = await kv.lock("it/pause-lock", { ttlSeconds });
      const takenMs = performance.now() - pausedAt;
      await kv.txn({
        compare: [next.fence],
        success: [{ put: { key: "it/fenced", value: "second" } }],
      });
      child.kill("SIGCONT");
      await writer.write(new TextEncoder().encode("write it/fenced stale\n"));
      const answers = [await lines.next("the late write", 10_000)];
      if (!("write" in answers[0]!)) answers.push(await lines.next("the late write", 10_000));
      const late = answers.find((a) => "write" in a);
      console.log(
        `pause: holder ${held.key} (token ${held.revision}) stopped; next holder after ` +
          `${takenMs.toFixed(0)} ms (token ${next.revision}); the resumed holder's write: ` +
          `${JSON.stringify(late)}, ${JSON.stringify(answers.filter((a) => "lost" in a))}`,
      );
      assert.deepEqual(late, { write: false }, "the paused holder's late write was fenced off");
      assert.equal((await kv.get("it/fenced"))?.text(), "second");
      assert.ok(next.revision > Number(held.revision));
      await next.release();
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      await child.status;
      await writer.close().catch(() => {});
      await lines.cancel();
      await cluster.stop();
    }
  },
);
