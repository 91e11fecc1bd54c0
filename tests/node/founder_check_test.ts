/**
 * A founding voter with an empty data directory refuses to start when the running
 * cluster's leader credits it with entries beyond the bootstrap, and starts as before
 * otherwise: nobody answers (a real founding), it was only listed (a late first start),
 * an answer hangs (bounded wait on the node's clock), or another cluster answers.
 */

import assert from "node:assert/strict";
import {
  FOUNDER_CHECK_TIMEOUT_MS,
  readAnswer,
  refuseWipedFounder,
} from "../../src/node/founder_check.ts";
import type { NodeConfig } from "../../src/node/config.ts";
import { silentLogger } from "../../src/node/log.ts";
import { testNodeConfig } from "./test_config.ts";
import { VirtualClock } from "./virtual_clock.ts";

function founder(httpUrls = true): NodeConfig {
  const ids = ["n1", "n2", "n3"];
  return testNodeConfig({
    id: "n3",
    dataDir: "/nonexistent/n3",
    initialCluster: new Map(
      ids.map((id) => [id, {
        peerAddr: `127.0.0.1:700${id.slice(1)}`,
        httpUrl: httpUrls ? `http://${id}.test` : null,
      }]),
    ),
  });
}

/** `GET /v1/cluster` as leader n1 answers it, crediting n3 with `match`. */
function clusterBody(match: number | null, clusterId = "raftkv"): string {
  return JSON.stringify({
    clusterId,
    self: "n1",
    leader: "n1",
    term: 2,
    commitIndex: 25,
    members: [
      { id: "n1", role: "voter", matchIndex: 25 },
      { id: "n2", role: "voter", matchIndex: 25 },
      { id: "n3", role: "voter", matchIndex: match },
    ],
  });
}

/** A fetch where each founder's URL gets `answers[host]` (a refused connection if absent). */
function founders(
  answers: Record<string, (signal: AbortSignal) => Promise<Response>>,
): { fetchFn: typeof fetch; asked: string[] } {
  const asked: string[] = [];
  const fetchFn = ((input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    asked.push(`${url.host}${url.pathname}`);
    const answer = answers[url.host];
    return answer ? answer(init!.signal!) : Promise.reject(new TypeError("connection refused"));
  }) as typeof fetch;
  return { fetchFn, asked };
}

const ok = (body: string) => () => Promise.resolve(new Response(body, { status: 200 }));

Deno.test("a wiped founder the leader credits with entries refuses to start, naming the fix", async () => {
  const clock = new VirtualClock();
  const { fetchFn, asked } = founders({ "n1.test": ok(clusterBody(25)) });
  await assert.rejects(
    clock.run(refuseWipedFounder(founder(), silentLogger, { fetch: fetchFn, clock })),
    (e: Error) => {
      assert.match(e.message, /node n3 has an empty data directory/);
      assert.match(e.message, /leader n1 counts it as holding index 25/);
      assert.match(e.message, /its data was lost/);
      assert.match(e.message, /DELETE \/v1\/cluster\/members\/n3\) and add it again/);
      assert.match(e.message, /--join/);
      return true;
    },
  );
  assert.deepEqual(asked.sort(), ["n1.test/v1/cluster", "n2.test/v1/cluster"]);
});

Deno.test("at a real founding nobody answers, and the founder starts at once", async () => {
  const clock = new VirtualClock();
  const { fetchFn, asked } = founders({});
  await clock.run(refuseWipedFounder(founder(), silentLogger, { fetch: fetchFn, clock }));
  assert.equal(asked.length, 2);
  assert.equal(clock.monotonicMs(), 0);
});

Deno.test("a founder started late for the first time (credited with nothing) starts", async () => {
  for (const match of [0, 3, null]) {
    const clock = new VirtualClock();
    const { fetchFn } = founders({ "n1.test": ok(clusterBody(match)) });
    await clock.run(refuseWipedFounder(founder(), silentLogger, { fetch: fetchFn, clock }));
  }
});

Deno.test("a founder whose peers hang waits no longer than the check's bound", async () => {
  const clock = new VirtualClock();
  const hang = (signal: AbortSignal) =>
    new Promise<Response>((_, reject) =>
      signal.addEventListener("abort", () => reject(signal.reason))
    );
  const { fetchFn } = founders({ "n1.test": hang, "n2.test": hang });
  await clock.run(refuseWipedFounder(founder(), silentLogger, { fetch: fetchFn, clock }));
  assert.equal(clock.monotonicMs(), FOUNDER_CHECK_TIMEOUT_MS);
});

Deno.test("one member answering with evidence is enough, whatever the others do", async () => {
  const clock = new VirtualClock();
  const { fetchFn } = founders({
    "n1.test": () => Promise.resolve(new Response("no leader", { status: 503 })),
    "n2.test": ok(clusterBody(10)),
  });
  await assert.rejects(
    clock.run(refuseWipedFounder(founder(), silentLogger, { fetch: fetchFn, clock })),
    /counts it as holding index 10/,
  );
});

Deno.test("another cluster, or members without HTTP URLs, are no evidence", async () => {
  const clock = new VirtualClock();
  const other = founders({ "n1.test": ok(clusterBody(25, "elsewhere")) });
  await clock.run(refuseWipedFounder(founder(), silentLogger, { fetch: other.fetchFn, clock }));
  const unaskable = founders({});
  await clock.run(
    refuseWipedFounder(founder(false), silentLogger, { fetch: unaskable.fetchFn, clock }),
  );
  assert.equal(unaskable.asked.length, 0);
});

Deno.test("only a leader's credit beyond the bootstrap entries counts", () => {
  const config = founder();
  const answer = (info: object) => readAnswer(config, "n2", info);
  assert.equal(answer(JSON.parse(clusterBody(4))).kind, "acknowledged");
  assert.equal(answer(JSON.parse(clusterBody(3))).kind, "listed"); // the bootstrap only
  const leaderless = { ...JSON.parse(clusterBody(25)), leader: null };
  assert.equal(answer(leaderless).kind, "listed");
  const unlisted = { ...JSON.parse(clusterBody(25)), members: [] };
  assert.equal(answer(unlisted).kind, "silent");
});
