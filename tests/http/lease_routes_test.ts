import assert from "node:assert/strict";
import { LEASE_KEYS_PAGE_LIMIT } from "../../src/http/routes/leases.ts";
import { put, setup, SseReader, waitFor } from "./helpers.ts";

function post(
  app: ReturnType<typeof setup>["app"],
  path: string,
  body?: unknown,
): Promise<Response> {
  return Promise.resolve(app.request(path, {
    method: "POST",
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  }));
}

async function errorOf(res: Response): Promise<[number, string, string]> {
  const body = await res.json();
  return [res.status, body.error?.code, body.error?.message];
}

Deno.test("POST /v1/leases grants: 201 {id, ttlSeconds}; decimals are allowed", async () => {
  const { node, app } = setup();
  const res = await post(app, "/v1/leases", { ttlSeconds: 3 });
  assert.equal(res.status, 201);
  assert.deepEqual(await res.json(), { id: "1", ttlSeconds: 3 });
  assert.deepEqual(await (await post(app, "/v1/leases", { ttlSeconds: 2.5 })).json(), {
    id: "2",
    ttlSeconds: 2.5,
  });
  assert.deepEqual(node.writes.map((w) => w.command), [
    { op: "leaseGrant", ttlMs: 3000 },
    { op: "leaseGrant", ttlMs: 2500 },
  ]);
});

Deno.test("a grant below 1.5 × the election timeout, above a day, or malformed is a 400", async () => {
  const { node, app } = setup({ minLeaseTtlMs: 1500 });
  for (
    const body of [{ ttlSeconds: 1.4 }, { ttlSeconds: 86_401 }, { ttlSeconds: "3" }, {}, "nope", {
      ttlSeconds: 3,
      extra: 1,
    }, [3]]
  ) {
    const [status, code, message] = await errorOf(await post(app, "/v1/leases", body));
    assert.equal(status, 400, JSON.stringify(body));
    assert.equal(code, "bad_request");
    assert.match(message, /ttlSeconds/);
  }
  assert.equal((await post(app, "/v1/leases", { ttlSeconds: 1.5 })).status, 201);
  // The minimum follows the node's election timeout.
  const slow = setup({ minLeaseTtlMs: 4500 });
  const [slowStatus, , slowMessage] = await errorOf(
    await post(slow.app, "/v1/leases", { ttlSeconds: 3 }),
  );
  assert.equal(slowStatus, 400);
  assert.match(slowMessage, /between 4\.5/);
  assert.equal(node.writes.length, 1, "nothing written for a refused grant");
});

Deno.test("keepalive answers {id, ttlSeconds, remainingMs}; 404 lease_not_found once gone", async () => {
  const { node, app } = setup();
  await post(app, "/v1/leases", { ttlSeconds: 10 });
  const res = await post(app, "/v1/leases/1/keepalive");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { id: "1", ttlSeconds: 10, remainingMs: 10_000 });
  assert.deepEqual(node.keepalives, ["1"]);
  const [status, code] = await errorOf(await post(app, "/v1/leases/2/keepalive"));
  assert.deepEqual([status, code], [404, "lease_not_found"]);
  const [badStatus, badCode] = await errorOf(await post(app, "/v1/leases/XYZ/keepalive"));
  assert.deepEqual([badStatus, badCode], [400, "bad_request"]);
});

Deno.test("DELETE /v1/leases/{id} revokes and deletes attached keys; again is 404", async () => {
  const { app } = setup();
  await post(app, "/v1/leases", { ttlSeconds: 10 });
  assert.equal((await put(app, "s/a?lease=1", "x")).status, 200);
  assert.equal((await put(app, "s/b?lease=1", "y")).status, 200);
  await put(app, "s/c", "z");
  const res = await app.request("/v1/leases/1", { method: "DELETE" });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { id: "1", revoked: true, deleted: 2, revision: 4 });
  assert.equal((await app.request("/v1/kv/s/a")).status, 404);
  assert.equal((await app.request("/v1/kv/s/c")).status, 200);
  const [status, code] = await errorOf(await app.request("/v1/leases/1", { method: "DELETE" }));
  assert.deepEqual([status, code], [404, "lease_not_found"]);
});

Deno.test("GET /v1/leases/{id} shows remaining time and keys; GET /v1/leases pages", async () => {
  const { node, app } = setup();
  for (let i = 0; i < 3; i++) await post(app, "/v1/leases", { ttlSeconds: 5 });
  await put(app, "k2?lease=2", "v");
  node.nowMs += 1000;
  assert.deepEqual(await (await app.request("/v1/leases/2")).json(), {
    id: "2",
    ttlSeconds: 5,
    remainingMs: 4000,
    keys: ["k2"],
    more: false,
    next: null,
  });
  const [status, code] = await errorOf(await app.request("/v1/leases/7"));
  assert.deepEqual([status, code], [404, "lease_not_found"]);
  const first = await (await app.request("/v1/leases?limit=2")).json();
  assert.deepEqual(first.items.map((l: { id: string }) => l.id), ["1", "2"]);
  assert.equal(first.more, true);
  assert.equal(first.next, "2");
  const rest = await (await app.request(`/v1/leases?limit=2&after=${first.next}`)).json();
  assert.deepEqual(rest, {
    items: [{ id: "3", ttlSeconds: 5, remainingMs: 4000 }],
    more: false,
    next: null,
  });
  for (const query of ["limit=0", "after=-1", "consistency=maybe"]) {
    assert.equal((await app.request(`/v1/leases?${query}`)).status, 400, query);
  }
  assert.equal((await app.request("/v1/leases", { method: "PUT" })).status, 405);
});

Deno.test("GET /v1/leases/{id} pages its keys with limit and after (default and max LEASE_KEYS_PAGE_LIMIT)", async () => {
  const { node, app } = setup();
  await post(app, "/v1/leases", { ttlSeconds: 5 });
  const keys = Array.from({ length: LEASE_KEYS_PAGE_LIMIT + 5 }, (_, i) => `k/${i}`).sort();
  for (const key of keys) await put(app, `${key}?lease=1`, "v");
  await put(app, "other", "v"); // not attached
  // Without ?limit= one page holds LEASE_KEYS_PAGE_LIMIT keys, then `next` continues.
  const first = await (await app.request("/v1/leases/1")).json();
  assert.equal(first.keys.length, LEASE_KEYS_PAGE_LIMIT);
  assert.deepEqual(first.keys, keys.slice(0, LEASE_KEYS_PAGE_LIMIT));
  assert.equal(first.more, true);
  assert.equal(first.next, keys[LEASE_KEYS_PAGE_LIMIT - 1]);
  const rest = await (await app.request(`/v1/leases/1?after=${encodeURIComponent(first.next)}`))
    .json();
  assert.deepEqual(rest.keys, keys.slice(LEASE_KEYS_PAGE_LIMIT));
  assert.deepEqual([rest.more, rest.next], [false, null]);
  // Small pages walk every key exactly once, in key order.
  const seen: string[] = [];
  let after: string | null = null;
  for (let pages = 0;; pages++) {
    assert.ok(pages <= keys.length / 300 + 1, "pages end");
    const query: string = after === null ? "" : `&after=${encodeURIComponent(after)}`;
    const page = await (await app.request(`/v1/leases/1?limit=300${query}`)).json();
    assert.ok(page.keys.length <= 300);
    seen.push(...page.keys);
    if (!page.more) break;
    after = page.next;
  }
  assert.deepEqual(seen, keys);
  // An `after` past every key: an empty last page, as for lists.
  const past = await (await app.request("/v1/leases/1?after=z")).json();
  assert.deepEqual([past.keys, past.more, past.next], [[], false, null]);
  for (
    const query of [
      "limit=0",
      `limit=${LEASE_KEYS_PAGE_LIMIT + 1}`,
      "limit=x",
      "after=%FF",
      "after=a%00b",
      "limit=1&limit=2",
    ]
  ) {
    const [status, code] = await errorOf(await app.request(`/v1/leases/1?${query}`));
    assert.deepEqual([status, code], [400, "bad_request"], query);
  }
  assert.equal(node.writes.length, keys.length + 2, "reads wrote nothing");
});

Deno.test("PUT ?lease= attaches (X-Raftkv-Lease, list item lease); unknown lease 404, nothing written", async () => {
  const { node, app } = setup();
  await post(app, "/v1/leases", { ttlSeconds: 10 });
  assert.equal((await put(app, "a?lease=1", "v")).status, 200);
  const got = await app.request("/v1/kv/a");
  assert.equal(got.headers.get("X-Raftkv-Lease"), "1");
  const list = await (await app.request("/v1/kv?prefix=a")).json();
  assert.equal(list.items[0].lease, "1");
  // A put without lease detaches.
  await put(app, "a", "w");
  assert.equal((await app.request("/v1/kv/a")).headers.get("X-Raftkv-Lease"), null);
  const before = node.revision;
  const [status, code] = await errorOf(await put(app, "b?lease=5", "v"));
  assert.deepEqual([status, code], [404, "lease_not_found"]);
  assert.equal(node.revision, before);
  assert.equal(node.keys.has("b"), false);
});

Deno.test("PUT with both ttl and lease, or a malformed lease id, is a 400 and writes nothing", async () => {
  const { node, app } = setup();
  await post(app, "/v1/leases", { ttlSeconds: 10 });
  const writes = node.writes.length;
  for (const query of ["ttl=5&lease=1", "lease=", "lease=G1", "lease=12345678901234567"]) {
    const [status, code] = await errorOf(await put(app, `k?${query}`, "v"));
    assert.deepEqual([status, code], [400, "bad_request"], query);
  }
  assert.equal(node.writes.length, writes);
});

Deno.test("watch ?key= follows one exact key; key and prefix together are a 400", async () => {
  const { node, app } = setup();
  await post(app, "/v1/leases", { ttlSeconds: 10 });
  const sse = new SseReader(await app.request("/v1/watch?key=job&fromRevision=1"));
  try {
    await waitFor(() => node.activeWatches === 1, "the watch to start");
    await put(app, "jobs/1", "other");
    await put(app, "job?lease=1", "mine");
    await put(app, "job2", "other");
    await app.request("/v1/kv/job", { method: "DELETE" });
    const items = await sse.take(2, (i) => i.event !== undefined);
    const events = items.map((i) => JSON.parse(i.data ?? ""));
    assert.deepEqual(events.map((e) => [e.type, e.key, e.lease]), [
      ["put", "job", "1"],
      ["delete", "job", null],
    ]);
  } finally {
    await sse.cancel();
  }
  const [status, code] = await errorOf(await app.request("/v1/watch?key=a&prefix=a"));
  assert.deepEqual([status, code], [400, "bad_request"]);
  assert.equal((await app.request("/v1/watch?key=")).status, 400);
});
