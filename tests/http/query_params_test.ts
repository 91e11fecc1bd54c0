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
