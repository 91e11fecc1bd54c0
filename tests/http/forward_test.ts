import assert from "node:assert/strict";
import type { Hono } from "hono";
import { createApp } from "../../src/http/app.ts";
import { FakeNode } from "./fake_node.ts";
import { TEST_OPTIONS } from "./helpers.ts";

/** A follower whose injected fetch reaches `leaderApp` in memory, recording requests. */
function cluster(fetchOverride?: typeof fetch) {
  const leader = new FakeNode();
  leader.statusValue = { ...leader.statusValue, id: "n1" };
  const leaderApp = createApp(leader, TEST_OPTIONS);
  const seen: Request[] = [];
  const follower = new FakeNode();
  follower.statusValue = { ...follower.statusValue, id: "n2" };
  follower.follow("n1", "http://leader.test:8080/");
  const inMemory: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    seen.push(request.clone());
    return await leaderApp.fetch(request);
  };
  const fetchFn = fetchOverride ?? inMemory;
  const followerApp = createApp(follower, { ...TEST_OPTIONS, fetch: fetchFn });
  return { leader, follower, followerApp, seen };
}

function putTo(app: Hono, path: string, body: string, headers: Record<string, string> = {}) {
  return Promise.resolve(app.request(`/v1/kv/${path}`, { method: "PUT", body, headers }));
}

Deno.test("a follower forwards a write to the leader and relays its answer", async () => {
  const { leader, follower, followerApp, seen } = cluster();
  const res = await putTo(followerApp, "dir/caf%C3%A9?ttl=5", "hello", {
    "Idempotency-Key": "req-1",
    Authorization: "Bearer t",
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("ETag"), '"1"');
  assert.equal(res.headers.get("X-Raftkv-Leader"), "n1");
  assert.deepEqual(await res.json(), {
    key: "dir/café",
    createRevision: 1,
    modRevision: 1,
    version: 1,
  });
  assert.equal(follower.writes.length, 0);
  assert.equal(leader.writes[0]?.idempotencyKey, "req-1");
  const command = leader.writes[0]?.command;
  assert.ok(command?.op === "put");
  assert.equal(command.ttlMs, 5000);
  const request = seen[0];
  assert.ok(request);
  assert.equal(request.url, "http://leader.test:8080/v1/kv/dir/caf%C3%A9?ttl=5");
  assert.equal(request.method, "PUT");
  assert.equal(request.headers.get("X-Raftkv-Forwarded"), "1");
  assert.equal(request.headers.get("Authorization"), "Bearer t");
  assert.equal(await request.text(), "hello");
});

Deno.test("forwarded compare-and-set keeps If-Match and relays the leader's 412", async () => {
  const { followerApp, seen } = cluster();
  await putTo(followerApp, "k", "v1");
  const lost = await putTo(followerApp, "k", "v2", { "If-Match": '"7"' });
  assert.equal(lost.status, 412);
  assert.equal((await lost.json()).error.code, "precondition_failed");
  assert.equal(seen[1]?.headers.get("If-Match"), '"7"');
  const created = await putTo(followerApp, "new", "x", { "If-None-Match": "*" });
  assert.equal(created.status, 200);
  assert.equal(seen[2]?.headers.get("If-None-Match"), "*");
});

Deno.test("deletes and prefix deletes are forwarded too", async () => {
  const { leader, followerApp } = cluster();
  await putTo(followerApp, "p/a", "1");
  await putTo(followerApp, "p/b", "2");
  const one = await followerApp.request("/v1/kv/p/a", { method: "DELETE" });
  assert.equal(one.status, 200);
  const rest = await followerApp.request("/v1/kv?prefix=p/", { method: "DELETE" });
  assert.deepEqual(await rest.json(), { deleted: 1, revision: 4 });
  assert.equal(leader.keys.size, 0);
});

Deno.test("reads are served locally on a follower, not forwarded", async () => {
  const { follower, followerApp, seen } = cluster();
  follower.apply({
    op: "put",
    key: "k",
    value: new TextEncoder().encode("local"),
    ttlMs: null,
    ifModRevision: null,
    createOnly: false,
  });
  const res = await followerApp.request("/v1/kv/k?consistency=stale");
  assert.equal(await res.text(), "local");
  assert.equal(seen.length, 0);
});

Deno.test("input is validated on the follower before anything is forwarded", async () => {
  const { followerApp, seen } = cluster();
  assert.equal((await putTo(followerApp, "k?ttl=0", "v")).status, 400);
  const big = await putTo(followerApp, "k", "x".repeat(2000));
  assert.equal(big.status, 413);
  assert.equal(seen.length, 0);
});

Deno.test("a forwarded request landing on a non-leader answers 503 instead of looping", async () => {
  const { followerApp, seen } = cluster();
  const res = await putTo(followerApp, "k", "v", { "X-Raftkv-Forwarded": "1" });
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("Retry-After"), "1");
  assert.match((await res.json()).error.message, /not the leader/);
  assert.equal(seen.length, 0);
});

Deno.test("two followers that each think the other leads stop after one hop", async () => {
  const a = new FakeNode();
  const b = new FakeNode();
  a.follow("b", "http://b.test");
  b.follow("a", "http://a.test");
  let hops = 0;
  const apps = new Map<string, Hono>();
  const fetchFn: typeof fetch = async (input, init) => {
    hops++;
    const request = new Request(input, init);
    const target = apps.get(new URL(request.url).host);
    assert.ok(target);
    return await target.fetch(request);
  };
  apps.set("a.test", createApp(a, { ...TEST_OPTIONS, fetch: fetchFn }));
  apps.set("b.test", createApp(b, { ...TEST_OPTIONS, fetch: fetchFn }));
  const start = apps.get("a.test");
  assert.ok(start);
  const res = await putTo(start, "k", "v");
  assert.equal(res.status, 503);
  assert.equal(hops, 1);
});

Deno.test("with no leader known a write answers 503 with Retry-After: 1", async () => {
  const { follower, followerApp, seen } = cluster();
  follower.follow(null, null);
  const res = await putTo(followerApp, "k", "v");
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("Retry-After"), "1");
  assert.equal(res.headers.get("X-Raftkv-Leader"), "");
  assert.match((await res.json()).error.message, /knows no leader/);
  assert.equal(seen.length, 0);
});

Deno.test("a known leader without a known HTTP URL: the 503 says what is missing", async () => {
  const { follower, followerApp, seen } = cluster();
  follower.follow("n1", null);
  const res = await putTo(followerApp, "k", "v");
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("Retry-After"), "1");
  const { message } = (await res.json()).error;
  assert.match(message, /leader n1's HTTP URL is unknown to node n2/);
  assert.match(message, /--initial-cluster id=host:port@http:/);
  assert.equal(seen.length, 0);
});

Deno.test("a proxy failure before the body was sent answers 503: never reached", async () => {
  const { followerApp } = cluster(() => Promise.reject(new TypeError("fetch failed")));
  const res = await putTo(followerApp, "k", "v");
  assert.equal(res.status, 503);
  assert.match((await res.json()).error.message, /never sent/);
});

Deno.test("a connect error answers 503 even for a bodiless delete", async () => {
  const refused = new TypeError("fetch failed", {
    cause: new Error("client error (Connect): tcp connect error: Connection refused"),
  });
  const { followerApp } = cluster(() => Promise.reject(refused));
  const res = await followerApp.request("/v1/kv/k", { method: "DELETE" });
  assert.equal(res.status, 503);
  assert.match((await res.json()).error.message, /Connection refused.*never sent/);
});

Deno.test("a proxy failure after the body was sent answers 504 outcome_unknown", async () => {
  const { followerApp } = cluster(async (input, init) => {
    await new Request(input, init).arrayBuffer();
    throw new TypeError("connection closed before message completed");
  });
  const res = await putTo(followerApp, "k", "v");
  assert.equal(res.status, 504);
  const body = await res.json();
  assert.equal(body.error.code, "outcome_unknown");
  assert.match(body.error.message, /was sent to the leader.*may or may not/);
});

Deno.test("a leader that does not answer within requestTimeoutMs gives 504", async () => {
  const hang: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    await request.arrayBuffer();
    return await new Promise<Response>((_, reject) => {
      request.signal.addEventListener("abort", () => reject(request.signal.reason));
    });
  };
  const follower = new FakeNode();
  follower.follow("n1", "http://leader.test");
  const app = createApp(follower, { ...TEST_OPTIONS, requestTimeoutMs: 20, fetch: hang });
  const res = await putTo(app, "k", "v");
  assert.equal(res.status, 504);
});

Deno.test("forwarding over real sockets reaches a leader served on 127.0.0.1", async () => {
  const leader = new FakeNode();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    createApp(leader, TEST_OPTIONS).fetch,
  );
  try {
    const follower = new FakeNode();
    follower.follow("n1", `http://127.0.0.1:${server.addr.port}`);
    const app = createApp(follower, TEST_OPTIONS);
    const res = await putTo(app, "real", "bytes");
    assert.equal(res.status, 200);
    assert.equal((await res.json()).modRevision, 1);
    assert.equal(new TextDecoder().decode(leader.keys.get("real")?.value), "bytes");
  } finally {
    await server.shutdown();
  }
});

Deno.test("forwarding to a closed port answers 503 with the write never sent", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const follower = new FakeNode();
  follower.follow("n1", `http://127.0.0.1:${port}`);
  const res = await putTo(createApp(follower, TEST_OPTIONS), "k", "v");
  assert.equal(res.status, 503);
  assert.match((await res.json()).error.message, /never sent/);
});
