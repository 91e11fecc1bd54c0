import assert from "node:assert/strict";
import { put, setup } from "./helpers.ts";

Deno.test("a key or watch route refuses a query parameter it does not take, naming it", async () => {
  // Each of these was answered as if the parameter were absent: the current value for
  // an etcd-style read at a revision, a key that never expires for a mistyped TTL, every
  // key for a mistyped prefix.
  const { node, app } = setup();
  assert.equal((await put(app, "k", "v")).status, 200);
  const writesBefore = node.writes.length;
  const cases: [string, string, RegExp][] = [
    ["GET", "/v1/kv/k?revision=1", /"revision": this route takes only consistency$/],
    ["HEAD", "/v1/kv/k?rev=1", /.*/],
    ["PUT", "/v1/kv/k?TTL=30", /"TTL": this route takes only ttl, lease$/],
    ["PUT", "/v1/kv/k?ttl=30&ttlSeconds=30", /"ttlSeconds"/],
    ["DELETE", "/v1/kv/k?prefix=k", /"prefix": this route takes no query parameters$/],
    ["GET", "/v1/kv?prefx=a", /"prefx": this route takes only prefix, after, limit, consistency/],
    ["DELETE", "/v1/kv?prefix=k&recursive=true", /"recursive": this route takes only prefix, all/],
    ["GET", "/v1/watch?prefx=a&wait=true", /"prefx": this route takes only prefix, key, /],
    ["GET", "/v1/watch?prefix=a&start_revision=3", /"start_revision"/],
    ["GET", "/v1/kv/k?consistency=stale&x%20y=1", /"x y"/],
  ];
  for (const [method, path, message] of cases) {
    const res = await app.request(path, { method, ...(method === "PUT" ? { body: "v2" } : {}) });
    assert.equal(res.status, 400, `${method} ${path}`);
    if (method === "HEAD") continue;
    const { error } = await res.json();
    assert.equal(error.code, "bad_request");
    assert.match(error.message, /^unknown query parameter /);
    assert.match(error.message, message, `${method} ${path}`);
  }
  assert.equal(node.writes.length, writesBefore, "nothing refused was written");
});

Deno.test("the parameters each key and watch route documents are still taken", async () => {
  const { node, app } = setup();
  assert.equal((await put(app, "k", "v")).status, 200);
  const ok: [string, string][] = [
    ["PUT", "/v1/kv/k?ttl=30"],
    ["GET", "/v1/kv/k?consistency=stale"],
    ["GET", "/v1/kv/k"],
    ["GET", "/v1/kv?prefix=k&after=a&limit=10&consistency=lease"],
    ["GET", "/v1/kv?"],
    ["GET", "/v1/watch?prefix=k&fromRevision=1&skip=0&wait=true&timeout=1"],
    ["GET", "/v1/watch?key=k&fromRevision=1&wait=true&timeout=1"],
    ["DELETE", "/v1/kv/k"],
    ["DELETE", "/v1/kv?prefix=k&all=false"],
  ];
  for (const [method, path] of ok) {
    const res = await app.request(path, { method, ...(method === "PUT" ? { body: "v2" } : {}) });
    assert.equal(res.status, 200, `${method} ${path}: ${await res.clone().text()}`);
    await res.body?.cancel();
  }
  assert.ok(node.writes.length >= 3);
});

Deno.test("lease and transaction routes refuse a query parameter they do not take", async () => {
  const { node, app } = setup();
  const grant = await app.request("/v1/leases", { method: "POST", body: '{"ttlSeconds":10}' });
  assert.equal(grant.status, 201);
  const { id } = await grant.json();
  const writesBefore = node.writes.length;
  const cases: [string, string, string | null, RegExp][] = [
    ["POST", "/v1/leases?ttl=60", '{"ttlSeconds":10}', /"ttl": this route takes no query/],
    ["POST", `/v1/leases/${id}/keepalive?ttl=60`, null, /"ttl": this route takes no query/],
    ["DELETE", `/v1/leases/${id}?force=true`, null, /"force": this route takes no query/],
    [
      "GET",
      `/v1/leases/${id}?keys=false`,
      null,
      /"keys": this route takes only consistency, after, limit$/,
    ],
    ["GET", "/v1/leases?limt=5", null, /"limt": this route takes only after, limit, consistency/],
    ["POST", "/v1/txn?consistancy=stale", '{"success":[]}', /"consistancy": this route takes/],
  ];
  for (const [method, path, body, message] of cases) {
    const res = await app.request(path, { method, ...(body === null ? {} : { body }) });
    assert.equal(res.status, 400, `${method} ${path}`);
    const { error } = await res.json();
    assert.equal(error.code, "bad_request");
    assert.match(error.message, message, `${method} ${path}`);
  }
  assert.equal(node.writes.length, writesBefore, "nothing refused was written");
  const ok: [string, string, string | null][] = [
    ["GET", `/v1/leases/${id}?consistency=stale`, null],
    ["GET", `/v1/leases?limit=5&consistency=lease`, null],
    ["POST", `/v1/leases/${id}/keepalive`, null],
    ["POST", "/v1/txn?consistency=stale", '{"success":[{"get":{"key":"a"}}]}'],
  ];
  for (const [method, path, body] of ok) {
    const res = await app.request(path, { method, ...(body === null ? {} : { body }) });
    assert.equal(res.status, 200, `${method} ${path}: ${await res.clone().text()}`);
  }
});
