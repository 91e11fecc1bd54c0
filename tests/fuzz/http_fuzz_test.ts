/**
 * A seeded, bounded fuzz pass over the HTTP API of a live 3-node cluster. Known keys
 * are written first under a prefix the fuzzer never names; afterwards every node must
 * be up and healthy, every known key unchanged, membership unchanged, no answer a 500,
 * every app error a JSON `{error:{code,message}}`, and no unexpected failure logged.
 *
 * Replay a run with `FUZZ_SEED=<seed> deno test -A tests/fuzz/http_fuzz_test.ts`;
 * `FUZZ_REQUESTS=<n>` changes the length.
 *
 * @module
 */

import assert from "node:assert/strict";
import { LEADER_HEADER } from "../../src/http/app.ts";
import { TEST_RUNTIME, TestCluster } from "../integration/harness.ts";
import { type FuzzRequest, generateRequest, PROTECTED_PREFIX } from "./http_gen.ts";
import {
  ADMIN_TOKEN,
  assertAllAlive,
  assertKnownKeysIntact,
  assertServesWrites,
  AUTH_FLAGS,
  httpPort,
  RW_TOKEN,
  unexpectedHttpErrors,
  writeKnownKeys,
} from "./live_checks.ts";
import { fuzzSeed, Prng } from "./prng.ts";
import {
  bodyText,
  isJsonError,
  isRuntimeRefusal,
  rawExchange,
  type RawOutcome,
} from "./raw_http.ts";

/** Requests per run. */
const FUZZ_REQUESTS = Number(Deno.env.get("FUZZ_REQUESTS") ?? 3000);
/** Requests in flight at once. */
const FUZZ_CONCURRENCY = 24;
/** The nodes' write deadline (the default --write-timeout-ms): every request must be
 * answered by then (504/503 at worst), plus slack for a loaded machine. */
const ANSWER_DEADLINE_MS = 5_000 + 7_000;
/** How long a stream or a lying body is watched before the fuzzer hangs up on it. */
const HANG_TIMEOUT_MS = 2_000;
/** Statuses the runtime's parser answers malformed requests with, before the app runs. */
const RUNTIME_STATUSES = new Set([400, 405, 413, 414, 431, 505]);
/** 5xx statuses the app may answer on purpose (no leader, unknown write outcome). */
const HONEST_5XX = new Set([503, 504]);

/**
 * Methods Bun's HTTP parser knows (case-sensitively, as RFC 9110 spells them). A request
 * with any other method (`get`, `FOO`) never reaches the app on Bun: Bun hangs up
 * without an answer, where Deno.serve hands it to the app (which answers 404 JSON).
 */
const BUN_KNOWN_METHODS = new Set(
  ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"],
);

/**
 * Whether the node's runtime may hang up on `request` without an answer the client can
 * read: Bun hangs up on methods it does not know, and it never hands a GET's or HEAD's
 * body to the app, so with `Connection: close` it closes with that body unread, and the
 * kernel's reset may destroy the answer before the client reads it.
 */
function runtimeMayHangUp(request: FuzzRequest): boolean {
  if (TEST_RUNTIME !== "bun") return false;
  if (!BUN_KNOWN_METHODS.has(request.method)) return true;
  return request.hasBody && (request.method === "GET" || request.method === "HEAD");
}

/** A problem with one answer, or null when the answer is acceptable. */
function judge(request: FuzzRequest, outcome: RawOutcome): string | null {
  if (outcome.kind === "timeout") return request.mayHang ? null : "no answer in time";
  if (outcome.kind === "closed") {
    return request.malformed || request.mayHang || runtimeMayHangUp(request)
      ? null
      : "hung up without an answer";
  }
  const res = outcome.response;
  if (res.status >= 500 && !HONEST_5XX.has(res.status)) return `status ${res.status}`;
  const fromApp = res.headers.has(LEADER_HEADER.toLowerCase());
  if (!fromApp) {
    if (isRuntimeRefusal(res, LEADER_HEADER) && RUNTIME_STATUSES.has(res.status)) return null;
    return `status ${res.status} from outside the app: ${bodyText(res).slice(0, 200)}`;
  }
  const bodiless = request.method === "HEAD" || request.headersOnly;
  if (res.status >= 400 && !bodiless && !isJsonError(res)) {
    return `status ${res.status} without a JSON error: ${bodyText(res).slice(0, 200)}`;
  }
  return null;
}

Deno.test("fuzzed HTTP requests never crash a node, never answer 500, never touch other keys", async () => {
  const seed = fuzzSeed();
  console.log(`http fuzz: FUZZ_SEED=${seed}, ${FUZZ_REQUESTS} requests`);
  const cluster = await TestCluster.start(3, AUTH_FLAGS, { token: ADMIN_TOKEN });
  try {
    const known = await writeKnownKeys(cluster, PROTECTED_PREFIX, 20);
    const membersBefore = (await cluster.clusterInfo()).members.map((m) => m.id).sort();
    const random = new Prng(seed);
    const requests = Array.from({ length: FUZZ_REQUESTS }, () => generateRequest(random, RW_TOKEN));
    const ports = cluster.nodes.map(httpPort);
    const failures: string[] = [];
    const statuses = new Map<string, number>();
    let next = 0;
    const started = performance.now();
    const worker = async () => {
      while (next < requests.length) {
        const index = next++;
        const request = requests[index];
        const port = ports[index % ports.length];
        assert(request !== undefined && port !== undefined);
        const outcome = await rawExchange(port, request.bytes, {
          timeoutMs: request.mayHang ? HANG_TIMEOUT_MS : ANSWER_DEADLINE_MS,
          headersOnly: request.headersOnly,
        });
        const label = outcome.kind === "response" ? String(outcome.response.status) : outcome.kind;
        statuses.set(label, (statuses.get(label) ?? 0) + 1);
        const problem = judge(request, outcome);
        if (problem !== null) failures.push(`#${index} ${request.summary}: ${problem}`);
      }
    };
    await Promise.all(Array.from({ length: FUZZ_CONCURRENCY }, worker));
    const seconds = (performance.now() - started) / 1000;
    const tally = [...statuses].sort().map(([s, n]) => `${s}×${n}`).join(" ");
    console.log(`http fuzz: ${requests.length} requests in ${seconds.toFixed(1)} s: ${tally}`);
    if (failures.length > 0) {
      for (const node of cluster.nodes) {
        console.log(`--- ${node.id} log tail ---\n${cluster.logs(node).slice(-3000)}`);
      }
    }
    assert.deepEqual(failures, [], `FUZZ_SEED=${seed}: ${failures.length} bad answers`);
    await assertAllAlive(cluster);
    await assertKnownKeysIntact(cluster, known);
    const membersAfter = (await cluster.clusterInfo()).members.map((m) => m.id).sort();
    assert.deepEqual(membersAfter, membersBefore, "membership changed");
    await assertServesWrites(cluster, "after-fuzz");
    assert.deepEqual(unexpectedHttpErrors(cluster), [], `FUZZ_SEED=${seed}: logged failures`);
  } finally {
    await cluster.stop();
  }
});
