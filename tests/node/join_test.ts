/**
 * `--join`'s retry loop on a virtual clock: retries while the cluster is not ready, gives
 * up at its deadline with the last problem, stops at once on a refusal, times out a
 * request that hangs, and keeps asking to be promoted. No real time passes.
 */

import assert from "node:assert/strict";
import {
  JOIN_REQUEST_TIMEOUT_MS,
  JOIN_RETRY_MS,
  JOIN_TIMEOUT_MS,
  joinCluster,
} from "../../src/node/join.ts";
import type { MemberAddress, NodeConfig } from "../../src/node/config.ts";
import type { Logger } from "../../src/node/log.ts";
import { testNodeConfig } from "./test_config.ts";
import { VirtualClock } from "./virtual_clock.ts";

const VIA = "http://n1.test";

function joinerConfig(learner: boolean): NodeConfig {
  return testNodeConfig({
    id: "n4",
    dataDir: "/nonexistent/n4",
    initialCluster: new Map(),
    join: VIA,
    learner,
    peerAddr: "127.0.0.1:7004",
    advertiseHttpUrl: "http://n4.test",
  });
}

const CLUSTER_BODY = JSON.stringify({
  members: [{ id: "n1", peerAddr: "127.0.0.1:7001", httpUrl: VIA }],
});

/** A fake member: `answer` decides each POST to /v1/cluster/members; calls are recorded. */
function fakeMember(
  answer: (attempt: number, signal: AbortSignal) => Promise<Response>,
  promote: (attempt: number) => Response = () => new Response("{}", { status: 200 }),
) {
  const calls: string[] = [];
  let joins = 0;
  let promotions = 0;
  const fetchFn = ((input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    const method = init?.method ?? "GET";
    calls.push(`${method} ${url.slice(VIA.length)}`);
    if (method === "GET" && url === `${VIA}/v1/cluster`) {
      return Promise.resolve(new Response(CLUSTER_BODY, { status: 200 }));
    }
    if (method === "POST" && url === `${VIA}/v1/cluster/members`) {
      return answer(++joins, init!.signal!);
    }
    if (method === "POST" && url === `${VIA}/v1/cluster/members/n4/promote`) {
      return Promise.resolve(promote(++promotions));
    }
    return Promise.resolve(new Response("not found", { status: 404 }));
  }) as typeof fetch;
  return { fetchFn, calls, joins: () => joins, promotions: () => promotions };
}

/** A logger that keeps messages, and can wait for one. */
function recordingLog(): Logger & { lines: string[]; waitFor(msg: string): Promise<void> } {
  const lines: string[] = [];
  const waiting = new Map<string, () => void>();
  return {
    lines,
    log(_level, msg) {
      lines.push(msg);
      waiting.get(msg)?.();
    },
    waitFor(msg) {
      return new Promise((resolve) => waiting.set(msg, resolve));
    },
  };
}

const created = () => Promise.resolve(new Response("{}", { status: 201 }));
const notReady = () =>
  Promise.resolve(
    new Response(JSON.stringify({ error: { code: "unavailable", message: "no leader" } }), {
      status: 503,
    }),
  );

Deno.test("a join retries once a second while the cluster is not ready, then joins", async () => {
  const clock = new VirtualClock();
  const member = fakeMember((attempt) => attempt <= 3 ? notReady() : created());
  const remembered: [string, MemberAddress][] = [];
  const log = recordingLog();
  await clock.run(
    joinCluster(joinerConfig(true), log, (m) => remembered.push(...m), undefined, {
      fetch: member.fetchFn,
      clock,
    }),
  );
  assert.equal(member.joins(), 4);
  assert.equal(clock.monotonicMs(), 3 * JOIN_RETRY_MS);
  assert.equal(log.lines.filter((l) => l.startsWith("join: cluster not ready")).length, 3);
  assert.ok(log.lines.includes("joined the cluster"));
  assert.deepEqual(remembered[0], ["n1", { peerAddr: "127.0.0.1:7001", httpUrl: VIA }]);
  // A learner does not ask to be promoted.
  assert.equal(member.promotions(), 0);
});

Deno.test("a join gives up at its deadline, naming the last problem", async () => {
  const clock = new VirtualClock();
  const member = fakeMember(() => Promise.reject(new TypeError("connection refused")));
  const joining = joinCluster(joinerConfig(true), recordingLog(), () => {}, undefined, {
    fetch: member.fetchFn,
    clock,
  });
  await assert.rejects(
    clock.run(joining),
    (e: Error) => {
      assert.equal(
        e.message,
        `could not join via ${VIA} within ${JOIN_TIMEOUT_MS} ms: TypeError: connection refused`,
      );
      return true;
    },
  );
  assert.equal(member.joins(), JOIN_TIMEOUT_MS / JOIN_RETRY_MS);
  assert.equal(clock.monotonicMs(), JOIN_TIMEOUT_MS);
});

Deno.test("a join refused with a 4xx stops at once, without retrying", async () => {
  const clock = new VirtualClock();
  const member = fakeMember(() => Promise.resolve(new Response("bad node id", { status: 400 })));
  await assert.rejects(
    clock.run(
      joinCluster(joinerConfig(true), recordingLog(), () => {}, undefined, {
        fetch: member.fetchFn,
        clock,
      }),
    ),
    /join refused by http:\/\/n1\.test: 400 bad node id/,
  );
  assert.equal(member.joins(), 1);
  assert.equal(clock.monotonicMs(), 0);
});

Deno.test("a join whose request hangs times it out on the node's clock and tries again", async () => {
  const clock = new VirtualClock();
  const member = fakeMember((attempt, signal) =>
    attempt === 1
      ? new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)))
      : created()
  );
  await clock.run(
    joinCluster(joinerConfig(true), recordingLog(), () => {}, undefined, {
      fetch: member.fetchFn,
      clock,
    }),
  );
  assert.equal(member.joins(), 2);
  assert.equal(clock.monotonicMs(), JOIN_REQUEST_TIMEOUT_MS + JOIN_RETRY_MS);
});

Deno.test("a joining voter asks to be promoted until the leader agrees", async () => {
  const clock = new VirtualClock();
  const catchingUp = new Response("n4 is still catching up", { status: 409 });
  const member = fakeMember(
    created,
    (attempt) => attempt <= 2 ? catchingUp.clone() : new Response("{}", { status: 200 }),
  );
  const log = recordingLog();
  const promoted = log.waitFor("this node is a voter now");
  const joined = joinCluster(joinerConfig(false), log, () => {}, "admin-token", {
    fetch: member.fetchFn,
    clock,
  });
  await clock.run(joined.then(() => promoted));
  assert.equal(member.promotions(), 3);
  assert.equal(clock.monotonicMs(), 3 * JOIN_RETRY_MS);
});
